import { describeServiceContract } from '@cairn/testing';
import { gatewayBlueprint } from '../src/gateway.blueprint';

describeServiceContract(gatewayBlueprint);
