import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '@cairn/embedded-postgres';
import { freePort } from '../ports';
import { TEST_DATABASE_ENV } from '../postgres';

type GlobalWithPg = typeof globalThis & { __cairnPostgres?: { stop(): Promise<void> } };

/**
 * One real embedded Postgres per test run (per Jest invocation); suites take a fresh
 * database each through createTestDatabase(). An externally provided server can be used
 * instead by setting CAIRN_TEST_POSTGRES_URL.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env[TEST_DATABASE_ENV]) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-test-pg-'));
  const port = await freePort();
  const logs: string[] = [];
  const pg = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    port,
    onLog: (l) => logs.push(l),
  }).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs.slice(-20).join('\n')}`);
  });
  process.env[TEST_DATABASE_ENV] = pg.url('postgres');
  (globalThis as GlobalWithPg).__cairnPostgres = pg;
}
