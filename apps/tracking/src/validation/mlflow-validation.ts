import path from 'node:path';
import { AppError } from '@cairn/rpc';

/*
 * MLflow's validation rules for tracking entities (mlflow/utils/validation.py), with its limits
 * and its messages, so that a client sees the errors it would see against an MLflow server.
 * Every failure is an INVALID_ARGUMENT AppError whose reason names the rule.
 */

export const LIMITS = {
  metricsPerBatch: 1000,
  paramsTagsPerBatch: 100,
  entitiesPerBatch: 1000,
  datasetsPerBatch: 1000,
  entityKeyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 5000,
  experimentNameLength: 500,
  experimentTagValueLength: 5000,
  runNameLength: 250,
  datasetNameLength: 500,
  datasetDigestLength: 36,
  datasetSourceLength: 65535,
  datasetSchemaLength: 1048575,
  datasetProfileLength: 16777215,
  inputTagKeyLength: 255,
  inputTagValueLength: 500,
  maxResults: 50000,
} as const;

// Python's \w is Unicode-aware: letters, numbers and the underscore.
const VALID_NAME = /^[/\p{L}\p{N}_.\- ]*$/u;
const RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/;
const EXPERIMENT_ID = /^[0-9]{1,19}$/;

const BAD_CHARACTERS =
  'Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).';

function invalid(reason: string, message: string, value?: string): AppError {
  return new AppError('invalid_argument', reason, message, value === undefined ? {} : { value });
}

/** MLflow's `invalid_value` message. */
function invalidValue(field: string, value: unknown, detail?: string): string {
  const shown = JSON.stringify(value);
  return detail
    ? `Invalid value ${shown} for parameter '${field}' supplied: ${detail}`
    : `Invalid value ${shown} for parameter '${field}' supplied.`;
}

export function missingValue(field: string): AppError {
  return invalid('MISSING_PARAMETER', `Missing value for required parameter '${field}'.`);
}

/** Python's posixpath.normpath, which MLflow uses to decide whether a name is a path in disguise. */
function normpath(name: string): string {
  return path.posix.normalize(name).replace(/\/+$/, '') || (name.startsWith('/') ? '/' : '.');
}

/**
 * Metric, param and tag keys: MLflow's character set, and names that would resolve to another
 * name as a file path (`a/../b`, `./x`, `/x`) are refused.
 */
export function validateKey(kind: 'metric' | 'param' | 'tag', key: string, field = 'key'): void {
  if (key === '') throw missingValue(field);
  if (!VALID_NAME.test(key)) throw invalid('INVALID_KEY', invalidValue(field, key, BAD_CHARACTERS), key);
  const norm = normpath(key);
  if (norm !== key || norm === '.' || norm.startsWith('..') || norm.startsWith('/')) {
    throw invalid(
      'INVALID_KEY',
      invalidValue(
        field,
        key,
        `Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to '${norm}'`,
      ),
      key,
    );
  }
  const entity = kind === 'metric' ? 'Metric name' : kind === 'param' ? 'Param key' : 'Tag key';
  validateLength(entity, LIMITS.entityKeyLength, key);
}

/** MLflow's `_validate_length_limit` message. */
export function validateLength(entity: string, limit: number, value: string): void {
  if (value.length <= limit) return;
  throw invalid(
    'VALUE_TOO_LONG',
    `${entity} '${value.slice(0, 250)}' had length ${value.length}, which exceeded length limit of ${limit}`,
  );
}

export function validateParam(key: string, value: string, field = 'key'): void {
  validateKey('param', key, field);
  validateLength('Param value', LIMITS.paramValueLength, value);
}

export function validateRunTag(key: string, value: string, field = 'key'): void {
  validateKey('tag', key, field);
  validateLength('Tag value', LIMITS.tagValueLength, value);
}

export function validateExperimentTag(key: string, value: string): void {
  validateKey('tag', key);
  validateLength('Tag value', LIMITS.experimentTagValueLength, value);
}

export interface MetricInput {
  key: string;
  value: number;
  timestamp: number;
  step: number;
}

export function validateMetric(m: MetricInput, field = 'key'): void {
  validateKey('metric', m.key, field);
  if (!Number.isSafeInteger(m.timestamp) || m.timestamp < 0) {
    throw invalid(
      'INVALID_METRIC_TIMESTAMP',
      `Got invalid timestamp ${m.timestamp} for metric '${m.key}' (value=${m.value}). Timestamp must be a nonnegative long (64-bit integer) `,
    );
  }
  if (!Number.isSafeInteger(m.step)) {
    throw invalid(
      'INVALID_METRIC_STEP',
      `Got invalid step ${m.step} for metric '${m.key}' (value=${m.value}). Step must be a valid long (64-bit integer).`,
    );
  }
  if (typeof m.value !== 'number') {
    throw invalid(
      'INVALID_METRIC_VALUE',
      `Got invalid value ${String(m.value)} for metric '${m.key}' (timestamp=${m.timestamp}). Please specify value as a valid double (64-bit floating point)`,
    );
  }
}

function batchLimit(entity: string, limit: number, length: number): void {
  if (length <= limit) return;
  throw invalid(
    'BATCH_LIMIT_EXCEEDED',
    `A batch logging request can contain at most ${limit} ${entity}. Got ${length} ${entity}. Please split up ${entity} across multiple requests and try again.`,
  );
}

