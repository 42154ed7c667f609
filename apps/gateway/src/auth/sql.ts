import type { EntityManager } from 'typeorm';

/**
 * Runs an UPDATE or DELETE and returns how many rows it changed. TypeORM's `query` returns
 * `[rows, count]` for those statements but plain rows for a SELECT; a CTE keeps one shape.
 */
export async function changed(
  m: Pick<EntityManager, 'query'>,
  statement: string,
  params: unknown[],
): Promise<number> {
  const rows = await m.query<Array<{ n: number }>>(
    `WITH changed AS (${statement} RETURNING 1) SELECT count(*)::int AS n FROM changed`,
    params,
  );
  return rows[0].n;
}
