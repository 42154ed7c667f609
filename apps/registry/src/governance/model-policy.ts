import type { Stage } from '@cairn/contracts';
import { AppError } from '@cairn/rpc';
import { validateAlias, validateTag } from '../validation/registry-validation';

/*
 * Per-model governance policy (plain data, evaluated without the framework). A model without
 * a policy of its own gets DEFAULT_POLICY: Production is protected, one approval from someone
 * other than the requester, requests open for seven days, no gates. A protected target with
 * zero approvals required is gated only: the request applies at once if every gate passes.
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

/** Bounds on a policy: generous for real use, small enough that a policy stays one readable row. */
export const POLICY_LIMITS = {
  maxApprovals: 10,
  minTtlSeconds: 60,
  maxTtlSeconds: 90 * 24 * 3600,
  maxGates: 50,
  maxAliases: 100,
  maxRequiredTags: 100,
  maxMetricName: 250,
} as const;

const STAGES: readonly Stage[] = ['None', 'Staging', 'Production', 'Archived'];
const COMPARATORS: readonly Comparator[] = ['>', '>=', '<', '<='];

export function invalidPolicy(field: string, message: string): AppError {
  return new AppError('invalid_argument', 'INVALID_POLICY', `policy.${field} ${message}`, { field });
}

function checkMetricName(field: string, metric: string): void {
  if (metric.trim() === '') throw invalidPolicy(field, 'must name a metric');
  if (metric.length > POLICY_LIMITS.maxMetricName) {
    throw invalidPolicy(field, `must be at most ${POLICY_LIMITS.maxMetricName} characters`);
  }
}

function checkGate(g: GateSpec, i: number): void {
  const at = `gates[${i}]`;
  switch (g.kind) {
    case 'metric_threshold':
      checkMetricName(`${at}.metric_threshold.metric`, g.metric);
      if (!COMPARATORS.includes(g.comparator)) {
        throw invalidPolicy(`${at}.metric_threshold.comparator`, `must be one of ${COMPARATORS.join(' ')}`);
      }
      if (!Number.isFinite(g.threshold)) {
        throw invalidPolicy(`${at}.metric_threshold.threshold`, 'must be a finite number');
      }
      return;
    case 'required_tags':
      if (g.tags.length === 0) throw invalidPolicy(`${at}.required_tags.tags`, 'must name at least one tag');
      if (g.tags.length > POLICY_LIMITS.maxRequiredTags) {
        throw invalidPolicy(
          `${at}.required_tags.tags`,
          `must name at most ${POLICY_LIMITS.maxRequiredTags} tags`,
        );
      }
      g.tags.forEach((t, j) => {
        try {
          validateTag(t.key, t.value ?? '');
        } catch (err) {
          if (err instanceof AppError)
            throw invalidPolicy(`${at}.required_tags.tags[${j}]`, `is invalid: ${err.message}`);
          throw err;
        }
      });
      return;
    case 'beats_production':
      checkMetricName(`${at}.beats_production.metric`, g.metric);
      if (!Number.isFinite(g.minDelta) || g.minDelta < 0) {
        throw invalidPolicy(`${at}.beats_production.min_delta`, 'must be a finite number ≥ 0');
      }
      return;
    case 'valid_signature':
      return;
  }
}

/**
 * Checks a policy before it is stored; the first problem is reported with the field it is in
 * (INVALID_ARGUMENT, reason INVALID_POLICY). Returns the policy normalised: duplicate stages
 * and aliases are errors rather than silently merged, so what is stored is what was meant.
 */
export function validatePolicy(p: ModelPolicy): ModelPolicy {
  const seenStages = new Set<Stage>();
  p.protectedStages.forEach((s, i) => {
    if (!STAGES.includes(s))
      throw invalidPolicy(`protected_stages[${i}]`, `must be one of ${STAGES.join(', ')}`);
    if (seenStages.has(s)) throw invalidPolicy(`protected_stages[${i}]`, `repeats '${s}'`);
    seenStages.add(s);
  });
  if (p.protectedAliases.length > POLICY_LIMITS.maxAliases) {
    throw invalidPolicy('protected_aliases', `must name at most ${POLICY_LIMITS.maxAliases} aliases`);
  }
  const seenAliases = new Set<string>();
  p.protectedAliases.forEach((a, i) => {
    try {
      validateAlias(a);
    } catch (err) {
      if (err instanceof AppError)
        throw invalidPolicy(`protected_aliases[${i}]`, `is invalid: ${err.message}`);
      throw err;
    }
    if (seenAliases.has(a)) throw invalidPolicy(`protected_aliases[${i}]`, `repeats '${a}'`);
    seenAliases.add(a);
  });
  if (
    !Number.isInteger(p.approvalsRequired) ||
    p.approvalsRequired < 0 ||
    p.approvalsRequired > POLICY_LIMITS.maxApprovals
  ) {
    throw invalidPolicy('approvals_required', `must be an integer from 0 to ${POLICY_LIMITS.maxApprovals}`);
  }
  if (
    !Number.isInteger(p.requestTtlSeconds) ||
    p.requestTtlSeconds < POLICY_LIMITS.minTtlSeconds ||
    p.requestTtlSeconds > POLICY_LIMITS.maxTtlSeconds
  ) {
    throw invalidPolicy(
      'request_ttl_seconds',
      `must be an integer from ${POLICY_LIMITS.minTtlSeconds} to ${POLICY_LIMITS.maxTtlSeconds} (90 days)`,
    );
  }
  if (p.gates.length > POLICY_LIMITS.maxGates) {
    throw invalidPolicy('gates', `must hold at most ${POLICY_LIMITS.maxGates} gates`);
  }
  p.gates.forEach(checkGate);
  if (p.gates.filter((g) => g.kind === 'valid_signature').length > 1) {
    throw invalidPolicy('gates', 'holds valid_signature more than once');
  }
  return {
    protectedStages: [...p.protectedStages],
    protectedAliases: [...p.protectedAliases],
    approvalsRequired: p.approvalsRequired,
    requestTtlSeconds: p.requestTtlSeconds,
    gates: p.gates.map((g) => ({ ...g })),
  };
}
