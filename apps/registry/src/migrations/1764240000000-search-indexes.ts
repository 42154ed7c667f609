import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for search_registered_models and search_model_versions (apps/registry/src/search).
 *
 * - Versions are ordered by `last_updated_time DESC` by default (and may be by
 *   `creation_time`): with these indexes a page starts where its token's keys are and reads
 *   about one page of rows, instead of sorting every version on every page. Registered models
 *   already have theirs (RegistryTables1764210000000) and a unique index on the name.
 * - Tag clauses (`tags.team = 'nlp'`) find their models and versions from (key, value) without
 *   visiting the heap. Values can be 100,000 characters long, more than a btree entry holds,
 *   so the index keeps the first 256 characters; the search compares that prefix and, for a
 *   longer literal, the full value as well.
 */
export class SearchIndexes1764240000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      CREATE INDEX model_versions_updated_idx ON "${s}".model_versions (last_updated_time, model_id, version);
      CREATE INDEX model_versions_created_idx ON "${s}".model_versions (creation_time, model_id, version);
      CREATE INDEX registered_model_tags_key_value_idx ON "${s}".registered_model_tags (key, left(value, 256))
        INCLUDE (model_id);
      CREATE INDEX model_version_tags_key_value_idx ON "${s}".model_version_tags (key, left(value, 256))
        INCLUDE (model_id, version);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      DROP INDEX "${s}".model_version_tags_key_value_idx;
      DROP INDEX "${s}".registered_model_tags_key_value_idx;
      DROP INDEX "${s}".model_versions_created_idx;
      DROP INDEX "${s}".model_versions_updated_idx;
    `);
  }
}
