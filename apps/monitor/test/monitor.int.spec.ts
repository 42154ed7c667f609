import { describeServiceContract } from '@cairn/service-testing';
import { monitorBlueprint } from '../src/monitor.blueprint';

describeServiceContract(monitorBlueprint);
