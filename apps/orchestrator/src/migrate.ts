import { loadConfig, serviceSettings, toServiceSettings } from '@cairn/config';
import { runMigrationCli } from '@cairn/persistence';
import { orchestratorBlueprint } from './orchestrator.blueprint';

// `nx run orchestrator:migrate --direction=up|down|status`: production applies migrations with this
// before rolling out, and starts the service with DATABASE_MIGRATE_ON_START=false.
const settings = toServiceSettings('orchestrator', loadConfig('orchestrator', serviceSettings('orchestrator')));
runMigrationCli(
  { url: settings.databaseUrl, schema: settings.databaseSchema, service: 'orchestrator', migrations: orchestratorBlueprint.migrations },
  process.argv[2] ?? 'up',
).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
