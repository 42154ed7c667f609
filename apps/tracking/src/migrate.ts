import { runMigrationProcess } from '@cairn/service-runtime';
import { trackingBlueprint } from './tracking.blueprint';

void runMigrationProcess(trackingBlueprint);
