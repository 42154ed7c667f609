import './instrument';
import { runServiceProcess } from '@cairn/service-runtime';
import { monitorBlueprint } from './monitor.blueprint';

void runServiceProcess(monitorBlueprint);
