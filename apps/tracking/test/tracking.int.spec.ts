import { describeServiceContract } from '@cairn/service-testing';
import { trackingBlueprint } from '../src/tracking.blueprint';

describeServiceContract(trackingBlueprint);
