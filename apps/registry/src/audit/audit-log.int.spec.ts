import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import canonicalize from 'canonicalize';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource, migrateUp } from '@cairn/persistence';
import { AppError } from '@cairn/rpc';
import { createTestDatabase, type TestDatabase, waitFor } from '@cairn/testing';
import { Baseline1764000000000 } from '../migrations/1764000000000-baseline';
import { AuditLog1764220000000 } from '../migrations/1764220000000-audit-log';
import { auditEntryHash, GENESIS_HASH } from './audit-chain';
import { AuditCheckpointer } from './audit-checkpointer';
import { type AuditEntryInput, AuditLog, type AuditRecord } from './audit-log';
import { auditSettings, type AuditSigner, createAuditSigner } from './audit-signer';

/*
 * The audit log against real Postgres: the database refuses changes, and every kind of
 * tampering done by someone who bypasses that (a superuser with triggers disabled) is caught by
 * verify() at the entry where it happened.
 */

jest.setTimeout(120_000);

const SCHEMA = 'registry';
// A small batch so the keyset walk crosses many batch boundaries in these tests.
const BATCH = 7;

let db: TestDatabase;
let ds: DataSource;
let admin: Client;
let keyDir: string;
let signer: AuditSigner;
let log: AuditLog;

beforeAll(async () => {
  db = await createTestDatabase('audit');
  ds = createDataSource({
    url: db.url,
    schema: SCHEMA,
    service: 'registry',
    migrations: [Baseline1764000000000, AuditLog1764220000000],
    poolMax: 30,
  });
  await ds.initialize();
  await migrateUp(ds, SCHEMA);
  admin = new Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`SET search_path = ${SCHEMA}`);
  keyDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-audit-keys-'));
  signer = createAuditSigner(auditSettings.parse({ CAIRN_REGISTRY_AUDIT_KEY_DIR: keyDir }));
  log = new AuditLog(ds, { schema: SCHEMA, signer, verifyBatchSize: BATCH });
});

afterAll(async () => {
  await admin?.end();
  await ds?.destroy();
  await db?.drop();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

/** What an attacker with superuser access does: bypass the triggers and change the tables. */
async function tamper(...statements: string[]): Promise<void> {
  await admin.query('BEGIN');
  await admin.query('SET LOCAL session_replication_role = replica');
  for (const sql of statements) await admin.query(sql);
  await admin.query('COMMIT');
}

beforeEach(async () => {
  await tamper(
    'TRUNCATE audit_log, audit_checkpoints',
    `UPDATE audit_head SET seq = 0, hash = '${GENESIS_HASH}'`,
  );
});

function entry(i: number, extra: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    actor: i % 2 ? 'alice' : 'bob',
    action: 'model_version.transition',
    objectType: 'model_version',
    objectId: `fraud/${i}`,
    model: 'fraud',
    before: { stage: 'Staging', version: i },
    after: { stage: 'Production', version: i },
    reason: `promote ${i}`,
    occurredAt: 1_700_000_000_000 + i * 1000,
    ...extra,
  };
}

async function appendOne(e: AuditEntryInput, target: AuditLog = log): Promise<AuditRecord> {
  return ds.transaction((m) => target.append(m, e));
}

async function appendMany(n: number, target: AuditLog = log): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  const start = (await headSeq()) + 1;
  for (let i = start; i < start + n; i++) out.push(await appendOne(entry(i), target));
  return out;
}

async function headSeq(): Promise<number> {
  const { rows } = await admin.query<{ seq: string }>('SELECT seq FROM audit_head');
  return Number(rows[0].seq);
}

async function hashAt(seq: number): Promise<string> {
  const { rows } = await admin.query<{ hash: string }>('SELECT hash FROM audit_log WHERE seq = $1', [seq]);
  return rows[0].hash;
}

