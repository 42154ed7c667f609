import { InvalidArgumentError } from 'commander';
import { gatewayAuthV1, registryV1, trackingV1 } from '@cairn/proto';

/** `key=value` (the value may contain `=`). */
export function parseKeyValue(text: string): { key: string; value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got '${text}'`);
  return { key: text.slice(0, eq), value: text.slice(eq + 1) };
}

/** `key=value[@step]`: a number (also NaN, Infinity, -Infinity, as MLflow allows) at an integer step. */
export function parseMetric(text: string): { key: string; value: number; step: number } {
  const { key, value: rest } = parseKeyValue(text);
  const at = rest.lastIndexOf('@');
  const valueText = at >= 0 ? rest.slice(0, at) : rest;
  const stepText = at >= 0 ? rest.slice(at + 1) : '0';
  const special = /^[+-]?(Infinity|NaN)$/.test(valueText);
  const value = Number(valueText);
  if (valueText.trim() === '' || (!special && Number.isNaN(value))) {
    throw new InvalidArgumentError(`metric ${key}: '${valueText}' is not a number`);
  }
  if (!/^-?\d+$/.test(stepText) || !Number.isSafeInteger(Number(stepText))) {
    throw new InvalidArgumentError(`metric ${key}: step '${stepText}' is not an integer`);
  }
  return { key, value, step: Number(stepText) };
}

/** A commander option parser that collects repeated values. */
export function collect<T>(parse: (text: string) => T): (text: string, previous: T[] | undefined) => T[] {
  return (text, previous) => [...(previous ?? []), parse(text)];
}

/** A positive integer option. */
export function parsePositiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError(`expected a positive integer, got '${text}'`);
  return n;
}

/** Looks a name up in a generated enum, case-insensitively, with or without its prefix. */
function enumValue<E extends Record<string, string | number>>(
  enumObject: E,
  prefix: string,
  text: string,
  what: string,
): number {
  const wanted = text.trim().toUpperCase().replace(/[-\s]/g, '_');
  for (const [name, value] of Object.entries(enumObject)) {
    if (typeof value !== 'number' || value <= 0) continue;
    if (name === wanted || name === `${prefix}${wanted}`) return value;
  }
  const names = Object.entries(enumObject)
    .filter(([, v]) => typeof v === 'number' && v > 0)
    .map(([n]) => titleCase(n.slice(prefix.length)));
  throw new InvalidArgumentError(`unknown ${what} '${text}' (one of ${names.join(', ')})`);
}

/** `STAGE_PRODUCTION` → `Production`, as MLflow names stages. */
export function titleCase(name: string): string {
  return name
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

export const parseStage = (text: string): registryV1.Stage =>
  enumValue(registryV1.Stage, 'STAGE_', text, 'stage');

export const parseRunStatus = (text: string): trackingV1.RunStatus =>
  enumValue(trackingV1.RunStatus, 'RUN_STATUS_', text, 'run status');

export const parseRole = (text: string): gatewayAuthV1.Role =>
  enumValue(gatewayAuthV1.Role, 'ROLE_', text, 'role');

export const parseRequestStatus = (text: string): registryV1.TransitionRequestStatus =>
  enumValue(registryV1.TransitionRequestStatus, 'TRANSITION_REQUEST_STATUS_', text, 'request status');

/** A duration like `30d`, `12h`, `90m` in milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration like 30d, 12h or 90m, got '${text}'`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}
