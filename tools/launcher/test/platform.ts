import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from '@cairn/testing';

const ROOT = path.resolve(__dirname, '../../..');

export interface Platform {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  signal: () => NodeJS.Signals | null;
}

/** Starts the platform exactly as a user does: `npm start`. */
export function npmStart(env: NodeJS.ProcessEnv): Platform {
  // Its own process group, like a shell job, so that stop() can do what Ctrl-C does.
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    env: { ...process.env, ...env, NO_COLOR: '1' },
    detached: true,
  });
  const output: string[] = [];
  const collect = (d: Buffer) => output.push(...d.toString().split('\n'));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let signal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, sig) => {
      signal = sig;
      resolve(code);
    }),
  );
  return { child, output, exited, signal: () => signal };
}

/** Every process whose environment carries this CAIRN_HOME: the launcher, services, Postgres. */
export async function processesOf(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`CAIRN_HOME=${home}`)) pids.push(Number(entry));
  }
  return pids;
}

/** The environment a process was started with, by variable name. */
export async function environmentOf(pid: number): Promise<Map<string, string>> {
  const environ = await readFile(`/proc/${pid}/environ`, 'latin1');
  return new Map(
    environ
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
}

const SERVICES = ['tracking', 'registry', 'orchestrator', 'monitor', 'gateway'] as const;

/** A platform started with `npm start` in its own CAIRN_HOME, on free ports. */
export interface PlatformUnderTest {
  platform: Platform;
  /** The environment it was started with (ports: `CAIRN_<SERVICE>_GRPC_PORT` / `_HTTP_PORT`). */
  env: Record<string, string>;
  home: string;
  /** `127.0.0.1:<port>` of the gateway's public gRPC. */
  gatewayAddress: string;
  /** `http://127.0.0.1:<port>` of the gateway's HTTP (MLflow REST). */
  gatewayUrl: string;
  /** The admin API key the gateway printed once on its first start, as a user finds it. */
  adminApiKey(): string;
  /** What Ctrl-C does; then every process of the platform is gone and its home removed. */
  stop(): Promise<void>;
}

/**
 * `npm start` as a user runs it, in a fresh CAIRN_HOME with free ports, resolved once every
 * service is ready (failing at once, with the platform's output, if it exits before).
 */
export async function startPlatform(
  name: string,
  extraEnv: Record<string, string> = {},
  readyTimeoutMs = 240_000,
): Promise<PlatformUnderTest> {
  const home = await mkdtemp(path.join(os.tmpdir(), `cairn-${name}-`));
  const env: Record<string, string> = {
    CAIRN_HOME: home,
    CAIRN_POSTGRES_PORT: String(await freePort()),
    ...extraEnv,
  };
  for (const s of SERVICES) {
    env[`CAIRN_${s.toUpperCase()}_GRPC_PORT`] = String(await freePort());
    env[`CAIRN_${s.toUpperCase()}_HTTP_PORT`] = String(await freePort());
  }
  const platform = npmStart(env);
  const stop = async () => {
    // As Ctrl-C does; a platform that failed to start has already exited.
    if (platform.child.exitCode === null && platform.child.signalCode === null) {
      process.kill(-platform.child.pid!, 'SIGINT');
    }
    await platform.exited;
    await waitFor(
      'every process of the platform to exit',
      async () => ((await processesOf(home)).length === 0 ? true : undefined),
      30_000,
    );
    await rm(home, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitFor(
        'the platform to be ready',
        () => platform.output.find((l) => l.includes('press Ctrl-C to stop')),
        readyTimeoutMs,
        100,
      ),
      platform.exited.then((code) => {
        throw new Error(`npm start exited with ${code}:\n${platform.output.slice(-80).join('\n')}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    platform,
    env,
    home,
    gatewayAddress: `127.0.0.1:${env.CAIRN_GATEWAY_GRPC_PORT}`,
    gatewayUrl: `http://127.0.0.1:${env.CAIRN_GATEWAY_HTTP_PORT}`,
    adminApiKey: () => {
      const line = platform.output.find((l) => l.includes('cairn admin credentials created'));
      return /"adminApiKey":"([^"]+)"/.exec(line ?? '')?.[1] ?? '';
    },
    stop,
  };
}
