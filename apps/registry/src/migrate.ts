import { runMigrationProcess } from '@cairn/service-runtime';
import { registryBlueprint } from './registry.blueprint';

void runMigrationProcess(registryBlueprint);
