import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '@cairn/config';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '@cairn/embedded-postgres';
import { embeddedIdentity } from './identity-keys';
import { serviceSpecs, type ServiceSpec } from './services';
import { EXIT_CONFIG, SupervisedProcess } from './supervised-process';

/**
 * `npm start`: the whole platform on one machine. Starts an embedded Postgres (data under
 * ./.cairn) unless DATABASE_URL points elsewhere, runs the five services as separate
 * processes, waits until each is ready, restarts a crashed one with backoff, and on Ctrl-C
 * stops the services first (they drain) and Postgres last.
 */

// `npm start` passes the moment it began, so the time printed includes the build.
const started = Number(process.env.CAIRN_LAUNCH_STARTED_AT) || Date.now();
const env = process.env;
// Compiled to dist/tools/launcher/src: the repository is four levels up.
const root = path.resolve(__dirname, '../../../..');
const home = path.resolve(env.CAIRN_HOME || path.join(process.cwd(), '.cairn'));
const pgPort = Number(env.CAIRN_POSTGRES_PORT || 54329);
const readyTimeoutMs = Number(env.CAIRN_READY_TIMEOUT_MS || 120_000);
const READY_POLL_MS = 100;
const color = process.stdout.isTTY && !env.NO_COLOR;
const COLORS = [36, 35, 33, 32, 34, 31];

function say(line: string): void {
  process.stdout.write(`${color ? '\x1b[1m' : ''}cairn${color ? '\x1b[0m' : ''}        | ${line}\n`);
}

function prefixer(name: string, index: number): (line: string) => void {
  const label = name.padEnd(12);
  const tag = color ? `\x1b[${COLORS[index % COLORS.length]}m${label}\x1b[0m` : label;
  return (line) => process.stdout.write(`${tag} | ${line}\n`);
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(false)));
  });
}