describe('append and verify', () => {
  it('chains appended entries and verifies them, across batch boundaries', async () => {
    const records = await appendMany(30);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(records[0].prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i++) expect(records[i].prevHash).toBe(records[i - 1].hash);
    expect(await log.checkpoint()).toMatchObject({ seq: 30, hash: records[29].hash, keyId: signer.keyId });

    const result = await log.verify();
    expect(result).toEqual({
      ok: true,
      entriesChecked: 30,
      headSeq: 30,
      checkpointsChecked: 1,
      lastCheckpointSeq: 30,
    });
  });

  it('verifies an empty log', async () => {
    expect(await log.verify()).toMatchObject({ ok: true, entriesChecked: 0, headSeq: 0 });
  });

  it('stores exactly the canonical JSON it hashed, for awkward values', async () => {
    const awkward = {
      zeta: 'last by code unit',
      alpha: [
        1e21,
        1e-7,
        0.1,
        123456789.123,
        -0.5,
        9007199254740991,
        2 ** 60,
        5e-324,
        1.7976931348623157e308,
      ],
      unicode: {
        é: 'café ☕ 日本語 😀',
        '\u20ac': '\u0000 nul and \u2028 separators \u007f',
        '😀': 'astral key',
      },
      nested: { b: { d: [{ z: 1, a: 2 }], c: null }, a: true },
      empty: { obj: {}, arr: [], str: '' },
      '': 'empty key',
      escapes: '"quoted"\\\n\t\r\b\f',
    };
    const reordered = JSON.parse(JSON.stringify(awkward), (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).reverse())
        : v,
    ) as unknown;
    const a = await appendOne(entry(1, { before: awkward, after: reordered, actor: 'zoë 😀' }));
    const b = await appendOne(entry(2, { before: [awkward, 'x'], after: null, reason: null, model: null }));

    const { rows } = await admin.query<{ before_json: string; after_json: string }>(
      'SELECT before_json, after_json FROM audit_log WHERE seq = $1',
      [a.seq],
    );
    // Key order does not matter: both documents are stored as the same canonical text.
    expect(rows[0].before_json).toBe(canonicalize(awkward));
    expect(rows[0].after_json).toBe(rows[0].before_json);
    expect(rows[0].before_json).toContain('"alpha":[1e+21,1e-7,0.1,123456789.123,-0.5');

    expect(await log.verify()).toMatchObject({ ok: true, entriesChecked: 2 });
    const { entries } = await log.list();
    expect(entries.map((e) => e.seq)).toEqual([b.seq, a.seq]);
    const expected = JSON.parse(canonicalize(awkward)!) as unknown;
    expect(entries[1].before).toEqual(expected);
    expect(entries[1].after).toEqual(expected);
    expect(entries[1].actor).toBe('zoë 😀');
    expect(entries[0]).toMatchObject({ before: [expected, 'x'], after: null, reason: null, model: null });
    // The hash recomputed from what list() returns equals the stored one.
    expect(
      auditEntryHash({
        ...entries[1],
        beforeJson: canonicalize(entries[1].before)!,
        afterJson: canonicalize(entries[1].after)!,
      }),
    ).toBe(a.hash);
  });

  it('refuses what cannot be stored exactly as hashed', async () => {
    const bad: Array<Partial<AuditEntryInput>> = [
      { before: { x: NaN } },
      { after: { x: Infinity } },
      { after: { x: 10n } },
      { actor: '' },
      { actor: 'lone \ud800 surrogate' },
      { reason: 'nul \u0000' },
      { occurredAt: 1.5 },
    ];
    for (const extra of bad) {
      const err = await appendOne(entry(1, extra)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ kind: 'invalid_argument', reason: 'INVALID_AUDIT_ENTRY' });
    }
    expect(await headSeq()).toBe(0);
  });

  it('refuses to append outside a transaction', async () => {
    await expect(log.append(ds.manager, entry(1))).rejects.toThrow(/inside the transaction/);
  });

  it('leaves neither an entry nor a gap when the transaction rolls back', async () => {
    await appendMany(3);
    const failure = new Error('the change failed after auditing');
    await expect(
      ds.transaction(async (m) => {
        await log.append(m, entry(4));
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await headSeq()).toBe(3);
    const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM audit_log');
    expect(rows[0].n).toBe('3');
    const next = await appendOne(entry(5));
    expect(next.seq).toBe(4);
    expect(await log.verify()).toMatchObject({ ok: true, entriesChecked: 4 });
  });

  it('serializes 20 concurrent transactions into one contiguous chain', async () => {
    const n = 20;
    let started = 0;
    let release!: () => void;
    const allStarted = new Promise<void>((resolve) => (release = resolve));
    // Every transaction is open (and has done work) before any appends, so all 20 contend for
    // the head lock at once.
    const records = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        ds.transaction(async (m) => {
          await m.query('SELECT txid_current()');
          if (++started === n) release();
          await allStarted;
          return log.append(m, entry(i + 1, { actor: `writer-${i}` }));
        }),
      ),
    );
    expect(records.map((r) => r.seq).sort((a, b) => a - b)).toEqual(
      Array.from({ length: n }, (_, i) => i + 1),
    );
    expect(await log.verify()).toMatchObject({ ok: true, entriesChecked: n, headSeq: n });
  });
});

