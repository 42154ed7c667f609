import './instrument';
import { runServiceProcess } from '@cairn/service-runtime';
import { trackingBlueprint } from './tracking.blueprint';

void runServiceProcess(trackingBlueprint);
