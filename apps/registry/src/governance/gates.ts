import type { ModelVersionRecord } from '../models/models.repository';
import type { ProjectedRun } from '../runs/run-projection';
import type { VersionVerification } from '../signing/version-verifier';
import type { Comparator, GateSpec } from './model-policy';

/** One gate's verdict, as stored on the request and returned by EvaluateGates. */
export interface GateResult {
  gate: string;
  passed: boolean;
  message: string;
}

/** What the gates look at; gathered by the governance service, evaluated here without I/O. */
export interface GateInputs {
  version: ModelVersionRecord;
  /** The source run as projected from RunFinished; undefined when unknown or not from a run. */
  run?: ProjectedRun;
  /** The other versions in Production now, with their source runs. */
  production: Array<{ version: number; run?: ProjectedRun }>;
  /** The artifact verification, when the policy has a valid_signature gate. */
  signature?: VersionVerification;
}

const fmt = (n: number) => String(n);

/** A readable, stable name for a gate, e.g. `metric-threshold:auc>=0.9`. */
export function gateName(g: GateSpec): string {
  switch (g.kind) {
    case 'metric_threshold':
      return `metric-threshold:${g.metric}${g.comparator}${fmt(g.threshold)}`;
    case 'required_tags':
      return `required-tags:${g.tags.map((t) => (t.value === undefined ? t.key : `${t.key}=${t.value}`)).join(',')}`;
    case 'beats_production':
      return `beats-production:${g.metric}(${g.higherIsBetter ? 'higher' : 'lower'} is better${
        g.minDelta > 0 ? `, by ≥ ${fmt(g.minDelta)}` : ''
      })`;
    case 'valid_signature':
      return 'valid-signature';
  }
}

function compare(value: number, op: Comparator, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
  }
}

const NEGATED: Record<Comparator, string> = { '>': '≤', '>=': '<', '<': '≥', '<=': '>' };

/**
 * The source run's value of `metric`, or why there is none. The value is the run's latest
 * metric value as RunFinished carried it (MLflow's "latest metric").
 */
function metricOf(inputs: GateInputs, metric: string): { value: number } | { missing: string } {
  const v = inputs.version;
  if (!v.runId)
    return { missing: `version ${v.version} was not registered from a run, so it has no metrics` };
  if (!inputs.run) {
    return { missing: `source run ${v.runId} is not known to the registry yet (no RunFinished received)` };
  }
  const value = inputs.run.metrics[metric];
  if (value === undefined) return { missing: `source run ${v.runId} has no metric '${metric}'` };
  if (Number.isNaN(value)) return { missing: `metric '${metric}' of run ${v.runId} is NaN` };
  return { value };
}

function evaluate(g: GateSpec, inputs: GateInputs): { passed: boolean; message: string } {
  switch (g.kind) {
    case 'metric_threshold': {
      const m = metricOf(inputs, g.metric);
      if ('missing' in m) return { passed: false, message: m.missing };
      const passed = compare(m.value, g.comparator, g.threshold);
      return {
        passed,
        message: `${g.metric} ${fmt(m.value)} ${passed ? g.comparator : NEGATED[g.comparator]} ${fmt(g.threshold)} on run ${inputs.version.runId}`,
      };
    }
    case 'required_tags': {
      const tags = new Map(inputs.version.tags.map((t) => [t.key, t.value]));
      const problems = g.tags.flatMap((t) => {
        const actual = tags.get(t.key);
        if (actual === undefined) return [`tag '${t.key}' is missing`];
        if (t.value !== undefined && actual !== t.value) {
          return [`tag '${t.key}' is ${JSON.stringify(actual)}, not ${JSON.stringify(t.value)}`];
        }
        return [];
      });
      return problems.length === 0
        ? {
            passed: true,
            message: `the version carries ${g.tags.length === 1 ? 'the required tag' : `all ${g.tags.length} required tags`}`,
          }
        : { passed: false, message: problems.join('; ') };
    }
    case 'beats_production': {
      const mine = metricOf(inputs, g.metric);
      if ('missing' in mine) return { passed: false, message: mine.missing };
      if (inputs.production.length === 0) {
        return { passed: true, message: 'no version is in Production, so there is nothing to beat' };
      }
      // With several versions in Production (no archive_existing_versions), beat the best of them.
      let best: { version: number; value: number } | undefined;
      for (const p of inputs.production) {
        const value = p.run?.metrics[g.metric];
        if (value === undefined || Number.isNaN(value)) {
          // Fail closed: a promotion that cannot be compared is not known to be better.
          return {
            passed: false,
            message: `Production version ${p.version} has no comparable '${g.metric}' (${
              p.run ? `its run ${p.run.runId} lacks it` : 'its source run is unknown'
            })`,
          };
        }
        if (!best || (g.higherIsBetter ? value > best.value : value < best.value))
          best = { version: p.version, value };
      }
      const b = best as { version: number; value: number };
      const gain = g.higherIsBetter ? mine.value - b.value : b.value - mine.value;
      const passed = gain > 0 && gain >= g.minDelta;
      const needed = g.minDelta > 0 ? ` (needs ${g.higherIsBetter ? '+' : '-'}${fmt(g.minDelta)})` : '';
      return {
        passed,
        message: `${g.metric} ${fmt(mine.value)} vs ${fmt(b.value)} of Production version ${b.version}: ${
          passed ? 'better' : 'not better'
        } by ${fmt(gain)}${needed}`,
      };
    }
    case 'valid_signature': {
      const s = inputs.signature;
      if (!s) return { passed: false, message: 'the artifact was not verified' };
      return s.ok
        ? { passed: true, message: `manifest unchanged and signed by key '${s.keyId}'` }
        : { passed: false, message: `${s.reason}: ${s.message}` };
    }
  }
}

/** Every gate of the policy, in order. */
export function evaluateGates(gates: readonly GateSpec[], inputs: GateInputs): GateResult[] {
  return gates.map((g) => ({ gate: gateName(g), ...evaluate(g, inputs) }));
}
