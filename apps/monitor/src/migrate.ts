import { runMigrationProcess } from '@cairn/service-runtime';
import { monitorBlueprint } from './monitor.blueprint';

void runMigrationProcess(monitorBlueprint);
