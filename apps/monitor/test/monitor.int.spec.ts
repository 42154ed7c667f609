import { describeServiceContract } from '@cairn/testing';
import { monitorBlueprint } from '../src/monitor.blueprint';

describeServiceContract(monitorBlueprint);
