import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { EVENT_DEFINITIONS } from '../catalog/event.catalog';
import type { JsonObject } from '../json-schema/event-json-schema.generator';
import { ALL_TOPICS } from '../topics/topics.constants';
import { ASYNCAPI_DOCUMENT_PATH, buildAsyncApiDocument, renderAsyncApiYaml } from './asyncapi.generator';

const FILE = join(__dirname, '../../../..', ASYNCAPI_DOCUMENT_PATH);
const REGENERATE =
  'npx nx run contracts:asyncapi  (or: UPDATE_ASYNCAPI=1 npx jest -c libs/contracts/jest.config.js asyncapi)';

/** The generated document as it reads back from YAML or JSON. */
const expected = JSON.parse(JSON.stringify(buildAsyncApiDocument())) as JsonObject;

describe('AsyncAPI document', () => {
  it(`is committed at ${ASYNCAPI_DOCUMENT_PATH} as the generator produces it`, () => {
    if (process.env.UPDATE_ASYNCAPI === '1') writeFileSync(FILE, renderAsyncApiYaml());
    if (!existsSync(FILE))
      throw new Error(`${ASYNCAPI_DOCUMENT_PATH} is missing. Generate it with:\n  ${REGENERATE}`);

    // Compared as data, not text: Prettier may reformat the file without changing it.
    const committed: unknown = parse(readFileSync(FILE, 'utf8'));
    const differences = differingPaths(committed, expected);
    if (differences.length > 0) {
      throw new Error(
        `${ASYNCAPI_DOCUMENT_PATH} is out of date with the event catalog; it differs at:\n` +
          differences
            .slice(0, 10)
            .map((p) => `  - ${p}`)
            .join('\n') +
          `\nRegenerate it with:\n  ${REGENERATE}`,
      );
    }
  });

  it('reads back from YAML unchanged', () => {
    expect(parse(renderAsyncApiYaml())).toEqual(expected);
  });

  it('has a channel per topic and a message and send operation per event type', () => {
    const channels = expected.channels as Record<string, { address: string; messages: JsonObject }>;
    const operations = expected.operations as Record<string, { action: string; channel: { $ref: string } }>;
    expect(Object.values(channels).map((c) => c.address)).toEqual(ALL_TOPICS);
    for (const def of EVENT_DEFINITIONS) {
      expect(channels[def.topic].messages).toHaveProperty([def.type]);
      expect(operations[def.type]).toMatchObject({
        action: 'send',
        channel: { $ref: `#/channels/${def.topic}` },
      });
    }
  });

  it('resolves every $ref', () => {
    const refs = collectRefs(expected);
    expect(refs.length).toBeGreaterThan(EVENT_DEFINITIONS.length * 3);
    const unresolved = refs.filter((ref) => resolvePointer(expected, ref) === undefined);
    expect(unresolved).toEqual([]);
  });

  it('uses component and channel keys AsyncAPI allows', () => {
    const components = expected.components as Record<string, JsonObject>;
    const keys = [
      ...Object.keys(expected.channels as JsonObject),
      ...Object.keys(expected.operations as JsonObject),
      ...Object.values(components).flatMap((group) => Object.keys(group)),
    ];
    expect(keys.filter((key) => !/^[a-zA-Z0-9.\-_]+$/.test(key))).toEqual([]);
  });
});

function differingPaths(actual: unknown, wanted: unknown, path = '$'): string[] {
  if (isDeepStrictEqual(actual, wanted)) return [];
  if (isRecord(actual) && isRecord(wanted)) {
    const keys = new Set([...Object.keys(actual), ...Object.keys(wanted)]);
    return [...keys].flatMap((key) => differingPaths(actual[key], wanted[key], `${path}.${key}`));
  }
  if (Array.isArray(actual) && Array.isArray(wanted) && actual.length === wanted.length) {
    return actual.flatMap((item: unknown, i) => differingPaths(item, wanted[i], `${path}[${i}]`));
  }
  return [path];
}

function collectRefs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(collectRefs);
  if (!isRecord(node)) return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' ? [value] : collectRefs(value),
  );
}

function resolvePointer(document: JsonObject, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, segment) => (isRecord(node) ? node[segment] : undefined), document);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