describe('the database refuses changes', () => {
  beforeEach(async () => {
    await appendMany(3);
    await log.checkpoint();
  });

  it.each([
    ['UPDATE', `UPDATE audit_log SET reason = 'rewritten' WHERE seq = 2`],
    ['UPDATE', `UPDATE audit_log SET reason = 'rewritten' WHERE false`],
    ['DELETE', 'DELETE FROM audit_log WHERE seq = 3'],
    ['TRUNCATE', 'TRUNCATE audit_log'],
    ['UPDATE', `UPDATE audit_checkpoints SET signature = 'AAAA'`],
    ['DELETE', 'DELETE FROM audit_checkpoints'],
    ['TRUNCATE', 'TRUNCATE audit_checkpoints'],
    ['DELETE', 'DELETE FROM audit_head'],
  ])('refuses %s: %s', async (op, sql) => {
    await expect(admin.query(sql)).rejects.toMatchObject({
      code: '42501',
      message: expect.stringContaining(`append-only: ${op} refused`),
    });
    expect(await log.verify()).toMatchObject({ ok: true, entriesChecked: 3 });
  });

  it('refuses to rewind the head or to insert an entry that does not link', async () => {
    await expect(
      admin.query(`UPDATE audit_head SET seq = 2, hash = '${await hashAt(2)}'`),
    ).rejects.toMatchObject({
      code: '42501',
    });
    await expect(
      admin.query(
        `INSERT INTO audit_log (seq, entry_id, occurred_at, actor, action, object_type, object_id, prev_hash, hash)
         VALUES (5, gen_random_uuid(), 0, 'mallory', 'x', 'x', 'x', $1, $1)`,
        [await hashAt(3)],
      ),
    ).rejects.toMatchObject({ code: '23000' });
    await expect(
      admin.query(
        `INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_id, signature) VALUES (9, $1, 0, 'k', 'AAAA')`,
        [await hashAt(3)],
      ),
    ).rejects.toMatchObject({ code: '23000' });
  });
});

