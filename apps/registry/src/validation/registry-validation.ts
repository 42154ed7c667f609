import { AppError } from '@cairn/rpc';

/*
 * MLflow's registry validation (mlflow/utils/validation.py and the model registry store), with
 * its limits and messages where MLflow has them, so an MLflow client sees the errors it knows.
 */

export const MAX_MODEL_NAME_LENGTH = 256;
export const MAX_TAG_KEY_LENGTH = 250;
export const MAX_TAG_VALUE_LENGTH = 100_000;
export const MAX_DESCRIPTION_LENGTH = 100_000;
export const MAX_ALIAS_LENGTH = 255;
const ALIAS = /^[\w-]*$/u;
const RESERVED_VERSION_ALIAS = /^v\d+$/i;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(reason: string, message: string, details: Record<string, string> = {}): AppError {
  return new AppError('invalid_argument', reason, message, details);
}

export function missingValue(field: string): AppError {
  return invalid('MISSING_PARAMETER', `Missing value for required parameter '${field}'.`);
}

/** Postgres text cannot hold NUL: refused here, rather than failing as an internal error. */
function refuseNul(value: string, field: string): void {
  if (value.includes('\u0000')) {
    throw invalid('INVALID_PARAMETER_VALUE', `'${field}' must not contain NUL characters.`, { field });
  }
}

export function validateModelName(name: string, field = 'name'): void {
  if (name === '') throw missingValue(field);
  if (name.length > MAX_MODEL_NAME_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Registered model name '${name.slice(0, 40)}…' exceeds the maximum length of ${MAX_MODEL_NAME_LENGTH}.`,
    );
  }
  // Names become parts of URIs (models:/<name>/<version>) and audit records: no control
  // characters, no path separators that would change what such a URI points at.
  if (CONTROL.test(name) || name.includes('/') || name.includes('\\')) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Invalid registered model name '${name.replace(CONTROL, '?')}': it must not contain '/', '\\' or control characters.`,
      { name },
    );
  }
}

/** MLflow versions are positive integers carried as strings. */
export function parseVersion(version: string): number {
  if (version === '') throw missingValue('version');
  if (!/^[1-9]\d{0,8}$/.test(version)) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Model version must be an integer, got '${version.slice(0, 40)}'.`,
      {
        version,
      },
    );
  }
  return Number(version);
}

export function validateTag(key: string, value: string): void {
  if (key === '') throw missingValue('key');
  if (key.length > MAX_TAG_KEY_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Tag key '${key.slice(0, 40)}…' had length ${key.length}, which exceeded length limit of ${MAX_TAG_KEY_LENGTH}`,
    );
  }
  if (!/^[/\w.\- ]*$/u.test(key)) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Invalid tag name: '${key}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).`,
    );
  }
  if (value.length > MAX_TAG_VALUE_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Tag value for '${key}' had length ${value.length}, which exceeded length limit of ${MAX_TAG_VALUE_LENGTH}`,
    );
  }
  refuseNul(value, 'value');
}

export function validateDescription(description: string): void {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Description had length ${description.length}, which exceeded length limit of ${MAX_DESCRIPTION_LENGTH}`,
    );
  }
  refuseNul(description, 'description');
}

/** MLflow's `_validate_model_alias_name`. */
export function validateAlias(alias: string): void {
  if (alias === '') throw missingValue('alias');
  if (alias.length > MAX_ALIAS_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Alias name cannot exceed ${MAX_ALIAS_LENGTH} characters (got ${alias.length}).`,
    );
  }
  if (!ALIAS.test(alias)) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Invalid alias name: '${alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-).`,
      { alias },
    );
  }
  if (alias.toLowerCase() === 'latest') {
    throw invalid('INVALID_PARAMETER_VALUE', "'latest' alias name (case insensitive) is reserved.", {
      alias,
    });
  }
  if (RESERVED_VERSION_ALIAS.test(alias)) {
    throw invalid('INVALID_PARAMETER_VALUE', `Version alias name '${alias}' is reserved.`, { alias });
  }
}

/** The tracking service's run-id rule (apps/tracking validation); MLflow's own ids are 32 hex digits. */
export const RUN_ID = /^[a-zA-Z0-9][\w-]{0,255}$/;
/** MLflow's `model_versions.run_link` is a VARCHAR(500). */
export const MAX_RUN_LINK_LENGTH = 500;
/** Transition comments (they become audit reasons, which hold up to 10,000 characters). */
export const MAX_COMMENT_LENGTH = 5_000;

/** An optional run id (empty: none). */
export function validateRunId(runId: string, field = 'run_id'): void {
  if (runId !== '' && !RUN_ID.test(runId)) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Invalid value '${runId.slice(0, 40)}' for parameter '${field}'.`,
      {
        [field]: runId.slice(0, 256),
      },
    );
  }
}

export function validateRunLink(runLink: string): void {
  if (runLink.length > MAX_RUN_LINK_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Run link had length ${runLink.length}, which exceeded length limit of ${MAX_RUN_LINK_LENGTH}`,
    );
  }
  if (CONTROL.test(runLink)) {
    throw invalid('INVALID_PARAMETER_VALUE', 'Run link must not contain control characters.');
  }
}

export function validateComment(comment: string, field = 'comment'): void {
  if (comment.length > MAX_COMMENT_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `'${field}' had length ${comment.length}, which exceeded length limit of ${MAX_COMMENT_LENGTH}`,
    );
  }
  refuseNul(comment, field);
}
