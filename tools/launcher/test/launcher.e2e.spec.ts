import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { Client } from 'pg';
import { type IdentityAudience, IdentityIssuer } from '@cairn/identity';
import { registryV1, systemV1, trackingV1 } from '@cairn/proto';
import { freePort, grpcFailure, grpcHealthCheck, unary, unaryApi, waitFor } from '@cairn/testing';
import { environmentOf, npmStart, type Platform, processesOf } from './platform';

const SERVICES = ['tracking', 'registry', 'orchestrator', 'monitor', 'gateway'] as const;

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

  /** The gateway identity key the first start generated; the second start must reuse it. */
  let identityKeyId = '';
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
    // So does the gateway's identity key; only the gateway is given it, every service its public key.
    const identityKeyFile = path.join(home, 'keys', 'gateway-identity-ed25519.pem');
    expect((await stat(identityKeyFile)).mode & 0o777).toBe(0o600);
    const issuer = new IdentityIssuer({
      privateKey: createPrivateKey(await readFile(identityKeyFile, 'utf8')),
    });
    expect(p.output.join('\n')).toContain(`gateway identity key ${issuer.keyId} in ${identityKeyFile}`);
    for (const s of SERVICES) {
      const environment = await environmentOf((await servicePid(home, s))!);
      expect({ s, signingKey: environment.get('CAIRN_IDENTITY_SIGNING_KEY') }).toEqual({
        s,
        signingKey: s === 'gateway' ? identityKeyFile : undefined,
      });
      expect(JSON.parse(environment.get('CAIRN_IDENTITY_PUBLIC_KEYS') ?? '{}')).toEqual(
        JSON.parse(issuer.publicKeysSetting()),
      );
    }
    // A token the gateway's key signs is the acting principal at the registry; a bare
    // principal header is not, and a token for the registry is refused by tracking.
    const asCaller = (audience: IdentityAudience, header?: string) => async () => {
      const md = new Metadata();
      if (header) md.set('cairn-principal', header);
      else md.set('cairn-identity', await issuer.issue({ principal: 'user:e2e', roles: [], audience }));
      return md;
    };
    const registryClient = new registryV1.ModelRegistryServiceClient(
      `127.0.0.1:${port('registry', 'GRPC')}`,
      credentials.createInsecure(),
    );
    const registryApi = (md: () => Promise<Metadata>) =>
      unaryApi<registryV1.ModelRegistryServiceServer>(
        registryClient,
        registryV1.ModelRegistryServiceService,
        registryV1,
        md,
      );
    const { registeredModel } = await registryApi(asCaller('registry')).createRegisteredModel({
      name: 'e2e-model',
    });
    expect(registeredModel?.createdBy).toBe('user:e2e');
    expect(
      await grpcFailure(
        registryApi(asCaller('registry', 'user:e2e')).createRegisteredModel({ name: 'bare' }),
      ),
    ).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'PRINCIPAL_REQUIRED' });
    registryClient.close();
    const trackingClient = new trackingV1.ExperimentServiceClient(
      `127.0.0.1:${port('tracking', 'GRPC')}`,
      credentials.createInsecure(),
    );
    const trackingApi = unaryApi<trackingV1.ExperimentServiceServer>(
      trackingClient,
      trackingV1.ExperimentServiceService,
      trackingV1,
      asCaller('registry'),
    );
    expect(await grpcFailure(trackingApi.getExperiment({ experimentId: '0' }))).toMatchObject({
      code: status.UNAUTHENTICATED,
      reason: 'IDENTITY_TOKEN_WRONG_AUDIENCE',
    });
    trackingClient.close();
    identityKeyId = issuer.keyId;

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
    expect(identityKeyId).not.toBe('');
    expect(p.output.join('\n')).toContain(`gateway identity key ${identityKeyId} in `);
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