describe('tampering is caught at the entry where it happened', () => {
  beforeEach(async () => {
    await appendMany(20);
  });

  it('an edited field: HASH_MISMATCH at that entry', async () => {
    await tamper(`UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 7`);
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'HASH_MISMATCH',
      firstBadSeq: 7,
      entriesChecked: 6,
    });
  });

  it('an edited document, even one that parses to the same value: HASH_MISMATCH', async () => {
    await tamper(`UPDATE audit_log SET after_json = ' ' || after_json WHERE seq = 12`);
    expect(await log.verify()).toMatchObject({ ok: false, reason: 'HASH_MISMATCH', firstBadSeq: 12 });
  });

  it('a deleted entry: MISSING_ENTRY at the entry after the gap', async () => {
    await tamper('DELETE FROM audit_log WHERE seq = 9');
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'MISSING_ENTRY',
      firstBadSeq: 10,
      entriesChecked: 8,
      message: expect.stringContaining('entry 9 is missing'),
    });
  });

  it('two entries reordered (seq swapped): fails at the first of them', async () => {
    await tamper(
      'UPDATE audit_log SET seq = 1000 WHERE seq = 5',
      'UPDATE audit_log SET seq = 5 WHERE seq = 6',
      'UPDATE audit_log SET seq = 6 WHERE seq = 1000',
    );
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'BROKEN_LINK',
      firstBadSeq: 5,
      entriesChecked: 4,
    });
  });

  it('an edited entry with its own hash recomputed: BROKEN_LINK at the next entry', async () => {
    const { rows } = await admin.query<Record<string, string | null>>(
      'SELECT * FROM audit_log WHERE seq = 7',
    );
    const r = rows[0];
    const forged = auditEntryHash({
      seq: 7,
      id: r.entry_id!,
      prevHash: r.prev_hash!,
      occurredAt: Number(r.occurred_at),
      actor: 'mallory',
      action: r.action!,
      objectType: r.object_type!,
      objectId: r.object_id!,
      model: r.model,
      beforeJson: r.before_json,
      afterJson: r.after_json,
      reason: r.reason,
    });
    await tamper(`UPDATE audit_log SET actor = 'mallory', hash = '${forged}' WHERE seq = 7`);
    expect(await log.verify()).toMatchObject({ ok: false, reason: 'BROKEN_LINK', firstBadSeq: 8 });
  });

  it('a chain rewritten consistently from an entry on: CHECKPOINT_MISMATCH at the checkpoint', async () => {
    await log.checkpoint(); // at 20
    // Rehash everything from entry 7 on, as an attacker without the signing key can.
    const { rows } = await admin.query<Record<string, string | null>>(
      'SELECT * FROM audit_log WHERE seq >= 6 ORDER BY seq',
    );
    let prev = rows[0].hash!;
    const updates: string[] = [];
    for (const r of rows.slice(1)) {
      const seq = Number(r.seq);
      const hash = auditEntryHash({
        seq,
        id: r.entry_id!,
        prevHash: prev,
        occurredAt: Number(r.occurred_at),
        actor: seq === 7 ? 'mallory' : r.actor!,
        action: r.action!,
        objectType: r.object_type!,
        objectId: r.object_id!,
        model: r.model,
        beforeJson: r.before_json,
        afterJson: r.after_json,
        reason: r.reason,
      });
      updates.push(
        `UPDATE audit_log SET actor = ${seq === 7 ? `'mallory'` : 'actor'}, prev_hash = '${prev}', hash = '${hash}' WHERE seq = ${seq}`,
      );
      prev = hash;
    }
    await tamper(...updates, `UPDATE audit_head SET hash = '${prev}'`);
    expect(await log.verify()).toMatchObject({ ok: false, reason: 'CHECKPOINT_MISMATCH', firstBadSeq: 20 });
  });

  it('a truncated tail with the head rewound: TRUNCATED, caught by the last checkpoint', async () => {
    await log.checkpoint(); // at 20
    await tamper(
      'DELETE FROM audit_log WHERE seq > 14',
      `UPDATE audit_head SET seq = 14, hash = '${await hashAt(14)}'`,
    );
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'TRUNCATED',
      firstBadSeq: 15,
      entriesChecked: 14,
      headSeq: 14,
      message: expect.stringContaining('checkpoint at seq 20'),
    });
  });

  it('a truncated tail with the head left alone: TRUNCATED', async () => {
    await tamper('DELETE FROM audit_log WHERE seq > 17');
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'TRUNCATED',
      firstBadSeq: 18,
      headSeq: 20,
    });
  });

  it('a forged checkpoint signature: CHECKPOINT_SIGNATURE_INVALID', async () => {
    await tamper(
      `INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_id, signature)
       VALUES (20, '${await hashAt(20)}', ${Date.now()}, '${signer.keyId}', '${randomBytes(64).toString('base64')}')`,
    );
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'CHECKPOINT_SIGNATURE_INVALID',
      firstBadSeq: 20,
    });
  });

  it('a genuine checkpoint with its claims edited: CHECKPOINT_SIGNATURE_INVALID', async () => {
    await log.checkpoint();
    await tamper(`UPDATE audit_checkpoints SET created_at = created_at + 1`);
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'CHECKPOINT_SIGNATURE_INVALID',
      firstBadSeq: 20,
    });
  });

  it('a forged checkpoint past a truncated tail is reported as forged, not as truncation', async () => {
    await tamper(
      'DELETE FROM audit_log WHERE seq > 10',
      `UPDATE audit_head SET seq = 10, hash = '${await hashAt(10)}'`,
      `INSERT INTO audit_checkpoints (seq, head_hash, created_at, key_id, signature)
       VALUES (15, '${'a'.repeat(64)}', 0, '${signer.keyId}', 'AAAA')`,
    );
    expect(await log.verify()).toMatchObject({
      ok: false,
      reason: 'CHECKPOINT_SIGNATURE_INVALID',
      firstBadSeq: 15,
    });
  });
});