async function isReady(spec: ServiceSpec): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${spec.httpPort}/readyz`, {
      signal: AbortSignal.timeout(2_000),
    });
    return res.status === 200;
  } catch {
    return false;
  }
}

class Launcher {
  private pg: EmbeddedPostgresHandle | undefined;
  private readonly procs = new Map<string, SupervisedProcess>();
  private shuttingDown: Promise<void> | undefined;
  private fatal: string | undefined;

  async run(): Promise<void> {
    const specs = serviceSpecs(env, path.join(root, 'dist'));
    const conflicts: string[] = [];
    for (const s of specs) {
      for (const [kind, port] of [
        ['gRPC', s.grpcPort],
        ['HTTP', s.httpPort],
      ] as const) {
        const n = Number(port);
        if (Number.isInteger(n) && n > 0 && n < 65536 && (await portInUse(n))) {
          conflicts.push(
            `${s.name} ${kind} port ${n} (CAIRN_${s.name.toUpperCase()}_${kind === 'gRPC' ? 'GRPC' : 'HTTP'}_PORT)`,
          );
        }
      }
    }
    if (conflicts.length) {
      throw new Error(
        `ports already in use: ${conflicts.join(', ')}. Is Cairn already running? Stop it or set those variables.`,
      );
    }

    // Before any service starts: each needs the gateway's public key to verify its tokens.
    await mkdir(home, { recursive: true });
    const identity = embeddedIdentity(env, home);
    say(
      identity.keyFile
        ? `gateway identity key ${identity.keyId} in ${identity.keyFile}`
        : `gateway identity key ${identity.keyId} from CAIRN_IDENTITY_SIGNING_KEY`,
    );
    if (identity.warning) say(`warning: ${identity.warning}`);

    let databaseUrl = env.DATABASE_URL;
    if (databaseUrl) {
      say(`using the external Postgres from DATABASE_URL`);
    } else {
      const pgLog = prefixer('postgres', 5);
      // Postgres is chatty (initdb especially): show its problems, keep the rest for a failure.
      const pgLines: string[] = [];
      const onLog = (text: string) =>
        text.split('\n').forEach((line) => {
          if (!line) return;
          pgLines.push(line);
          if (pgLines.length > 40) pgLines.shift();
          if (/\b(WARNING|ERROR|FATAL|PANIC)\b/.test(line)) pgLog(line);
        });
      this.pg = await startEmbeddedPostgres({
        dataDir: path.join(home, 'postgres'),
        port: pgPort,
        onLog,
      }).catch((err: unknown) => {
        pgLines.forEach(pgLog);
        throw err;
      });
      await this.pg.createDatabaseIfMissing('cairn');
      databaseUrl = this.pg.url('cairn');
      say(`embedded Postgres on 127.0.0.1:${pgPort}, data in ${this.pg.dataDir}`);
    }
    const artifactRoot = path.join(home, 'artifacts');
    await mkdir(artifactRoot, { recursive: true });

    // The gateway forwards to the services on the ports this launcher gave them.
    // A malformed port is the service's own configuration error to report, not the gateway's.
    const addressOf = (name: string) => {
      const s = specs.find((x) => x.name === name);
      return s && /^\d{1,5}$/.test(s.grpcPort) ? `127.0.0.1:${s.grpcPort}` : undefined;
    };
    const upstreams: Record<string, string> = {};
    for (const name of ['tracking', 'registry']) {
      const setting = `CAIRN_GATEWAY_${name.toUpperCase()}_ADDRESS`;
      const address = env[setting] || addressOf(name);
      if (address) upstreams[setting] = address;
    }

    specs.forEach((spec, i) => {
      const prefix = `CAIRN_${spec.name.toUpperCase()}`;
      const proc: SupervisedProcess = new SupervisedProcess({
        name: spec.name,
        command: process.execPath,
        args: ['--enable-source-maps', spec.entry],
        env: {
          ...env,
          DATABASE_URL: databaseUrl,
          CAIRN_HOME: home,
          CAIRN_ARTIFACT_ROOT: env.CAIRN_ARTIFACT_ROOT || artifactRoot,
          // The registry's generated audit checkpoint key lives with the platform's data.
          CAIRN_REGISTRY_AUDIT_KEY_DIR: env.CAIRN_REGISTRY_AUDIT_KEY_DIR || path.join(home, 'keys'),
          // So does its generated artifact signing key (one registry here), unless one is given.
          ...(env.CAIRN_REGISTRY_SIGNING_KEY
            ? {}
            : {
                CAIRN_REGISTRY_SIGNING_KEY_DIR: env.CAIRN_REGISTRY_SIGNING_KEY_DIR || path.join(home, 'keys'),
              }),
          // The gateway signs identity tokens; every service verifies them.
          ...(spec.name === 'gateway' ? { ...identity.gateway, ...upstreams } : identity.services),
          [`${prefix}_GRPC_PORT`]: spec.grpcPort,
          [`${prefix}_HTTP_PORT`]: spec.httpPort,
        },
        output: prefixer(spec.name, i),
        onUnexpectedExit: (code, signal) => this.onCrash(spec, proc, code, signal),
      });
      this.procs.set(spec.name, proc);
      proc.start();
    });

    const deadline = Date.now() + readyTimeoutMs;
    const pending = new Set(specs);
    while (pending.size && !this.fatal && !this.shuttingDown) {
      for (const spec of [...pending]) if (await isReady(spec)) pending.delete(spec);
      if (!pending.size) break;
      if (Date.now() > deadline) {
        throw new Error(
          `not ready after ${readyTimeoutMs} ms: ${[...pending].map((s) => s.name).join(', ')}`,
        );
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    if (this.fatal) throw new Error(this.fatal);
    if (this.shuttingDown) return;

    const gw = specs.find((s) => s.name === 'gateway')!;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    say(`all ${specs.length} services ready in ${seconds} s from npm start`);
    say(`gateway gRPC   localhost:${gw.grpcPort}`);
    say(`gateway HTTP   http://localhost:${gw.httpPort}`);
    for (const s of specs.filter((x) => x !== gw))
      say(`${s.name.padEnd(14)} gRPC localhost:${s.grpcPort}, health http://localhost:${s.httpPort}/readyz`);
    say(`data           ${home}`);
    say('press Ctrl-C to stop');
  }

  private readonly restarts = new Map<string, { attempts: number; lastStart: number }>();

  private onCrash(
    spec: ServiceSpec,
    proc: SupervisedProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (this.shuttingDown) return;
    if (code === EXIT_CONFIG) {
      this.fatal = `${spec.name} has invalid configuration (see its message above); not restarting it`;
      say(this.fatal);
      void this.shutdown(EXIT_CONFIG);
      return;
    }
    const state = this.restarts.get(spec.name) ?? { attempts: 0, lastStart: started };
    // A service that stayed up for a minute starts its backoff afresh.
    if (Date.now() - state.lastStart > 60_000) state.attempts = 0;
    const delay = Math.min(30_000, 1_000 * 2 ** state.attempts);
    state.attempts += 1;
    this.restarts.set(spec.name, state);
    say(
      `${spec.name} exited (${signal ?? `code ${code}`}); restarting in ${delay / 1000} s (attempt ${state.attempts})`,
    );
    setTimeout(() => {
      if (this.shuttingDown) return;
      state.lastStart = Date.now();
      proc.start();
    }, delay).unref();
  }

  shutdown(exitCode = 0): Promise<void> {
    this.shuttingDown ??= (async () => {
      say('stopping services');
      const grace = Number(env.CAIRN_SHUTDOWN_TIMEOUT_MS || 10_000) + 5_000;
      await Promise.all([...this.procs.values()].map((p) => p.stop(grace)));
      if (this.pg) {
        say('stopping embedded Postgres');
        await this.pg.stop();
      }
      say('stopped');
      process.exit(exitCode);
    })();
    return this.shuttingDown;
  }
}

const launcher = new Launcher();
let signals = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    signals += 1;
    if (signals > 1) {
      say('second signal: still stopping (send SIGKILL to abandon)');
      return;
    }
    void launcher.shutdown(0);
  });
}
launcher.run().catch((err: unknown) => {
  say(`failed to start: ${err instanceof Error ? err.message : String(err)}`);
  void launcher.shutdown(err instanceof ConfigError ? EXIT_CONFIG : 1);
});
