import { createDataSource, type DataSourceOptions, migrateUp } from './data-source';

/**
 * `migrate up | down | status` for one service: what the Nx `migrate` target runs in
 * production, where services start with DATABASE_MIGRATE_ON_START=false.
 */
export async function runMigrationCli(
  opts: DataSourceOptions,
  command: string,
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Promise<void> {
  const ds = createDataSource({ ...opts, poolMax: 1 });
  await ds.initialize();
  try {
    switch (command) {
      case 'up': {
        const applied = await migrateUp(ds, opts.schema);
        out(applied.length ? `applied: ${applied.join(', ')}` : 'up to date');
        break;
      }
      case 'down':
        await ds.undoLastMigration({ transaction: 'each' });
        out('reverted the last migration');
        break;
      case 'status': {
        const pending = await ds.showMigrations();
        out(pending ? 'pending migrations' : 'up to date');
        break;
      }
      default:
        throw new Error(`unknown migrate command "${command}" (expected up, down or status)`);
    }
  } finally {
    await ds.destroy();
  }
}
