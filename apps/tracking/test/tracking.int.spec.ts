import { describeServiceContract } from '@cairn/testing';
import { trackingBlueprint } from '../src/tracking.blueprint';

describeServiceContract(trackingBlueprint);
