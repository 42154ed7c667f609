import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@cairn/testing';
import { createDataSource, migrateUp } from '../src/data-source';

const SCRIPT = path.resolve(__dirname, '../../../deploy/sql/create-service-role.sql');
const INSUFFICIENT_PRIVILEGE = '42501';

class CreateRuns1700000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE runs (id serial PRIMARY KEY, name text NOT NULL)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE runs');
  }
}

class CreateModels1700000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE models (id serial PRIMARY KEY, name text NOT NULL)');
    await q.query(`INSERT INTO models (name) VALUES ('secret-model')`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE models');
  }
}

class CreateAlerts1700000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE alerts (id serial PRIMARY KEY)');
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE alerts');
  }
}

interface PsqlResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the script through psql, as a DBA would; resolves with psql's exit status. */
function runScript(url: string, vars: Record<string, string>): Promise<PsqlResult> {
  const args = ['--no-psqlrc', '-v', 'ON_ERROR_STOP=1'];
  for (const [name, value] of Object.entries(vars)) args.push('-v', `${name}=${value}`);
  args.push('-f', SCRIPT, '-d', url);
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      args,
      { timeout: 60_000, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } },
      (err, stdout, stderr) => {
        if (!err) return resolve({ status: 0, stdout, stderr });
        if (typeof err.code === 'number') return resolve({ status: err.code, stdout, stderr });
        reject(new Error(`could not run psql (is postgresql-client installed?): ${err.message}\n${stderr}`));
      },
    );
  });
}

async function applyScript(url: string, vars: Record<string, string>): Promise<PsqlResult> {
  const result = await runScript(url, vars);
  if (result.status !== 0) throw new Error(`psql exited with ${result.status}:\n${result.stderr}`);
  return result;
}

