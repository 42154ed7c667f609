import { createHash } from 'node:crypto';
import type { Pool } from 'pg';

/**
 * The `bus` schema: the Postgres event log. Versioned migrations recorded in
 * `bus.migrations`; applying them is idempotent and safe from several processes at once
 * (they serialize on a transaction-level advisory lock, which also covers the
 * `CREATE SCHEMA IF NOT EXISTS` race between two first starts).
 *
 * Layout decisions:
 * - `bus.partitions.next_offset` is the partition head. Publishing reserves offsets with
 *   `UPDATE ... SET next_offset = next_offset + n RETURNING`, which row-locks the head until
 *   the publishing transaction commits. A later publisher to the same partition waits on that
 *   lock, so offsets are gapless and become visible in offset order: no reader can ever see
 *   offset N+1 committed while N is still in flight (the property Kafka's log gives for free
 *   and a sequence/serial column does not).
 * - `bus.messages` has no foreign key to its partition: a per-row FK check costs insert
 *   throughput, and rows are only written by `bus.append`, which has just locked that
 *   partition's head row (an unknown partition raises there).
 * - The committed position and the lease of a (group, topic, partition) live in ONE row
 *   (`bus.group_partitions`), instead of separate offsets and leases tables: the commit is
 *   `UPDATE ... SET committed = $x WHERE ... AND owner = $me`, so a commit and a takeover of
 *   the same partition serialize on that row's lock and a member that lost the partition can
 *   never move the position again. `committed` is Kafka's committed offset: the next offset
 *   to deliver.
 * - A lease has no expiry of its own: it is valid while its owner's row in `bus.members` is
 *   (heartbeats renew `expires_at`). One heartbeat write per member instead of one per
 *   partition; a partition whose owner is missing or expired is free to take.
 * - Retention is per topic (`retention_ms`, NULL = keep forever, Kafka's -1).
 */
export const BUS_SCHEMA = 'bus';

interface Migration {
  version: number;
  name: string;
  statements: string[];
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'log, groups and leases',
    statements: [
      `CREATE TABLE bus.topics (
        name          text PRIMARY KEY,
        partitions    integer NOT NULL CHECK (partitions BETWEEN 1 AND 10000),
        retention_ms  bigint CHECK (retention_ms IS NULL OR retention_ms > 0),
        created_at    timestamptz NOT NULL DEFAULT now()
      )`,
      `CREATE TABLE bus.partitions (
        topic        text NOT NULL REFERENCES bus.topics (name) ON DELETE CASCADE,
        partition    integer NOT NULL,
        next_offset  bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (topic, partition)
      )`,
      `CREATE TABLE bus.messages (
        topic       text NOT NULL,
        partition   integer NOT NULL,
        "offset"    bigint NOT NULL,
        key         text NOT NULL,
        value       text NOT NULL,
        headers     jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (topic, partition, "offset")
      )`,
      `CREATE TABLE bus.members (
        group_id    text NOT NULL,
        member_id   text NOT NULL,
        topics      text[] NOT NULL,
        joined_at   timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL,
        PRIMARY KEY (group_id, member_id)
      )`,
      `CREATE TABLE bus.group_partitions (
        group_id      text NOT NULL,
        topic         text NOT NULL,
        partition     integer NOT NULL,
        committed     bigint NOT NULL CHECK (committed >= 0),
        committed_at  timestamptz NOT NULL DEFAULT now(),
        owner         text,
        owner_since   timestamptz,
        PRIMARY KEY (group_id, topic, partition),
        FOREIGN KEY (topic, partition) REFERENCES bus.partitions (topic, partition) ON DELETE CASCADE
      )`,
      // One round trip per publish, whatever the number of partitions: the function reserves
      // offsets per partition, inserts the whole batch with one multi-row INSERT over unnest()
      // arrays and queues one NOTIFY per topic, all in the caller's (single-statement)
      // transaction. Heads are locked in (topic, partition) order so that two publishers
      // spanning the same partitions cannot deadlock. p_seqs is each message's index within
      // its partition in the caller's order, which is how per-key order is kept.
      // The NOTIFY payload lists the partitions written (wake-ups can target their workers);
      // an over-long list is sent empty, meaning "any partition" (payloads must stay < 8000 bytes).
      `CREATE FUNCTION bus.append(
        p_topics text[], p_partitions integer[], p_seqs integer[],
        p_keys text[], p_values text[], p_headers jsonb[]
      ) RETURNS void LANGUAGE plpgsql AS $fn$
      DECLARE
        r record;
        v_base bigint;
        b_topics text[] := '{}';
        b_partitions integer[] := '{}';
        b_bases bigint[] := '{}';
      BEGIN
        FOR r IN
          SELECT u.t, u.p, count(*)::bigint AS n
          FROM unnest(p_topics, p_partitions) AS u(t, p)
          GROUP BY u.t, u.p
          ORDER BY u.t, u.p
        LOOP
          UPDATE bus.partitions SET next_offset = next_offset + r.n
          WHERE topic = r.t AND partition = r.p
          RETURNING next_offset - r.n INTO v_base;
          IF NOT FOUND THEN
            RAISE EXCEPTION 'BUS_UNKNOWN_PARTITION: %/%', r.t, r.p USING ERRCODE = 'P0002';
          END IF;
          b_topics := array_append(b_topics, r.t);
          b_partitions := array_append(b_partitions, r.p);
          b_bases := array_append(b_bases, v_base);
        END LOOP;

        INSERT INTO bus.messages (topic, partition, "offset", key, value, headers)
        SELECT m.t, m.p, b.base + m.s, m.k, m.v, m.h
        FROM unnest(p_topics, p_partitions, p_seqs, p_keys, p_values, p_headers) AS m(t, p, s, k, v, h)
        JOIN unnest(b_topics, b_partitions, b_bases) AS b(t, p, base) ON b.t = m.t AND b.p = m.p;

        PERFORM pg_notify('bus_t_' || left(md5(x.t), 16), CASE WHEN length(x.ps) > 7000 THEN '' ELSE x.ps END)
        FROM (
          SELECT y.t, string_agg(y.p::text, ',') AS ps
          FROM unnest(b_topics, b_partitions) AS y(t, p)
          GROUP BY y.t
        ) AS x;
      END
      $fn$`,
    ],
  },
];

/** Applies the migrations that are not recorded yet; safe to call concurrently and repeatedly. */
export async function migrateBusSchema(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('cairn.bus.migrate'))`);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${BUS_SCHEMA}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${BUS_SCHEMA}.migrations (
      version     integer PRIMARY KEY,
      name        text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${BUS_SCHEMA}.migrations`);
    const applied = new Set(rows.map((r) => r.version));
    for (const m of MIGRATIONS) {
      if (applied.has(m.version)) continue;
      for (const sql of m.statements) await client.query(sql);
      await client.query(`INSERT INTO ${BUS_SCHEMA}.migrations (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * NOTIFY channels. Channel names are identifiers limited to 63 bytes and topic/group names
 * may be longer or need quoting, so channels are named by a hash prefix ([a-z0-9_] only);
 * bus.append computes the same name in SQL (`'bus_t_' || left(md5(topic), 16)`).
 */
export function topicChannel(topic: string): string {
  return `bus_t_${createHash('md5').update(topic, 'utf8').digest('hex').slice(0, 16)}`;
}

/** Membership changes of a group (join, leave, released partitions) are announced here. */
export function groupChannel(groupId: string): string {
  return `bus_g_${createHash('md5').update(groupId, 'utf8').digest('hex').slice(0, 16)}`;
}
