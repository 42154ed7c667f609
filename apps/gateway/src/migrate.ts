import { runMigrationProcess } from '@cairn/service-runtime';
import { gatewayBlueprint } from './gateway.blueprint';

void runMigrationProcess(gatewayBlueprint);
