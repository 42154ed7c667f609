import { z } from 'zod';
import { TOPICS } from '../topics/topics.constants';
import { identifier, inferenceWindow, modelName, modelVersion, timestamp } from './common.schema';
import { defineEvent } from './event-definition.factory';

/*
 * Monitor events are keyed by deployment id: the monitored deployment is the aggregate whose
 * windows are evaluated in order.
 */

const monitoredRef = {
  reportId: identifier('Id of the stored drift or data-quality report.'),
  deploymentId: identifier('The monitored deployment.'),
  model: modelName,
  version: modelVersion.describe('The model version that served the window.'),
  window: inferenceWindow,
};

const columnDrift = z.object({
  column: z.string().min(1).max(256),
  columnType: z.enum(['numerical', 'categorical']),
  test: z
    .string()
    .min(1)
    .max(64)
    .describe(
      'Evidently stat-test name: ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div, hellinger, ... ' +
        '(a string, not an enum, so that a newly configured test does not need a new event version).',
    ),
  score: z.number().describe('The test result: a p-value or a distance, see scoreKind.'),
  threshold: z.number().describe('The threshold the score was compared with.'),
  scoreKind: z
    .enum(['p_value', 'distance'])
    .describe(
      'p_value: drift when score < threshold (ks, chisquare, z); distance: drift when score >= threshold.',
    ),
});

export const driftDetectedV1 = defineEvent({
  type: 'cairn.monitor.drift.detected.v1',
  name: 'DriftDetected',
  topic: TOPICS.monitor,
  keyField: 'deploymentId',
  description:
    'Dataset drift started for a deployed model version (emitted once when it starts, not on every drifted window).',
  schema: z.object({
    ...monitoredRef,
    reference: z
      .object({
        rowCount: z.number().int().positive(),
        datasetDigest: z.string().min(1).max(128).optional().describe('Digest of the reference dataset.'),
      })
      .describe('The reference profile the window was compared with.'),
    driftedColumns: z.array(columnDrift).min(1).describe('The columns whose test detected drift.'),
    columnsEvaluated: z.number().int().positive().describe('Columns tested, drifted or not.'),
    datasetDriftShare: z.number().min(0).max(1).describe('Share of evaluated columns that drifted.'),
    datasetDriftThreshold: z
      .number()
      .min(0)
      .max(1)
      .describe('Share at or above which the dataset counts as drifted (Evidently default 0.5).'),
    detectedAt: timestamp('When the window was evaluated.'),
  }),
  example: {
    reportId: '4d5e6f7a-8b9c-4d0e-a1f2-b3c4d5e6f7a8',
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    window: { start: '2025-02-01T00:00:00.000Z', end: '2025-02-01T23:59:59.999Z', rowCount: 5000 },
    reference: { rowCount: 20000, datasetDigest: '3f2a9c1e' },
    driftedColumns: [
      {
        column: 'tenure_months',
        columnType: 'numerical',
        test: 'wasserstein',
        score: 0.27,
        threshold: 0.1,
        scoreKind: 'distance',
      },
      {
        column: 'plan',
        columnType: 'categorical',
        test: 'jensenshannon',
        score: 0.15,
        threshold: 0.1,
        scoreKind: 'distance',
      },
    ],
    columnsEvaluated: 4,
    datasetDriftShare: 0.5,
    datasetDriftThreshold: 0.5,
    detectedAt: '2025-02-02T00:05:00.000Z',
  },
});
export type DriftDetectedV1 = z.output<typeof driftDetectedV1.schema>;

export const DATA_QUALITY_CHECKS = [
  'MISSING_SHARE',
  'NEW_CATEGORY',
  'OUT_OF_RANGE',
  'SCHEMA_CHANGE',
] as const;

export const dataQualityViolatedV1 = defineEvent({
  type: 'cairn.monitor.data-quality.violated.v1',
  name: 'DataQualityViolated',
  topic: TOPICS.monitor,
  keyField: 'deploymentId',
  description: 'An inference-log window failed data-quality checks.',
  schema: z.object({
    ...monitoredRef,
    violations: z
      .array(
        z.object({
          check: z.enum(DATA_QUALITY_CHECKS),
          column: z.string().min(1).max(256).optional().describe('Absent for dataset-level checks.'),
          value: z
            .number()
            .optional()
            .describe('Measured value, e.g. the share of rows missing or out of range.'),
          threshold: z.number().optional().describe('The limit the value broke.'),
          examples: z
            .array(z.string().max(256))
            .max(20)
            .optional()
            .describe('A few offending values, e.g. new categories or added/removed columns.'),
          message: z.string().max(5000),
        }),
      )
      .min(1),
    detectedAt: timestamp('When the window was evaluated.'),
  }),
  example: {
    reportId: '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9',
    deploymentId: '3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7',
    model: 'churn-classifier',
    version: '7',
    window: { start: '2025-02-01T00:00:00.000Z', end: '2025-02-01T23:59:59.999Z', rowCount: 5000 },
    violations: [
      {
        check: 'MISSING_SHARE',
        column: 'monthly_charges',
        value: 0.12,
        threshold: 0.05,
        message: '12% of rows have no monthly_charges (limit 5%)',
      },
      {
        check: 'NEW_CATEGORY',
        column: 'plan',
        value: 0.03,
        examples: ['enterprise-plus'],
        message: 'category not seen in the reference: enterprise-plus',
      },
    ],
    detectedAt: '2025-02-02T00:05:00.000Z',
  },
});
export type DataQualityViolatedV1 = z.output<typeof dataQualityViolatedV1.schema>;
