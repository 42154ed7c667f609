import { describeServiceContract } from '@cairn/service-testing';
import { orchestratorBlueprint } from '../src/orchestrator.blueprint';

describeServiceContract(orchestratorBlueprint);
