import { Client } from 'pg';
import { createTestDatabase, type TestDatabase, testPostgresUrl } from '@cairn/testing';
import { PostgresEventBus } from '../src/postgres-bus';
import { type BackboneFixture, describeBackboneContract } from './backbone.contract';

/**
 * The backbone suite on the Postgres log. The bus lives in its own database, so an outage of
 * the bus can be made without touching the producer's and consumer's database: the bus
 * database stops accepting connections and every open session to it is terminated.
 */
let db: TestDatabase;
let admin: PostgresEventBus;

async function asSuperuser(sql: string): Promise<void> {
  const c = new Client({ connectionString: testPostgresUrl() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const fixture: BackboneFixture = {
  newBus: async () => new PostgresEventBus({ connection: db.url, pollIntervalMs: 200 }),
  createTopic: (name, partitions) => admin.ensureTopics([{ name, partitions }]),
  outage: {
    async down() {
      await asSuperuser(`ALTER DATABASE "${db.name}" WITH ALLOW_CONNECTIONS false`);
      await asSuperuser(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db.name}'`,
      );
    },
    async up() {
      await asSuperuser(`ALTER DATABASE "${db.name}" WITH ALLOW_CONNECTIONS true`);
    },
  },
};

beforeAll(async () => {
  db = await createTestDatabase('pgbus');
  admin = new PostgresEventBus({ connection: db.url });
});
afterAll(async () => {
  await admin?.close();
  await db?.drop();
});

describeBackboneContract('postgres log', () => fixture);
