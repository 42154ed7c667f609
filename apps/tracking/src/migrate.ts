import { loadConfig, serviceSettings, toServiceSettings } from '@cairn/config';
import { runMigrationCli } from '@cairn/persistence';
import { trackingBlueprint } from './tracking.blueprint';

// `nx run tracking:migrate --direction=up|down|status`: production applies migrations with this
// before rolling out, and starts the service with DATABASE_MIGRATE_ON_START=false.
const settings = toServiceSettings('tracking', loadConfig('tracking', serviceSettings('tracking')));
runMigrationCli(
  { url: settings.databaseUrl, schema: settings.databaseSchema, service: 'tracking', migrations: trackingBlueprint.migrations },
  process.argv[2] ?? 'up',
).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
