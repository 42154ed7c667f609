import './instrument';
import { runServiceProcess } from '@cairn/service-runtime';
import { gatewayBlueprint } from './gateway.blueprint';

void runServiceProcess(gatewayBlueprint);
