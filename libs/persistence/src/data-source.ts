import { DataSource, type MixedList, type EntitySchema } from 'typeorm';

// TypeORM's own option types use `Function` for entity and migration classes.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type ClassList = MixedList<Function | string>;
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type EntityList = MixedList<Function | string | EntitySchema>;

export interface DataSourceOptions {
  url: string;
  /** The service's own schema; every table, including the migrations table, lives in it. */
  schema: string;
  service: string;
  migrations: ClassList;
  entities?: EntityList;
  poolMax?: number;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** One DataSource per service, bound to that service's schema through search_path. */
export function createDataSource(opts: DataSourceOptions): DataSource {
  if (!IDENTIFIER.test(opts.schema)) throw new Error(`invalid schema name "${opts.schema}"`);
  return new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    entities: opts.entities ?? [],
    migrations: opts.migrations,
    migrationsTableName: 'schema_migrations',
    // Each migration commits on its own so a failure leaves the earlier ones applied and
    // recorded, and a rerun resumes where it stopped.
    migrationsTransactionMode: 'each',
    applicationName: `cairn-${opts.service}`,
    extra: {
      max: opts.poolMax ?? 10,
      options: `-c search_path=${opts.schema}`,
      connectionTimeoutMillis: 5_000,
    },
  });
}

/**
 * Creates the service's schema when it does not exist yet (embedded mode and tests). In
 * production the schema already exists, owned by the service's role (docs/database-roles.md),
 * and the existence check keeps a role without CREATE on the database working.
 */
export async function ensureSchema(ds: DataSource, schema: string): Promise<void> {
  const rows: unknown[] = await ds.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (rows.length === 0) await ds.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
}

/** Applies pending migrations; returns the names of those applied. */
export async function migrateUp(ds: DataSource, schema: string): Promise<string[]> {
  await ensureSchema(ds, schema);
  const applied = await ds.runMigrations({ transaction: 'each' });
  return applied.map((m) => m.name);
}

/** True when every known migration has been applied. */
export async function migrationsApplied(ds: DataSource): Promise<boolean> {
  return !(await ds.showMigrations());
}
