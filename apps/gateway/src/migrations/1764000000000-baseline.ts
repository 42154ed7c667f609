import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The first migration of the gateway schema. It records in the catalog which service owns the
 * schema, so an operator inspecting a shared database sees it; tables arrive with features.
 */
export class Baseline1764000000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const schema = q.connection.driver.schema ?? 'gateway';
    await q.query(
      `COMMENT ON SCHEMA "${schema}" IS 'Owned by the Cairn gateway service. Other services never read it.'`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const schema = q.connection.driver.schema ?? 'gateway';
    await q.query(`COMMENT ON SCHEMA "${schema}" IS NULL`);
  }
}