describe('checkpoints', () => {
  it('skips an unmoved head, and keeps one checkpoint per seq across replicas', async () => {
    expect(await log.checkpoint()).toBeNull(); // empty log
    await appendMany(3);
    const replicas = Array.from({ length: 5 }, () => new AuditLog(ds, { schema: SCHEMA, signer }));
    const taken = await Promise.all(replicas.map((r) => r.checkpoint()));
    expect(taken.filter((c) => c !== null)).toHaveLength(1);
    expect(await log.checkpoint()).toBeNull();
    await appendMany(1);
    expect(await log.checkpoint()).toMatchObject({ seq: 4 });
    expect(await log.verify()).toMatchObject({ ok: true, checkpointsChecked: 2, lastCheckpointSeq: 4 });
  });

  it('still verifies checkpoints of a rotated-out key when its public key is configured', async () => {
    const oldKeyDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-audit-old-'));
    try {
      const oldSigner = createAuditSigner(auditSettings.parse({ CAIRN_REGISTRY_AUDIT_KEY_DIR: oldKeyDir }));
      const oldLog = new AuditLog(ds, { schema: SCHEMA, signer: oldSigner });
      await appendMany(5, oldLog);
      await oldLog.checkpoint();

      const { privateKey } = generateKeyPairSync('ed25519');
      const oldPublic = oldSigner.verificationKeys.get(oldSigner.keyId)!;
      const newSigner = createAuditSigner(
        auditSettings.parse({
          CAIRN_REGISTRY_AUDIT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }),
          CAIRN_REGISTRY_AUDIT_SIGNING_KEY_ID: 'registry-2026-09',
          CAIRN_REGISTRY_AUDIT_PUBLIC_KEYS: JSON.stringify({
            [oldSigner.keyId]: oldPublic.export({ type: 'spki', format: 'pem' }),
          }),
        }),
      );
      const newLog = new AuditLog(ds, { schema: SCHEMA, signer: newSigner, verifyBatchSize: BATCH });
      await appendMany(5, newLog);
      expect(await newLog.checkpoint()).toMatchObject({ seq: 10, keyId: 'registry-2026-09' });
      expect(await newLog.verify()).toMatchObject({ ok: true, entriesChecked: 10, checkpointsChecked: 2 });

      // Without the old public key, the old checkpoint cannot be trusted.
      const withoutOld = new AuditLog(ds, {
        schema: SCHEMA,
        verificationKeys: new Map([[newSigner.keyId, newSigner.verificationKeys.get(newSigner.keyId)!]]),
      });
      expect(await withoutOld.verify()).toMatchObject({
        ok: false,
        reason: 'CHECKPOINT_SIGNATURE_INVALID',
        firstBadSeq: 5,
        message: expect.stringContaining('unknown key'),
      });
    } finally {
      await rm(oldKeyDir, { recursive: true, force: true });
    }
  });

  it('the checkpointer anchors the head periodically and once more when stopped', async () => {
    const errors: unknown[] = [];
    const checkpointer = new AuditCheckpointer(log, 20, (e) => errors.push(e));
    checkpointer.start();
    try {
      await appendMany(2);
      await waitFor('a checkpoint at seq 2', async () =>
        (await log.latestCheckpoint())?.seq === 2 ? true : undefined,
      );
      await appendMany(1);
      await waitFor('a checkpoint at seq 3', async () =>
        (await log.latestCheckpoint())?.seq === 3 ? true : undefined,
      );
    } finally {
      await checkpointer.stop(false);
    }
    const stopped = new AuditCheckpointer(log, 60_000, (e) => errors.push(e));
    stopped.start();
    await appendMany(1);
    await stopped.stop();
    expect((await log.latestCheckpoint())?.seq).toBe(4);
    expect(errors).toEqual([]);
    expect(await log.verify()).toMatchObject({ ok: true, entriesChecked: 4, lastCheckpointSeq: 4 });
  });
});

