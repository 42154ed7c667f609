/**
 * The registry's audit chain verification over 100,000 entries: `npx tsx
 * bench/registry/audit-verify.ts` (own embedded Postgres) prints
 * `registry.audit_verify_100k_entries: <ms> ms`. benchAuditVerify() runs against a database
 * whose registry migrations are already applied (e.g. from a larger bench).
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createDataSource, migrateUp } from '@cairn/persistence';
import { createTestDatabase, startRunPostgres, stopRunPostgres } from '@cairn/testing';
import { auditEntryHash, type HashedAuditFields } from '../../apps/registry/src/audit/audit-chain';
import { AuditLog } from '../../apps/registry/src/audit/audit-log';
import { auditSettings, createAuditSigner } from '../../apps/registry/src/audit/audit-signer';
import { Baseline1764000000000 } from '../../apps/registry/src/migrations/1764000000000-baseline';
import { AuditLog1764220000000 } from '../../apps/registry/src/migrations/1764220000000-audit-log';

const ENTRIES = 100_000;
const ROWS_PER_INSERT = 2_000;
const SCHEMA = 'registry';

/**
 * Appends ENTRIES valid chained entries after the current head: the chain is computed here and
 * written with multi-row INSERTs in one transaction (the tables' triggers check every link, and
 * refuse only UPDATE/DELETE/TRUNCATE), which is far faster than appending one by one.
 */
async function seed(pg: Client, count: number): Promise<void> {
  await pg.query('BEGIN');
  try {
    const { rows } = await pg.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM "${SCHEMA}".audit_head FOR UPDATE`,
    );
    let seq = Number(rows[0].seq);
    let prevHash = rows[0].hash;
    const end = seq + count;
    while (seq < end) {
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let i = 0; i < ROWS_PER_INSERT && seq < end; i++) {
        seq++;
        const version = (seq % 50) + 1;
        const e: HashedAuditFields = {
          seq,
          id: randomUUID(),
          prevHash,
          occurredAt: 1_700_000_000_000 + seq * 37,
          actor: `user-${seq % 17}`,
          action: 'model_version.transition',
          objectType: 'model_version',
          objectId: `model-${seq % 200}/${version}`,
          model: `model-${seq % 200}`,
          beforeJson: `{"aliases":["champion"],"stage":"Staging","version":${version}}`,
          afterJson: `{"aliases":[],"stage":"Production","version":${version}}`,
          reason: seq % 3 === 0 ? null : `promotion request ${seq} approved`,
        };
        const hash = auditEntryHash(e);
        const base = values.length;
        values.push(
          e.seq,
          e.id,
          e.occurredAt,
          e.actor,
          e.action,
          e.objectType,
          e.objectId,
          e.model,
          e.beforeJson,
          e.afterJson,
          e.reason,
          e.prevHash,
          hash,
        );
        tuples.push(`(${Array.from({ length: 13 }, (_, k) => `$${base + k + 1}`).join(',')})`);
        prevHash = hash;
      }
      await pg.query(
        `INSERT INTO "${SCHEMA}".audit_log (seq, entry_id, occurred_at, actor, action, object_type, object_id,
           model, before_json, after_json, reason, prev_hash, hash) VALUES ${tuples.join(',')}`,
        values,
      );
    }
    await pg.query(`UPDATE "${SCHEMA}".audit_head SET seq = $1, hash = $2`, [seq, prevHash]);
    await pg.query('COMMIT');
  } catch (err) {
    await pg.query('ROLLBACK');
    throw err;
  }
}

/** Seeds 100,000 entries (plus one signed checkpoint) and times a full verify(). */
export async function benchAuditVerify(databaseUrl: string): Promise<{ entries: number; ms: number }> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  const ds = createDataSource({ url: databaseUrl, schema: SCHEMA, service: 'registry', migrations: [] });
  await ds.initialize();
  try {
    await seed(pg, ENTRIES);
    await pg.query('ANALYZE "registry".audit_log');
    const { privateKey } = generateKeyPairSync('ed25519');
    const signer = createAuditSigner(
      auditSettings.parse({
        CAIRN_REGISTRY_AUDIT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      }),
    );
    const log = new AuditLog(ds, { schema: SCHEMA, signer });
    await log.checkpoint();
    const started = process.hrtime.bigint();
    const result = await log.verify();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (!result.ok || result.entriesChecked < ENTRIES) {
      throw new Error(`verify failed on a valid chain: ${JSON.stringify(result)}`);
    }
    return { entries: result.entriesChecked, ms: Math.round(ms) };
  } finally {
    await ds.destroy();
    await pg.end();
  }
}

/** A fresh database with the audit tables only, the 100,000-entry chain and its verification (ms). */
export async function benchAuditVerifyOnFreshDatabase(): Promise<{ entries: number; ms: number }> {
  const db = await createTestDatabase('bench_audit');
  try {
    const ds = createDataSource({
      url: db.url,
      schema: SCHEMA,
      service: 'registry',
      migrations: [Baseline1764000000000, AuditLog1764220000000],
    });
    await ds.initialize();
    try {
      await migrateUp(ds, SCHEMA);
    } finally {
      await ds.destroy();
    }
    return await benchAuditVerify(db.url);
  } finally {
    await db.drop();
  }
}

async function main(): Promise<void> {
  await startRunPostgres();
  try {
    const { ms } = await benchAuditVerifyOnFreshDatabase();
    console.log(`registry.audit_verify_100k_entries: ${ms} ms`);
  } finally {
    await stopRunPostgres();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
