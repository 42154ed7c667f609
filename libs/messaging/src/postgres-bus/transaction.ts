import type { Pool, PoolClient } from 'pg';

/** Runs `fn` in one transaction on a pooled client: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined); // the original error is what matters
    throw err;
  } finally {
    client.release();
  }
}
