import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** A running librdkafka mock cluster (see startKafkaMock). */
export interface KafkaMock {
  /** Bootstrap addresses (`127.0.0.1:port`), one per broker; broker ids are 1..N in this order. */
  brokers: string[];
  /** Creates a topic; use this, not kafkajs admin.createTopics (the mock's controller id 0 names no broker). */
  createTopic(name: string, partitions: number, replication?: number): Promise<void>;
  /** Takes broker `id` (1-based) down: its connections are closed and new ones refused. */
  brokerDown(id: number): Promise<void>;
  /** Brings broker `id` (1-based) back up. */
  brokerUp(id: number): Promise<void>;
  /** Stops the cluster and waits for the launcher process to exit. */
  stop(): Promise<void>;
}

const ENSURE_HINT = 'run: bash tools/scripts/ensure-system-deps.sh';
const START_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const SOURCE = path.join(__dirname, '..', 'native', 'kafka-mock.c');

/** The repository root: the nearest ancestor of this file holding nx.json. */
function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'nx.json'))) return dir;
    if (path.dirname(dir) === dir)
      throw new Error(`cannot find the repository root (nx.json) above ${__dirname}`);
  }
}

async function mtimeMs(file: string): Promise<number | undefined> {
  return stat(file).then(
    (s) => s.mtimeMs,
    () => undefined,
  );
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** Builds the launcher into node_modules/.cache/cairn/ when missing or older than its source. */
async function ensureBinary(): Promise<string> {
  const cacheDir = path.join(repoRoot(), 'node_modules', '.cache', 'cairn');
  const binary = path.join(cacheDir, 'kafka-mock');
  const sourceTime = await mtimeMs(SOURCE);
  if (sourceTime === undefined) throw new Error(`kafka mock launcher source not found: ${SOURCE}`);
  const binaryTime = await mtimeMs(binary);
  if (binaryTime !== undefined && binaryTime >= sourceTime) return binary;

  await mkdir(cacheDir, { recursive: true });
  // Build to a private name and rename into place, so parallel Jest workers never run a half-written binary.
  const tmp = `${binary}.${process.pid}.${Date.now()}.tmp`;
  try {
    const result = await run('gcc', ['-O2', '-o', tmp, SOURCE, '-lrdkafka']).catch((err: unknown) => {
      // Not `instanceof Error`: Node's errors come from another realm under Jest.
      const msg =
        typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err);
      throw new Error(`cannot run gcc to build the Kafka mock launcher (${msg}); ${ENSURE_HINT}`);
    });
    if (result.code !== 0) {
      throw new Error(
        `building the Kafka mock launcher failed (is librdkafka-dev installed? ${ENSURE_HINT}):\n${result.stderr.trim()}`,
      );
    }
    await rename(tmp, binary);
  } finally {
    await rm(tmp, { force: true });
  }
  return binary;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts librdkafka's mock Kafka cluster (a real Kafka-protocol broker set on loopback) with
 * `brokers` brokers (default 3), building its small C launcher on first use.
 */
export async function startKafkaMock(opts: { brokers?: number } = {}): Promise<KafkaMock> {
  const brokerCount = opts.brokers ?? 3;
  if (!Number.isInteger(brokerCount) || brokerCount < 1)
    throw new Error(`invalid broker count: ${brokerCount}`);
  const binary = await ensureBinary();

  const child: ChildProcessWithoutNullStreams = spawn(binary, [String(brokerCount)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  // Writes after the child died would otherwise surface as an unhandled 'error' event.
  child.stdin.on('error', () => undefined);
  // A forgotten stop() must not keep Jest alive: when this process ends, the launcher sees EOF
  // on stdin and exits. Pending waits below hold their own timers, so nothing is cut short.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr])
    (stream as unknown as Partial<Socket>).unref?.();

  // Every stdout line goes to the oldest waiter; the first waiter is the BOOTSTRAP line.
  const waiters: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  let exitError: Error | undefined;
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => waiters.shift()?.resolve(line));
  const failAll = (err: Error): void => {
    exitError ??= err;
    for (const w of waiters.splice(0)) w.reject(exitError);
  };
  child.once('error', (err) =>
    failAll(new Error(`cannot run the Kafka mock launcher ${binary}: ${err.message}`)),
  );
  // 'close' (not 'exit'): stdout is fully read by then, so no answer is lost to the rejection.
  child.once('close', (code, signal) =>
    failAll(new Error(`Kafka mock launcher exited (code ${code}, signal ${signal}): ${stderr.trim()}`)),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const nextLine = (): Promise<string> =>
    exitError
      ? Promise.reject(exitError)
      : new Promise<string>((resolve, reject) => waiters.push({ resolve, reject }));

  let bootstrap: string;
  try {
    bootstrap = await withTimeout(
      nextLine(),
      START_TIMEOUT_MS,
      () => `the Kafka mock BOOTSTRAP line; stderr: ${stderr.trim()}`,
    );
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const match = /^BOOTSTRAP (\S+)$/.exec(bootstrap);
  if (!match) {
    child.kill('SIGKILL');
    throw new Error(
      `unexpected first line from the Kafka mock launcher: ${JSON.stringify(bootstrap)}; stderr: ${stderr.trim()}`,
    );
  }
  const brokers = match[1].split(',');

  // Commands are serialized: each waits for the previous answer before it is written.
  let queue: Promise<unknown> = Promise.resolve();
  const command = (cmd: string): Promise<void> => {
    const result = queue.then(async () => {
      const answer = nextLine();
      child.stdin.write(`${cmd}\n`);
      const line = await withTimeout(
        answer,
        COMMAND_TIMEOUT_MS,
        () => `the Kafka mock's answer to "${cmd}"`,
      ).catch((err: unknown) => {
        // A late answer would be taken for the next command's: the launcher is unusable now.
        child.kill('SIGKILL');
        throw err;
      });
      if (line !== 'OK') throw new Error(`Kafka mock command "${cmd}" failed: ${line.replace(/^ERR /, '')}`);
    });
    queue = result.catch(() => undefined);
    return result;
  };
  const checkId = (id: number): void => {
    if (!Number.isInteger(id) || id < 1 || id > brokerCount)
      throw new Error(`no broker ${id} (brokers are 1..${brokerCount})`);
  };

  return {
    brokers,
    async createTopic(name, partitions, replication = Math.min(3, brokerCount)) {
      if (!/^[A-Za-z0-9._-]{1,249}$/.test(name))
        throw new Error(`invalid topic name: ${JSON.stringify(name)}`);
      await command(`topic ${name} ${partitions} ${replication}`);
    },
    async brokerDown(id) {
      checkId(id);
      await command(`down ${id}`);
    },
    async brokerUp(id) {
      checkId(id);
      await command(`up ${id}`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // EOF on stdin makes the launcher destroy the cluster and exit 0.
      child.stdin.end();
      try {
        await withTimeout(exited, STOP_TIMEOUT_MS, () => 'the Kafka mock launcher to exit');
      } catch {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
