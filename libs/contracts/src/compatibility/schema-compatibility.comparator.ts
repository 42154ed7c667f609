import { isDeepStrictEqual } from 'node:util';
import type { JsonObject } from '../json-schema/event-json-schema.generator';

/** One way in which a current schema breaks a published one, located by a data path (`$.window.rowCount`). */
export interface CompatibilityViolation {
  path: string;
  message: string;
}

/*
 * The rule: a published event version may only gain optional fields. Producers and consumers of
 * one type run different builds of this library, and every consumer validates with the build it
 * has, so a change is safe only if both directions keep working:
 *  - an old consumer reading a new event: unknown properties are stripped, but any other change
 *    to an existing field (an added enum value, a looser bound, a dropped format) lets producers
 *    write values the old consumer rejects;
 *  - a new consumer reading an old event (replays, dead-letter redrives): a new required field, a
 *    removed enum value or a tighter bound rejects stored events.
 * Hence: every published property still exists, with the same requiredness and the same
 * validation keywords, recursively through objects, arrays, maps and unions; new properties are
 * optional; annotations (title, description, examples, ...) may change freely.
 */

const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$comment',
  'title',
  'description',
  'examples',
  'default',
  'deprecated',
  'readOnly',
  'writeOnly',
  'externalDocs',
]);

/** Keywords that hold subschemas; compared recursively rather than for equality. */
const STRUCTURAL = new Set([
  'type',
  'enum',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'anyOf',
  'oneOf',
  'allOf',
]);

/** Every way in which `current` breaks `published`; empty when the change is compatible. */
export function findIncompatibilities(published: JsonObject, current: JsonObject): CompatibilityViolation[] {
  const violations: CompatibilityViolation[] = [];
  compareSchemas(published, current, '$', violations);
  return violations;
}

function compareSchemas(
  published: JsonObject,
  current: JsonObject,
  path: string,
  out: CompatibilityViolation[],
): void {
  const report = (message: string) => out.push({ path, message });

  const publishedTypes = typeSet(published.type);
  const currentTypes = typeSet(current.type);
  if (!sameSet(publishedTypes, currentTypes)) {
    report(`type changed from ${describeType(published)} to ${describeType(current)}`);
    // Below a changed type, the rest of the comparison would only repeat the same finding.
    return;
  }

  compareEnums(published.enum, current.enum, report);

  const keywords = new Set([...Object.keys(published), ...Object.keys(current)]);
  for (const keyword of keywords) {
    if (STRUCTURAL.has(keyword) || ANNOTATIONS.has(keyword)) continue;
    const [was, now] = [published[keyword], current[keyword]];
    if (isDeepStrictEqual(was, now)) continue;
    if (was === undefined) report(`${keyword} ${JSON.stringify(now)} added`);
    else if (now === undefined) report(`${keyword} ${JSON.stringify(was)} removed`);
    else report(`${keyword} changed from ${JSON.stringify(was)} to ${JSON.stringify(now)}`);
  }

  compareProperties(published, current, path, out);
  compareSubschema(
    'additionalProperties',
    published.additionalProperties,
    current.additionalProperties,
    `${path}{*}`,
    out,
  );
  compareSubschema('propertyNames', published.propertyNames, current.propertyNames, `${path}{keys}`, out);
  compareSubschema('items', published.items, current.items, `${path}[]`, out);
  for (const keyword of ['anyOf', 'oneOf', 'allOf'] as const) {
    compareBranches(keyword, published[keyword], current[keyword], path, out);
  }
}

