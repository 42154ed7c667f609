import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first migration of the monitor schema. It records in the catalog which service owns the
 * schema, so an operator inspecting a shared database sees it; tables arrive with features.
 */
export class Baseline1764000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const schema = q.connection.driver.schema ?? 'monitor';
    await q.query(
      `COMMENT ON SCHEMA "${schema}" IS 'Owned by the Cairn monitor service. Other services never read it.'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const schema = q.connection.driver.schema ?? 'monitor';
    await q.query(`COMMENT ON SCHEMA "${schema}" IS NULL`);
  }
}
