import { credentials } from '@grpc/grpc-js';
import { Client } from 'pg';
import { runMigrationCli } from '@cairn/persistence';
import { systemV1 } from '@cairn/proto';
import { type RunningService, type ServiceBlueprint, startService } from '@cairn/service-runtime';
import { createTestDatabase, freePort, grpcHealthCheck, type TestDatabase, unary } from '@cairn/testing';

/** Class names of a blueprint's migrations, in order: what the schema must record as applied. */
function migrationNames(blueprint: ServiceBlueprint): string[] {
  const list = Array.isArray(blueprint.migrations)
    ? blueprint.migrations
    : Object.values(blueprint.migrations);
  return list.map((m) => (typeof m === 'string' ? m : m.name));
}

/**
 * What every Cairn service must do, checked against its real blueprint on a real Postgres:
 * start to ready in its own schema, serve probes and gRPC health, and migrate down and up.
 */
export function describeServiceContract(blueprint: ServiceBlueprint): void {
  describe(`${blueprint.service} service contract`, () => {
    let db: TestDatabase;
    let svc: RunningService;
    let env: NodeJS.ProcessEnv;

    beforeAll(async () => {
      db = await createTestDatabase(blueprint.service);
      const prefix = `CAIRN_${blueprint.service.toUpperCase()}`;
      env = {
        DATABASE_URL: db.url,
        [`${prefix}_GRPC_PORT`]: String(await freePort()),
        [`${prefix}_HTTP_PORT`]: String(await freePort()),
        CAIRN_BIND_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
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

    it('keeps every table in its own schema', async () => {
      const pg = new Client({ connectionString: db.url });
      await pg.connect();
      const { rows } = await pg.query<{ schema: string }>(
        `SELECT DISTINCT table_schema AS schema FROM information_schema.tables
          WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
      );
      await pg.end();
      expect(rows.map((r) => r.schema)).toEqual([blueprint.service]);
    });

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
