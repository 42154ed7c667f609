import './instrument';
import { runServiceProcess } from '@cairn/service-runtime';
import { orchestratorBlueprint } from './orchestrator.blueprint';

void runServiceProcess(orchestratorBlueprint);