/** MLflow's log-batch limits and the per-item rules, checked before anything is written. */
export function validateBatch(batch: {
  metrics: MetricInput[];
  params: Array<{ key: string; value: string }>;
  tags: Array<{ key: string; value: string }>;
}): void {
  batchLimit('metrics', LIMITS.metricsPerBatch, batch.metrics.length);
  batchLimit('params', LIMITS.paramsTagsPerBatch, batch.params.length);
  batchLimit('tags', LIMITS.paramsTagsPerBatch, batch.tags.length);
  batchLimit(
    'metrics, params, and tags',
    LIMITS.entitiesPerBatch,
    batch.metrics.length + batch.params.length + batch.tags.length,
  );
  batch.metrics.forEach((m, i) => validateMetric(m, `metrics[${i}].key`));
  batch.params.forEach((p, i) => validateParam(p.key, p.value, `params[${i}].key`));
  batch.tags.forEach((t, i) => validateRunTag(t.key, t.value, `tags[${i}].key`));
  const seen = new Map<string, string>();
  const duplicates = new Set<string>();
  for (const p of batch.params) {
    const prior = seen.get(p.key);
    if (prior !== undefined && prior !== p.value) duplicates.add(p.key);
    seen.set(p.key, p.value);
  }
  if (duplicates.size > 0) {
    throw invalid(
      'DUPLICATE_PARAM_KEYS',
      `Duplicate parameter keys have been submitted: ${JSON.stringify([...duplicates])}. Please ensure the request contains only one param value per param key.`,
    );
  }
}

export function validateRunId(runId: string): void {
  if (runId === '') throw missingValue('run_id');
  if (!RUN_ID.test(runId)) throw invalid('INVALID_RUN_ID', `Invalid run ID: '${runId}'`, runId);
}

export function validateExperimentId(experimentId: string): void {
  if (experimentId === '') throw missingValue('experiment_id');
  if (!EXPERIMENT_ID.test(experimentId) || BigInt(experimentId) > 9223372036854775807n) {
    throw invalid('INVALID_EXPERIMENT_ID', `Invalid experiment ID: '${experimentId}'`, experimentId);
  }
}

export function validateExperimentName(name: string): void {
  if (name.trim() === '') throw invalid('INVALID_EXPERIMENT_NAME', `Invalid experiment name: '${name}'`);
  validateLength('Experiment name', LIMITS.experimentNameLength, name);
}

export function validateRunName(name: string): void {
  validateLength('Run name', LIMITS.runNameLength, name);
}

export function validateMaxResults(maxResults: number | undefined, fallback: number): number {
  if (maxResults === undefined) return fallback;
  if (!Number.isSafeInteger(maxResults) || maxResults <= 0 || maxResults > LIMITS.maxResults) {
    throw invalid(
      'INVALID_MAX_RESULTS',
      `Invalid value for request parameter max_results. It must be at most ${LIMITS.maxResults}, but got value ${maxResults}`,
      String(maxResults),
    );
  }
  return maxResults;
}

export interface DatasetInputCandidate {
  tags: Array<{ key: string; value: string }>;
  dataset?: {
    name: string;
    digest: string;
    sourceType: string;
    source: string;
    schema?: string;
    profile?: string;
  };
}

/** MLflow's `_validate_dataset_inputs` limits. */
export function validateDatasetInputs(inputs: DatasetInputCandidate[]): void {
  batchLimit('datasets', LIMITS.datasetsPerBatch, inputs.length);
  inputs.forEach((input, i) => {
    const d = input.dataset;
    if (d === undefined) throw missingValue(`datasets[${i}].dataset`);
    if (d.name === '') throw missingValue(`datasets[${i}].dataset.name`);
    if (d.digest === '') throw missingValue(`datasets[${i}].dataset.digest`);
    if (d.sourceType === '') throw missingValue(`datasets[${i}].dataset.source_type`);
    if (d.source === '') throw missingValue(`datasets[${i}].dataset.source`);
    validateLength('Dataset name', LIMITS.datasetNameLength, d.name);
    validateLength('Dataset digest', LIMITS.datasetDigestLength, d.digest);
    validateLength('Dataset source', LIMITS.datasetSourceLength, d.source);
    if (d.schema !== undefined) validateLength('Dataset schema', LIMITS.datasetSchemaLength, d.schema);
    if (d.profile !== undefined) validateLength('Dataset profile', LIMITS.datasetProfileLength, d.profile);
    for (const t of input.tags) {
      if (t.key === '') throw missingValue(`datasets[${i}].tags.key`);
      validateLength('Input tag key', LIMITS.inputTagKeyLength, t.key);
      validateLength('Input tag value', LIMITS.inputTagValueLength, t.value);
    }
  });
}

// Control characters included: a location is echoed into URIs and logs.
// eslint-disable-next-line no-control-regex
const UNSAFE_LOCATION = /[?#\\\u0000-\u001f]/;

/**
 * An experiment's artifact location must be a plain URI or absolute path: query strings,
 * fragments, backslashes and `..` segments (after decoding) are refused, as they were the
 * vehicle of MLflow's artifact-root traversals (CVE-2023-6909, CVE-2024-1483, CVE-2024-2928).
 */
export function validateArtifactLocation(location: string): void {
  let decoded = location;
  for (let i = 0; i < 4; i++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      throw invalid('INVALID_ARTIFACT_LOCATION', `Invalid artifact location '${location}'`, location);
    }
    if (next === decoded) break;
    decoded = next;
  }
  const segments = decoded.split('/');
  if (UNSAFE_LOCATION.test(decoded) || segments.includes('..') || location.length > 2048) {
    throw invalid(
      'INVALID_ARTIFACT_LOCATION',
      `Invalid artifact location '${location}': it must not contain '..' segments, '?', '#', backslashes or control characters`,
      location,
    );
  }
}
