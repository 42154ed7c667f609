import type { Stage } from '@cairn/contracts';

/*
 * Per-model governance policy (plain data, evaluated without the framework). A model without
 * a policy of its own gets DEFAULT_POLICY: Production is protected, one approval from someone
 * other than the requester, requests open for seven days, no gates.
 */

export type Comparator = '>' | '>=' | '<' | '<=';

export type GateSpec =
  | { kind: 'metric_threshold'; metric: string; comparator: Comparator; threshold: number }
  | { kind: 'required_tags'; tags: Array<{ key: string; value?: string }> }
  | { kind: 'beats_production'; metric: string; higherIsBetter: boolean; minDelta: number }
  | { kind: 'valid_signature' };

export interface ModelPolicy {
  protectedStages: Stage[];
  protectedAliases: string[];
  approvalsRequired: number;
  requestTtlSeconds: number;
  gates: GateSpec[];
}

export const DEFAULT_POLICY: ModelPolicy = {
  protectedStages: ['Production'],
  protectedAliases: [],
  approvalsRequired: 1,
  requestTtlSeconds: 7 * 24 * 3600,
  gates: [],
};

export type Target = { kind: 'stage'; stage: Stage } | { kind: 'alias'; alias: string };

/** Whether moving a version to `target` needs a transition request under `policy`. */
export function isProtected(policy: ModelPolicy, target: Target): boolean {
  return target.kind === 'stage'
    ? policy.protectedStages.includes(target.stage)
    : policy.protectedAliases.includes(target.alias);
}

export function describeTarget(target: Target): string {
  return target.kind === 'stage' ? `stage '${target.stage}'` : `alias '${target.alias}'`;
}
