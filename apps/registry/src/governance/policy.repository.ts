import type { EntityManager } from 'typeorm';
import { DEFAULT_POLICY, type ModelPolicy } from './model-policy';

/** A model's policy, or the default one when the model has none of its own. */
export async function policyOf(m: EntityManager, schema: string, modelId: string): Promise<ModelPolicy> {
  const [row] = await m.query<Array<{ policy: ModelPolicy }>>(
    `SELECT policy FROM "${schema}".model_policies WHERE model_id = $1`,
    [modelId],
  );
  return row?.policy ?? DEFAULT_POLICY;
}
