import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const TEST_DATABASE_ENV = 'CAIRN_TEST_POSTGRES_URL';

/** The admin URL of the run's embedded Postgres, started by the Jest global setup. */
export function testPostgresUrl(): string {
  const url = process.env[TEST_DATABASE_ENV];
  if (!url) {
    throw new Error(
      `${TEST_DATABASE_ENV} is not set: this suite needs the testing library's Jest globalSetup (libs/testing/src/jest/global-setup.ts)`,
    );
  }
  return url;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the run's Postgres, for one suite. */
export async function createTestDatabase(prefix = 't'): Promise<TestDatabase> {
  const admin = testPostgresUrl();
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
