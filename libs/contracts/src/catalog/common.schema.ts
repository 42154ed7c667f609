import { z } from 'zod';
import { timestampSchema } from '../envelope/cloud-event.schema';

/*
 * Building blocks shared by the event schemas. Conventions:
 *  - ids are strings (run ids are MLflow's 32 hex characters, other ids are UUIDs, but consumers
 *    must treat them as opaque);
 *  - times are RFC 3339 strings in fields named `...At` (UTC, `Z`, milliseconds);
 *  - model and pipeline versions are decimal strings ("3"), as in MLflow;
 *  - reason codes are UPPER_SNAKE; vocabularies borrowed from MLflow (stages, run status) and
 *    Evidently (stat-test names) keep their original spelling; union discriminators (`kind`) are
 *    lowercase.
 */

export const timestamp = (description: string) => timestampSchema.describe(description);

export const identifier = (description: string) => z.string().min(1).max(256).describe(description);

export const modelName = z.string().min(1).max(256).describe('Registered model name.');

export const modelVersion = z
  .string()
  .regex(/^[1-9][0-9]*$/)
  .describe('Model version number, a decimal string as in MLflow ("1", "2", ...).');

export const STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
export const stage = z.enum(STAGES).describe('Model version stage.');
export type Stage = z.output<typeof stage>;

export const aliasName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,255}$/)
  .describe('Model alias, e.g. champion or challenger.');

export const principal = (description: string) =>
  z.string().min(1).max(256).describe(`${description}: a principal id, as authenticated by the gateway.`);

export const sha256Digest = (description: string) =>
  z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .describe(`${description} (\`sha256:\` followed by 64 lowercase hex digits).`);

export const uri = (description: string) => z.string().min(1).max(2048).describe(description);

/** Free-form key/value tags, as MLflow tags. */
export const tags = z.record(z.string(), z.string()).describe('Tags by key.');

/** A JSON scalar: feature values, prediction outputs and pipeline parameters. */
export const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Scalar = z.output<typeof scalar>;

/** Where a model version sits before or after a promotion: a stage, or an alias. */
export const registryPosition = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('stage'), stage }),
  z.object({ kind: z.literal('alias'), alias: aliasName }),
]);
export type RegistryPosition = z.output<typeof registryPosition>;

/** Detached Ed25519 signature over the artifact manifest digest. */
export const artifactSignature = z
  .object({
    algorithm: z.literal('Ed25519'),
    keyId: z.string().min(1).max(256).describe('Id of the public key that verifies the signature.'),
    value: z.base64().describe('The signature, base64.'),
  })
  .describe('Signature of the artifact manifest digest; verified before promotion and deploy.');

/** A dataset a run consumed (MLflow dataset input), for lineage and reference profiles. */
export const datasetInput = z.object({
  name: z.string().min(1).max(500),
  digest: z.string().min(1).max(128).describe('Dataset digest as logged (MLflow computes a short hash).'),
  source: uri('Where the dataset can be read from (URI).'),
  sourceType: z.string().min(1).max(64).optional().describe('e.g. s3, local, http, delta_table.'),
  context: z.string().min(1).max(64).optional().describe('Role of the dataset in the run, e.g. training.'),
});
export type DatasetInput = z.output<typeof datasetInput>;

/** An inference-log window the monitor evaluated. */
export const inferenceWindow = z.object({
  start: timestamp('Time of the first inference in the window.'),
  end: timestamp('Time of the last inference in the window.'),
  rowCount: z.number().int().nonnegative().describe('Rows (inferences) in the window.'),
});
