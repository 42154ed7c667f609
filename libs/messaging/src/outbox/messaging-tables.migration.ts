import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createMessagingTablesSql, dropMessagingTablesSql } from './messaging-tables';

/**
 * The outbox and inbox tables as a migration of the service that owns them. A service adds a
 * subclass named with its timestamp (TypeORM orders migrations by it), e.g.
 * `export class MessagingTables1764100000000 extends MessagingTablesMigration {}`.
 * The tables go into the schema the migration runs in (the service's own, via search_path).
 */
export abstract class MessagingTablesMigration implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const schema = await currentSchema(q);
    for (const sql of createMessagingTablesSql(schema)) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    const schema = await currentSchema(q);
    for (const sql of dropMessagingTablesSql(schema)) await q.query(sql);
  }
}

async function currentSchema(q: QueryRunner): Promise<string> {
  const [row] = (await q.query('SELECT current_schema() AS schema')) as Array<{ schema: string | null }>;
  if (!row?.schema)
    throw new Error('messaging tables: no current schema (is search_path set to the service schema?)');
  return row.schema;
}
