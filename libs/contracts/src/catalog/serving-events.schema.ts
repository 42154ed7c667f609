import { z } from 'zod';
import { TOPICS } from '../topics/topics.constants';
import { identifier, modelName, modelVersion, scalar, timestamp } from './common.schema';
import { defineEvent } from './event-definition.factory';

/*
 * Inference logs are produced by the serving side (model servers or their payload loggers), not
 * by a Cairn service, hence the `serving` segment and source `/cairn/serving`. They go to their
 * own topic, keyed by deployment id, so that per-deployment windows see rows in order.
 */

export const inferenceLoggedV1 = defineEvent({
  type: 'cairn.serving.inference.logged.v1',
  name: 'InferenceLogged',
  topic: TOPICS.inferenceLogs,
  keyField: 'deploymentId',
  description: 'A deployed model answered an inference request; carries its input and output rows.',
  schema: z.object({
    deploymentId: identifier('The deployment that served the request.'),
    model: modelName,
    version: modelVersion,
    requestId: identifier('Inference request id.'),
    rows: z
      .array(
        z.object({
          inputs: z.record(z.string(), scalar).describe('Feature values by column.'),
          outputs: z.record(z.string(), scalar).describe('Prediction outputs by name.'),
        }),
      )
      .min(1)
      .describe('One row per instance of the request (a batch request has several).'),
    latencyMs: z.number().nonnegative().optional(),
    inferredAt: timestamp('When the server answered.'),
  }),
  example: {
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    requestId: 'req-8f7e6d5c',
    rows: [
      {
        inputs: { tenure_months: 14, plan: 'basic', monthly_charges: 29.9, has_partner: false },
        outputs: { churn_probability: 0.31, churn: false },
      },
    ],
    latencyMs: 4.2,
    inferredAt: '2025-02-01T08:15:30.120Z',
  },
});
export type InferenceLoggedV1 = z.output<typeof inferenceLoggedV1.schema>;
