import type { EntityManager } from 'typeorm';
import { DEFAULT_POLICY, type ModelPolicy } from './model-policy';

/** A model's policy as stored, or the default one when it has none of its own. */
export interface StoredPolicy {
  policy: ModelPolicy;
  /** False when the model has no policy of its own. */
  explicit: boolean;
  updatedAt: number | null;
  updatedBy: string | null;
}

export async function storedPolicyOf(
  m: EntityManager,
  schema: string,
  modelId: string,
): Promise<StoredPolicy> {
  const [row] = await m.query<Array<{ policy: ModelPolicy; updated_by: string; updated_at: string }>>(
    `SELECT policy, updated_by, updated_at FROM "${schema}".model_policies WHERE model_id = $1`,
    [modelId],
  );
  return row
    ? { policy: row.policy, explicit: true, updatedAt: Number(row.updated_at), updatedBy: row.updated_by }
    : { policy: DEFAULT_POLICY, explicit: false, updatedAt: null, updatedBy: null };
}

/** A model's policy, or the default one when the model has none of its own. */
export async function policyOf(m: EntityManager, schema: string, modelId: string): Promise<ModelPolicy> {
  return (await storedPolicyOf(m, schema, modelId)).policy;
}
