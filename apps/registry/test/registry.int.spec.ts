import { describeServiceContract } from '@cairn/testing';
import { registryBlueprint } from '../src/registry.blueprint';

describeServiceContract(registryBlueprint);
