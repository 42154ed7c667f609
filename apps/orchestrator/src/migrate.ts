import { runMigrationProcess } from '@cairn/service-runtime';
import { orchestratorBlueprint } from './orchestrator.blueprint';

void runMigrationProcess(orchestratorBlueprint);
