import { describeServiceContract } from '@cairn/testing';
import { orchestratorBlueprint } from '../src/orchestrator.blueprint';

describeServiceContract(orchestratorBlueprint);
