import { randomUUID } from 'node:crypto';
import { credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { IDENTITY_AUDIENCES, type IdentityAudience } from '@cairn/identity';
import { Client } from 'pg';
import { BUS_SCHEMA, type EventBus, type IncomingMessage } from '@cairn/messaging';
import { runMigrationCli } from '@cairn/persistence';
import { systemV1 } from '@cairn/proto';
import { REASON_METADATA_KEY } from '@cairn/rpc';
import {
  EVENT_BUS,
  MessagingRuntime,
  type RunningService,
  type ServiceBlueprint,
  startService,
} from '@cairn/service-runtime';
import {
  createTestDatabase,
  freePort,
  grpcHealthCheck,
  type TestDatabase,
  testIdentity,
  unary,
  waitFor,
} from '@cairn/testing';

/** Class names of a blueprint's migrations, in order: what the schema must record as applied. */
function migrationNames(blueprint: ServiceBlueprint): string[] {
  const list = Array.isArray(blueprint.migrations)
    ? blueprint.migrations
    : Object.values(blueprint.migrations);
  return list.map((m) => (typeof m === 'string' ? m : m.name));
}

/**
 * What every Cairn service must do, checked against its real blueprint on a real Postgres:
 * start to ready in its own schema, serve probes and gRPC health, verify the gateway's identity
 * tokens (unless it brings its own call authenticator), and migrate down and up.
 * `extraEnv` holds settings of the service's own (e.g. where it keeps local files).
 */
export function describeServiceContract(blueprint: ServiceBlueprint, extraEnv: NodeJS.ProcessEnv = {}): void {
  describe(`${blueprint.service} service contract`, () => {
    let db: TestDatabase;
    let svc: RunningService;
    let env: NodeJS.ProcessEnv;
    const gateway = testIdentity();

    beforeAll(async () => {
      db = await createTestDatabase(blueprint.service);
      const prefix = `CAIRN_${blueprint.service.toUpperCase()}`;
      env = {
        DATABASE_URL: db.url,
        [`${prefix}_GRPC_PORT`]: String(await freePort()),
        [`${prefix}_HTTP_PORT`]: String(await freePort()),
        CAIRN_BIND_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        // Both sides of the identity tokens: services verify them, the gateway issues them.
        ...gateway.env,
        ...gateway.signingEnv,
        ...extraEnv,
      };
      svc = await startService(blueprint, env);
    });
    afterAll(async () => {
      await svc?.stop();
      await db?.drop();
    });

    it('starts ready, in its own schema, with every migration applied', async () => {
      const ready = await fetch(`http://127.0.0.1:${svc.httpPort}/readyz`);
      expect(ready.status).toBe(200);
      expect(await grpcHealthCheck(`127.0.0.1:${svc.grpcPort}`)).toBe('SERVING');
      const client = new systemV1.SystemServiceClient(
        `127.0.0.1:${svc.grpcPort}`,
        credentials.createInsecure(),
      );
      const info = await unary<systemV1.GetInfoRequest, systemV1.GetInfoResponse>(
        client.getInfo.bind(client),
      )({});
      client.close();
      expect(info.service).toBe(blueprint.service);
      expect(info.databaseSchema).toBe(blueprint.service);
      expect(info.appliedMigrations).toEqual(migrationNames(blueprint));
    });

    const audience = blueprint.service as IdentityAudience;
    if (!blueprint.callAuthenticator && IDENTITY_AUDIENCES.includes(audience)) {
      it('accepts a gateway identity token addressed to it, and refuses forged, expired or misaddressed ones', async () => {
        const client = new systemV1.SystemServiceClient(
          `127.0.0.1:${svc.grpcPort}`,
          credentials.createInsecure(),
        );
        const getInfo = (md: Metadata) =>
          new Promise<string>((resolve) =>
            client.getInfo({}, md, (err: ServiceError | null) =>
              resolve(err ? `${status[err.code]} ${String(err.metadata.get(REASON_METADATA_KEY)[0])}` : 'OK'),
            ),
          );
        const other = IDENTITY_AUDIENCES.find((a) => a !== audience)!;
        const caller = { principal: 'user:contract', audience };
        try {
          expect(await getInfo(await gateway.metadata(caller))).toBe('OK');
          expect(await getInfo(new Metadata())).toBe('OK');
          expect(await getInfo(await testIdentity().metadata(caller))).toBe(
            'UNAUTHENTICATED IDENTITY_KEY_UNKNOWN',
          );
          expect(
            await getInfo(await gateway.metadata({ ...caller, issuedAt: new Date(Date.now() - 120_000) })),
          ).toBe('UNAUTHENTICATED IDENTITY_TOKEN_EXPIRED');
          expect(await getInfo(await gateway.metadata({ ...caller, audience: other }))).toBe(
            'UNAUTHENTICATED IDENTITY_TOKEN_WRONG_AUDIENCE',
          );
        } finally {
          client.close();
        }
      });
    }

    it('keeps every table in its own schema (the embedded event bus has its own, `bus`)', async () => {
      const pg = new Client({ connectionString: db.url });
      await pg.connect();
      const { rows } = await pg.query<{ schema: string }>(
        `SELECT DISTINCT table_schema AS schema FROM information_schema.tables
          WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
      );
      await pg.end();
      const expected = blueprint.messaging ? [BUS_SCHEMA, blueprint.service] : [blueprint.service];
      expect(rows.map((r) => r.schema).sort()).toEqual(expected.sort());
    });

    const readiness = async () =>
      (await (await fetch(`http://127.0.0.1:${svc.httpPort}/readyz`)).json()) as {
        checks: Record<string, { ok: boolean }>;
      };

    // A service that only consumes (the gateway's event journal) has no topic to publish on.
    if (blueprint.messaging && blueprint.messaging.publishes.length === 0) {
      it('reports its consumers ready', async () => {
        await waitFor('consumers ready', async () =>
          (await readiness()).checks.consumers?.ok ? true : undefined,
        );
        expect((await readiness()).checks['outbox-relay']).toMatchObject({ ok: true });
      });
    }

    if (blueprint.messaging && blueprint.messaging.publishes.length > 0) {
      it('publishes what a unit of work emits through its outbox, and reports its consumers ready', async () => {
        const topic = blueprint.messaging!.publishes[0];
        const runtime = svc.app.get(MessagingRuntime);
        const bus = svc.app.get<EventBus>(EVENT_BUS);
        const got: IncomingMessage[] = [];
        const sub = await bus.subscribe({
          groupId: `contract-${randomUUID()}`,
          topics: [topic],
          handleBatch: async (b) => {
            got.push(...b.messages);
          },
        });
        try {
          const id = randomUUID();
          await runtime.unitOfWork().run(async (tx) => {
            tx.emit({
              id,
              topic,
              type: 'cairn.test.contract.checked.v1',
              aggregateType: 'contract',
              aggregateId: 'contract-key',
              payload: JSON.stringify({ specversion: '1.0', id, type: 'cairn.test.contract.checked.v1' }),
            });
          });
          await waitFor(
            'the event on the bus',
            () => got.find((m) => m.headers.ce_id === id || m.value.includes(id)),
            30_000,
          );
          const ready = await readiness();
          expect(ready.checks['outbox-relay']).toMatchObject({ ok: true });
          expect(ready.checks.consumers).toMatchObject({ ok: true });
        } finally {
          await sub.stop();
        }
      });
    }

    it('migrates all the way down and back up', async () => {
      const opts = {
        url: db.url,
        schema: blueprint.service,
        service: blueprint.service,
        migrations: blueprint.migrations,
      };
      const quiet = () => undefined;
      for (let i = 0; i < migrationNames(blueprint).length; i++) await runMigrationCli(opts, 'down', quiet);
      const lines: string[] = [];
      await runMigrationCli(opts, 'status', (l) => lines.push(l));
      expect(lines).toEqual(['pending migrations']);
      await runMigrationCli(opts, 'up', (l) => lines.push(l));
      await runMigrationCli(opts, 'status', (l) => lines.push(l));
      expect(lines.slice(1)).toEqual([`applied: ${migrationNames(blueprint).join(', ')}`, 'up to date']);
    });
  });
}
