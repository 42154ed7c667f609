import { describeServiceContract } from '@cairn/service-testing';
import { registryBlueprint } from '../src/registry.blueprint';

describeServiceContract(registryBlueprint);