describe('list', () => {
  beforeEach(async () => {
    for (let i = 1; i <= 25; i++) {
      await appendOne(
        entry(i, {
          model: i % 5 === 0 ? null : i % 2 ? 'fraud' : 'churn',
          actor: i % 3 ? 'alice' : 'bob',
          occurredAt: 1_000 * i,
        }),
      );
    }
  });

  const seqs = (from: number, to: number, keep: (i: number) => boolean) =>
    Array.from({ length: to - from + 1 }, (_, k) => to - k).filter(keep);

  it('filters by model, actor, object and time, newest first', async () => {
    expect((await log.list({ model: 'fraud' })).entries.map((e) => e.seq)).toEqual(
      seqs(1, 25, (i) => i % 5 !== 0 && i % 2 === 1),
    );
    expect((await log.list({ actor: 'bob', model: 'churn' })).entries.map((e) => e.seq)).toEqual(
      seqs(1, 25, (i) => i % 3 === 0 && i % 5 !== 0 && i % 2 === 0),
    );
    expect((await log.list({ fromTime: 5_000, toTime: 9_000 })).entries.map((e) => e.seq)).toEqual([
      8, 7, 6, 5,
    ]);
    expect((await log.list({ objectType: 'model_version', objectId: 'fraud/13' })).entries).toMatchObject([
      {
        seq: 13,
        actor: 'alice',
        model: 'fraud',
        before: { stage: 'Staging', version: 13 },
        reason: 'promote 13',
      },
    ]);
    expect((await log.list({ actor: 'nobody' })).entries).toEqual([]);
  });

  it('pages with opaque tokens without repeats or gaps', async () => {
    const collected: number[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      const page = await log.list({ actor: 'alice', maxResults: 4, pageToken });
      expect(page.entries.length).toBeLessThanOrEqual(4);
      collected.push(...page.entries.map((e) => e.seq));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    const expected = seqs(1, 25, (i) => i % 3 !== 0);
    expect(collected).toEqual(expected);
    expect(pages).toBe(Math.ceil(expected.length / 4));
  });

  it('rejects bad tokens and bounds', async () => {
    const { nextPageToken } = await log.list({ model: 'fraud', maxResults: 2 });
    expect(nextPageToken).toBeDefined();
    await expect(log.list({ model: 'churn', pageToken: nextPageToken })).rejects.toMatchObject({
      reason: 'INVALID_PAGE_TOKEN',
    });
    await expect(log.list({ pageToken: 'not a token!' })).rejects.toMatchObject({
      reason: 'INVALID_PAGE_TOKEN',
    });
    await expect(log.list({ pageToken: Buffer.from('{"v":1}').toString('base64url') })).rejects.toMatchObject(
      {
        reason: 'INVALID_PAGE_TOKEN',
      },
    );
    await expect(log.list({ maxResults: 0 })).rejects.toMatchObject({ reason: 'INVALID_MAX_RESULTS' });
    await expect(log.list({ maxResults: 1001 })).rejects.toMatchObject({ reason: 'INVALID_MAX_RESULTS' });
    await expect(log.list({ fromTime: 1.5 })).rejects.toMatchObject({ reason: 'INVALID_TIME_RANGE' });
  });
});

describe('migration', () => {
  it('reverts cleanly and applies again', async () => {
    const other = await createTestDatabase('audit_mig');
    const mds = createDataSource({
      url: other.url,
      schema: SCHEMA,
      service: 'registry',
      migrations: [Baseline1764000000000, AuditLog1764220000000],
    });
    await mds.initialize();
    try {
      await migrateUp(mds, SCHEMA);
      const tables = async () =>
        (
          await mds.query<Array<{ table_name: string }>>(
            `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'audit%' ORDER BY 1`,
            [SCHEMA],
          )
        ).map((r) => r.table_name);
      expect(await tables()).toEqual(['audit_checkpoints', 'audit_head', 'audit_log']);
      await mds.undoLastMigration({ transaction: 'each' });
      expect(await tables()).toEqual([]);
      expect(await migrateUp(mds, SCHEMA)).toEqual(['AuditLog1764220000000']);
      expect(await tables()).toEqual(['audit_checkpoints', 'audit_head', 'audit_log']);
    } finally {
      await mds.destroy();
      await other.drop();
    }
  });
});
