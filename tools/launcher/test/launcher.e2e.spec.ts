import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { Client } from 'pg';
import { systemV1 } from '@cairn/proto';
import { freePort, grpcHealthCheck, unary, waitFor } from '@cairn/testing';

const ROOT = path.resolve(__dirname, '../../..');
const SERVICES = ['tracking', 'registry', 'orchestrator', 'monitor', 'gateway'] as const;

interface Platform {
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  signal: () => NodeJS.Signals | null;
}

/** Starts the platform exactly as a user does: `npm start`. */
function npmStart(env: NodeJS.ProcessEnv): Platform {
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
async function processesOf(home: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`CAIRN_HOME=${home}`)) pids.push(Number(entry));
  }
  return pids;
}

async function servicePid(home: string, service: string): Promise<number | undefined> {
  for (const pid of await processesOf(home)) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
    if (cmd.includes(`dist/apps/${service}/src/main.js`)) return pid;
  }
  return undefined;
}

describe('npm start (embedded platform)', () => {
  let home: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'cairn-home-'));
    env = { CAIRN_HOME: home, CAIRN_POSTGRES_PORT: String(await freePort()) };
    for (const s of SERVICES) {
      env[`CAIRN_${s.toUpperCase()}_GRPC_PORT`] = String(await freePort());
      env[`CAIRN_${s.toUpperCase()}_HTTP_PORT`] = String(await freePort());
    }
  });
  // A failed test must not leave its platform running into the next one.
  afterEach(async () => {
    for (const pid of await processesOf(home)) process.kill(pid, 'SIGKILL');
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const port = (s: string, kind: 'GRPC' | 'HTTP') => env[`CAIRN_${s.toUpperCase()}_${kind}_PORT`];
  const readyLine = (p: Platform) =>
    p.output.find((l) => /all 5 services ready in [\d.]+ s from npm start/.test(l));

  /** Ctrl-C: SIGINT to every process of the terminal's foreground job. */
  async function stop(p: Platform): Promise<void> {
    process.kill(-p.child.pid!, 'SIGINT');
    // npm itself dies of the SIGINT, as in a terminal; the launcher carries on stopping.
    const code = await p.exited;
    expect(code === 0 || p.signal() === 'SIGINT').toBe(true);
    await waitFor(
      'every process of the platform to exit',
      async () => ((await processesOf(home)).length === 0 ? true : undefined),
      30_000,
    );
    expect(p.output.some((l) => /^cairn\s+\| stopped$/.test(l))).toBe(true);
  }

  it('starts all five services to ready, serves probes and gRPC health, restarts a crashed service, and stops cleanly on SIGINT', async () => {
    const p = npmStart(env);
    await waitFor('the ready banner', () => readyLine(p), 150_000, 100);
    // The banner's lines arrive as separate writes; its last one ends it.
    await waitFor('the end of the banner', () => p.output.find((l) => l.includes('press Ctrl-C to stop')));
    expect(p.output.join('\n')).toContain(`gateway gRPC   localhost:${port('gateway', 'GRPC')}`);
    expect(p.output.join('\n')).toContain(`gateway HTTP   http://localhost:${port('gateway', 'HTTP')}`);
    expect(p.output.join('\n')).toContain(`data           ${home}`);

    expect((await fetch(`http://127.0.0.1:${port('gateway', 'HTTP')}/healthz`)).status).toBe(200);
    for (const s of SERVICES) {
      const ready = await fetch(`http://127.0.0.1:${port(s, 'HTTP')}/readyz`);
      expect({ s, status: ready.status }).toEqual({ s, status: 200 });
      const metrics = await (await fetch(`http://127.0.0.1:${port(s, 'HTTP')}/metrics`)).text();
      expect(metrics).toContain(`nodejs_heap_size_total_bytes{service="${s}"}`);
      expect({ s, health: await grpcHealthCheck(`127.0.0.1:${port(s, 'GRPC')}`) }).toEqual({
        s,
        health: 'SERVING',
      });
    }
    // The registry's generated audit and signing keys live with the platform's data, owner-only.
    const auditKey = await stat(path.join(home, 'keys', 'registry-audit-ed25519.pem'));
    expect(auditKey.mode & 0o077).toBe(0);
    const signingKey = await stat(path.join(home, 'keys', 'registry-signing-ed25519.pem'));
    expect(signingKey.mode & 0o777).toBe(0o600);
    // Logs are JSON, prefixed with the service name.
    expect(p.output.some((l) => /^tracking\s+\| \{"level":/.test(l))).toBe(true);

    // Leave a marker in the embedded database for the restart test below.
    const db = new Client({
      connectionString: `postgresql://postgres:cairn@127.0.0.1:${env.CAIRN_POSTGRES_PORT}/cairn`,
    });
    await db.connect();
    await db
      .query('CREATE TABLE public.e2e_marker (note text); INSERT INTO public.e2e_marker VALUES ($1)', [
        'first run',
      ])
      .catch(async () => {
        await db.query('CREATE TABLE public.e2e_marker (note text)');
        await db.query("INSERT INTO public.e2e_marker VALUES ('first run')");
      });
    await db.end();

    // A crashed service is restarted and becomes ready again.
    const before = await servicePid(home, 'monitor');
    expect(before).toBeDefined();
    process.kill(before!, 'SIGKILL');
    await waitFor('the launcher to report the crash', () =>
      p.output.some((l) => /monitor exited \(SIGKILL\); restarting/.test(l)) ? true : undefined,
    );
    await waitFor(
      'monitor to be ready again',
      async () => {
        const pid = await servicePid(home, 'monitor');
        if (!pid || pid === before) return undefined;
        const res = await fetch(`http://127.0.0.1:${port('monitor', 'HTTP')}/readyz`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      },
      30_000,
      100,
    );

    await stop(p);
    expect(p.output.join('\n')).toMatch(/stopping embedded Postgres[\s\S]*stopped/);
    await expect(stat(path.join(home, 'postgres', 'postmaster.pid'))).rejects.toThrow();
  });

  it('finds the same data on a second start', async () => {
    const p = npmStart(env);
    await waitFor('the ready banner', () => readyLine(p), 150_000, 100);
    const db = new Client({
      connectionString: `postgresql://postgres:cairn@127.0.0.1:${env.CAIRN_POSTGRES_PORT}/cairn`,
    });
    await db.connect();
    const { rows } = await db.query<{ note: string }>('SELECT note FROM public.e2e_marker');
    await db.end();
    expect(rows).toEqual([{ note: 'first run' }]);
    const client = new systemV1.SystemServiceClient(
      `127.0.0.1:${port('registry', 'GRPC')}`,
      credentials.createInsecure(),
    );
    const info = await unary<systemV1.GetInfoRequest, systemV1.GetInfoResponse>(client.getInfo.bind(client))(
      {},
    );
    client.close();
    expect(info.appliedMigrations).toEqual([
      'Baseline1764000000000',
      'MessagingTables1764100000000',
      'RegistryTables1764210000000',
      'AuditLog1764220000000',
      'Webhooks1764230000000',
      'SearchIndexes1764240000000',
    ]);
    await stop(p);
  });

  it('fails fast, naming the setting, when a service is misconfigured', async () => {
    const p = npmStart({ ...env, CAIRN_REGISTRY_GRPC_PORT: 'not-a-port' });
    const code = await p.exited;
    expect(code).toBe(78);
    expect(p.output.join('\n')).toContain(
      'CAIRN_REGISTRY_GRPC_PORT: must be an integer between 1 and 65535 (got "not-a-port")',
    );
    await waitFor(
      'every process of the platform to exit',
      async () => ((await processesOf(home)).length === 0 ? true : undefined),
      30_000,
    );
  });
});
