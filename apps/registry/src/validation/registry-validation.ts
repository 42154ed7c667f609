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
}

export function validateDescription(description: string): void {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw invalid(
      'INVALID_PARAMETER_VALUE',
      `Description had length ${description.length}, which exceeded length limit of ${MAX_DESCRIPTION_LENGTH}`,
    );
  }
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
