import { describeServiceContract } from '@cairn/service-testing';
import { gatewayBlueprint } from '../src/gateway.blueprint';

describeServiceContract(gatewayBlueprint);