function compareProperties(
  published: JsonObject,
  current: JsonObject,
  path: string,
  out: CompatibilityViolation[],
): void {
  const publishedProps = objectOrEmpty(published.properties);
  const currentProps = objectOrEmpty(current.properties);
  const publishedRequired = new Set(stringArray(published.required));
  const currentRequired = new Set(stringArray(current.required));

  for (const [name, publishedProp] of Object.entries(publishedProps)) {
    const propPath = `${path}.${name}`;
    const currentProp = currentProps[name];
    if (currentProp === undefined) {
      out.push({ path: propPath, message: 'property removed' });
      continue;
    }
    if (publishedRequired.has(name) && !currentRequired.has(name)) {
      // Consumers were promised the field; making it optional breaks them as surely as removing it.
      out.push({ path: propPath, message: 'property no longer required' });
    }
    if (!publishedRequired.has(name) && currentRequired.has(name)) {
      out.push({ path: propPath, message: 'optional property became required' });
    }
    compareSubschema('property', publishedProp, currentProp, propPath, out);
  }
  for (const name of Object.keys(currentProps)) {
    if (!(name in publishedProps) && currentRequired.has(name)) {
      out.push({
        path: `${path}.${name}`,
        message: 'new required property (new properties must be optional)',
      });
    }
  }
}

function compareSubschema(
  keyword: string,
  published: unknown,
  current: unknown,
  path: string,
  out: CompatibilityViolation[],
): void {
  if (isObject(published) && isObject(current)) return compareSchemas(published, current, path, out);
  if (isDeepStrictEqual(published, current)) return;
  out.push({
    path,
    message: `${keyword} changed from ${JSON.stringify(published)} to ${JSON.stringify(current)}`,
  });
}

function compareEnums(published: unknown, current: unknown, report: (message: string) => void): void {
  if (published === undefined && current === undefined) return;
  if (!Array.isArray(published) || !Array.isArray(current)) {
    return report(published === undefined ? 'enum added' : 'enum removed');
  }
  const missingFrom = (values: unknown[], others: unknown[]) =>
    values.filter((value) => !others.some((other) => isDeepStrictEqual(value, other)));
  const removed = missingFrom(published, current);
  const added = missingFrom(current, published);
  if (removed.length > 0) report(`enum values removed: ${removed.map((v) => JSON.stringify(v)).join(', ')}`);
  if (added.length > 0) {
    report(
      `enum values added: ${added.map((v) => JSON.stringify(v)).join(', ')} ` +
        '(consumers validating against the published version would reject them)',
    );
  }
}

/** Union branches are matched by position and must stay the same in number. */
function compareBranches(
  keyword: string,
  published: unknown,
  current: unknown,
  path: string,
  out: CompatibilityViolation[],
): void {
  if (published === undefined && current === undefined) return;
  if (!Array.isArray(published) || !Array.isArray(current)) {
    out.push({ path, message: `${keyword} ${published === undefined ? 'added' : 'removed'}` });
    return;
  }
  if (current.length !== published.length) {
    out.push({ path, message: `${keyword} has ${current.length} branches instead of ${published.length}` });
  }
  published.forEach((branch: unknown, index) => {
    if (index < current.length)
      compareSubschema(keyword, branch, current[index], `${path}.${keyword}[${index}]`, out);
  });
}

function typeSet(type: unknown): Set<string> {
  if (typeof type === 'string') return new Set([type]);
  if (Array.isArray(type)) return new Set(type.filter((t): t is string => typeof t === 'string'));
  return new Set();
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

/** The JSON types a schema admits, for messages: `string`, `null|string`, `any`. */
function describeType(schema: JsonObject): string {
  const types = typeSet(schema.type);
  if (types.size > 0) return [...types].sort().join('|');
  // zod writes a constrained nullable as anyOf [{type: string, ...}, {type: null}].
  const branches = [schema.anyOf, schema.oneOf].find(Array.isArray);
  if (branches === undefined) return 'any';
  const described = branches.map((branch: unknown) => (isObject(branch) ? describeType(branch) : 'any'));
  return [...new Set(described.flatMap((d) => d.split('|')))].sort().join('|');
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectOrEmpty(value: unknown): JsonObject {
  return isObject(value) ? value : {};
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}
