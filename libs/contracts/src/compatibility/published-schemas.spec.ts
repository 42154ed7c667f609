import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { EVENT_DEFINITIONS, isEventType } from '../catalog/event.catalog';
import { dataJsonSchema, type JsonObject } from '../json-schema/event-json-schema.generator';
import { findIncompatibilities } from './schema-compatibility.comparator';

/*
 * libs/contracts/published/<type>.json is the JSON Schema of each event type as published. It is
 * created the first time a type appears, and moves forward only by compatible changes (new
 * optional fields), so that a field added in one release cannot silently disappear in the next.
 * With UPDATE_PUBLISHED=1 this test writes missing snapshots and records compatible changes; it
 * never overwrites a snapshot with an incompatible schema.
 */

const WORKSPACE_ROOT = join(__dirname, '../../../..');
const PUBLISHED_DIR = join(__dirname, '../../published');
const UPDATE = process.env.UPDATE_PUBLISHED === '1';
const RECORD_COMMAND =
  'UPDATE_PUBLISHED=1 npx jest -c libs/contracts/jest.config.js published-schemas && npx prettier --write libs/contracts/published';

const snapshotFile = (type: string) => join(PUBLISHED_DIR, `${type}.json`);
const shown = (file: string) => relative(WORKSPACE_ROOT, file);
const write = (file: string, schema: JsonObject) =>
  writeFileSync(file, `${JSON.stringify(schema, null, 2)}\n`);

describe('published event schemas', () => {
  it.each(EVENT_DEFINITIONS.map((def) => [def.type, def] as const))(
    '%s stays compatible with its published schema',
    (type, def) => {
      const file = snapshotFile(type);
      // Through JSON, so that it compares like the snapshot read from disk.
      const current = JSON.parse(JSON.stringify(dataJsonSchema(def))) as JsonObject;

      if (!existsSync(file)) {
        if (UPDATE) return write(file, current);
        throw new Error(
          `${type} has no published schema at ${shown(file)}.\n` +
            `A new event type is published by committing its snapshot. Create it with:\n  ${RECORD_COMMAND}`,
        );
      }

      const published = JSON.parse(readFileSync(file, 'utf8')) as JsonObject;
      const violations = findIncompatibilities(published, current);
      if (violations.length > 0) {
        throw new Error(
          `${type} no longer matches its published schema ${shown(file)}:\n` +
            violations.map((v) => `  - ${v.path}: ${v.message}`).join('\n') +
            `\nA published version may only gain optional fields. Keep ${type} as published and add ` +
            `${def.baseType}.v${def.version + 1} to the catalog instead; producers emit both during the migration.`,
        );
      }

      if (isDeepStrictEqual(published, current)) return;
      if (UPDATE) return write(file, current);
      // Compared the other way round, a compatible change shows up as "property removed"; edited
      // descriptions alone do not need recording.
      const unrecorded = findIncompatibilities(current, published);
      if (unrecorded.length > 0) {
        throw new Error(
          `${type} has compatible changes not yet recorded in ${shown(file)} ` +
            `(${unrecorded.map((v) => v.path).join(', ')}).\nRecord them with:\n  ${RECORD_COMMAND}`,
        );
      }
    },
  );

  it('keeps every published type in the catalog', () => {
    const orphans = readdirSync(PUBLISHED_DIR)
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .filter((type) => !isEventType(type));
    if (orphans.length > 0) {
      throw new Error(
        `Published event types missing from the catalog: ${orphans.join(', ')}.\n` +
          'Consumers may still depend on them (and on replays of stored events): a published type is never removed.',
      );
    }
  });
});
