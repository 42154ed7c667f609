import { loadConfig, serviceSettings, toServiceSettings } from '@cairn/config';
import { runMigrationCli } from '@cairn/persistence';
import { gatewayBlueprint } from './gateway.blueprint';

// `nx run gateway:migrate --direction=up|down|status`: production applies migrations with this
// before rolling out, and starts the service with DATABASE_MIGRATE_ON_START=false.
const settings = toServiceSettings('gateway', loadConfig('gateway', serviceSettings('gateway')));
runMigrationCli(
  { url: settings.databaseUrl, schema: settings.databaseSchema, service: 'gateway', migrations: gatewayBlueprint.migrations },
  process.argv[2] ?? 'up',
).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
