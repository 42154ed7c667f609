import './instrument';
import { runServiceProcess } from '@cairn/service-runtime';
import { registryBlueprint } from './registry.blueprint';

void runServiceProcess(registryBlueprint);