function urlAs(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('per-service database roles (deploy/sql/create-service-role.sql)', () => {
  // Roles are global to the cluster, databases are not: a suffix keeps runs apart.
  const suffix = randomBytes(4).toString('hex');
  const roles = {
    tracking: `cairn_tracking_${suffix}`,
    registry: `cairn_registry_${suffix}`,
    monitor: `cairn_monitor_${suffix}`,
    // The default name, cairn_<service>, for a service named after the suffix.
    defaulted: `cairn_svc_${suffix}`,
    dba: `cairn_dba_${suffix}`,
  };
  // Quotes and spaces must survive psql's :'password' interpolation.
  const passwords = {
    tracking: `tr'ack "ing ${suffix}`,
    registry: `reg-${suffix}`,
    monitor: `mon-${suffix}`,
    dba: `dba-${suffix}`,
  };
  let db: TestDatabase;
  const dataSources: DataSource[] = [];

  async function serviceDataSource(
    service: 'tracking' | 'registry' | 'monitor',
    migrations: Array<new () => MigrationInterface>,
  ): Promise<DataSource> {
    const ds = createDataSource({
      url: urlAs(db.url, roles[service], passwords[service]),
      schema: service,
      service,
      migrations,
      poolMax: 2,
    });
    await ds.initialize();
    dataSources.push(ds);
    return ds;
  }

  const asTracking = <T>(fn: (c: Client) => Promise<T>) =>
    withClient(urlAs(db.url, roles.tracking, passwords.tracking), fn);
  const asAdmin = <T>(fn: (c: Client) => Promise<T>) => withClient(db.url, fn);

  beforeAll(async () => {
    db = await createTestDatabase('roles');
    await applyScript(db.url, { service: 'tracking', role: roles.tracking, password: passwords.tracking });
    await applyScript(db.url, { service: 'registry', role: roles.registry, password: passwords.registry });
  }, 60_000);

  afterAll(async () => {
    for (const ds of dataSources) if (ds.isInitialized) await ds.destroy();
    if (!db) return;
    const all = Object.values(roles);
    const existing = async (c: Client) =>
      (
        await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [all])
      ).rows.map((r) => r.rolname);
    // DROP OWNED works per database (plus shared objects); the roles own objects only in this one.
    await asAdmin(async (c) => {
      const names = await existing(c);
      if (names.length) await c.query(`DROP OWNED BY ${names.map((n) => c.escapeIdentifier(n)).join(', ')}`);
    });
    await db.drop();
    const admin = new URL(db.url);
    admin.pathname = '/postgres';
    await withClient(admin.toString(), async (c) => {
      const names = new Set(await existing(c));
      // Service roles first: the DBA granted itself membership in the one it created.
      for (const name of all) if (names.has(name)) await c.query(`DROP ROLE ${c.escapeIdentifier(name)}`);
    });
  }, 60_000);

  it('creates a plain login role that owns its schema, with search_path set to it', async () => {
    const role = await asAdmin(
      async (c) =>
        (
          await c.query<Record<string, boolean | string>>(
            `SELECT r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
                  pg_get_userbyid(n.nspowner) AS schema_owner,
                  has_database_privilege(r.rolname, current_database(), 'CONNECT') AS can_connect,
                  has_database_privilege(r.rolname, current_database(), 'CREATE') AS can_create_schemas,
                  has_schema_privilege(r.rolname, 'public', 'CREATE') AS can_create_in_public,
                  has_schema_privilege(r.rolname, 'registry', 'USAGE') AS can_use_registry
             FROM pg_roles r, pg_namespace n
            WHERE r.rolname = $1 AND n.nspname = 'tracking'`,
            [roles.tracking],
          )
        ).rows[0],
    );
    expect(role).toEqual({
      rolcanlogin: true,
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
      schema_owner: roles.tracking,
      can_connect: true,
      can_create_schemas: false,
      can_create_in_public: false,
      can_use_registry: false,
    });
    // A plain connection, without the search_path option the services pass, lands in the schema.
    const session = await asTracking(
      async (c) => (await c.query('SELECT current_user, current_schema()')).rows[0],
    );
    expect(session).toEqual({ current_user: roles.tracking, current_schema: 'tracking' });
  });

  it('lets the service role apply its migrations in its own schema', async () => {
    const ds = await serviceDataSource('tracking', [CreateRuns1700000000000]);
    expect(await migrateUp(ds, 'tracking')).toEqual(['CreateRuns1700000000000']);
    await ds.query(`INSERT INTO runs (name) VALUES ('first')`);
    const tables = await asAdmin(
      async (c) =>
        (
          await c.query<{ tablename: string; tableowner: string }>(
            `SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'tracking' ORDER BY tablename`,
          )
        ).rows,
    );
    expect(tables).toEqual([
      { tablename: 'runs', tableowner: roles.tracking },
      { tablename: 'schema_migrations', tableowner: roles.tracking },
    ]);
  });

  it('is harmless to run again', async () => {
    await applyScript(db.url, { service: 'tracking', role: roles.tracking, password: passwords.tracking });
    await applyScript(db.url, { service: 'registry', role: roles.registry, password: passwords.registry });
    const rows = await asTracking(
      async (c) => (await c.query<{ name: string }>('SELECT name FROM runs')).rows,
    );
    expect(rows).toEqual([{ name: 'first' }]);
    const ds = await serviceDataSource('tracking', [CreateRuns1700000000000]);
    expect(await migrateUp(ds, 'tracking')).toEqual([]);
    expect(await ds.showMigrations()).toBe(false);
  });

  it("denies the role the other services' schemas and schema public", async () => {
    const registry = await serviceDataSource('registry', [CreateModels1700000000000]);
    expect(await migrateUp(registry, 'registry')).toEqual(['CreateModels1700000000000']);

    await asTracking(async (c) => {
      await expect(c.query('SELECT * FROM registry.models')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
      await expect(c.query('CREATE TABLE registry.stolen (id int)')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
      await expect(c.query('CREATE TABLE public.stray (id int)')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
      await expect(c.query('CREATE SCHEMA rogue')).rejects.toMatchObject({ code: INSUFFICIENT_PRIVILEGE });
      // And the other way round.
      await expect(c.query('GRANT USAGE ON SCHEMA registry TO CURRENT_USER')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
    });
    await withClient(urlAs(db.url, roles.registry, passwords.registry), async (c) => {
      await expect(c.query('SELECT * FROM tracking.runs')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
    });
  });

  it('names the role cairn_<service> when no role is given', async () => {
    const service = `svc_${suffix}`;
    const result = await applyScript(db.url, { service, password: 'defaulted' });
    expect(result.stdout).toContain(`role ${roles.defaulted} owns schema ${service}`);
    const owner = await asAdmin(
      async (c) =>
        (
          await c.query('SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1', [
            service,
          ])
        ).rows[0],
    );
    expect(owner).toEqual({ owner: roles.defaulted });
  });

  it("refuses to hand one service's schema to another role", async () => {
    const result = await runScript(db.url, {
      service: 'registry',
      role: roles.tracking,
      password: passwords.tracking,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(`schema registry is owned by role ${roles.registry}`);
    const owner = await asAdmin(
      async (c) =>
        (
          await c.query(
            `SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'registry'`,
          )
        ).rows[0],
    );
    expect(owner).toEqual({ owner: roles.registry });
  });

  it('rejects missing or malformed arguments before changing anything', async () => {
    const bad = `cairn_bad_${suffix}`;
    const noPassword = await runScript(db.url, { service: 'tracking', role: bad });
    expect(noPassword.status).not.toBe(0);
    expect(noPassword.stderr).toContain('the password is required');
    const badName = await runScript(db.url, { service: 'Tracking; DROP', role: bad, password: 'x' });
    expect(badName.status).not.toBe(0);
    expect(badName.stderr).toContain('must be a lower-case SQL identifier');
    const noService = await runScript(db.url, { password: 'x' });
    expect(noService.status).not.toBe(0);
    expect(noService.stderr).toContain('the schema is required');
    const count = await asAdmin(
      async (c) =>
        (await c.query('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [bad])).rows[0],
    );
    expect(count).toEqual({ n: 0 });
  });

  it('also works when run by a non-superuser database owner with CREATEROLE', async () => {
    await asAdmin(async (c) => {
      await c.query(
        `CREATE ROLE ${c.escapeIdentifier(roles.dba)} LOGIN CREATEROLE PASSWORD ${c.escapeLiteral(passwords.dba)}`,
      );
      await c.query(
        `ALTER DATABASE ${c.escapeIdentifier(db.name)} OWNER TO ${c.escapeIdentifier(roles.dba)}`,
      );
    });
    const dbaUrl = urlAs(db.url, roles.dba, passwords.dba);
    await applyScript(dbaUrl, { service: 'monitor', role: roles.monitor, password: passwords.monitor });
    await applyScript(dbaUrl, { service: 'monitor', role: roles.monitor, password: passwords.monitor });
    const monitor = await serviceDataSource('monitor', [CreateAlerts1700000000000]);
    expect(await migrateUp(monitor, 'monitor')).toEqual(['CreateAlerts1700000000000']);
    await withClient(urlAs(db.url, roles.monitor, passwords.monitor), async (c) => {
      await expect(c.query('SELECT * FROM tracking.runs')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
      await expect(c.query('CREATE TABLE public.stray (id int)')).rejects.toMatchObject({
        code: INSUFFICIENT_PRIVILEGE,
      });
    });
  });
});
