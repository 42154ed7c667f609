import { createHash, type KeyObject, randomUUID } from 'node:crypto';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { AppError } from '@cairn/rpc';
import {
  auditEntryHash,
  canonicalDocument,
  checkpointMessage,
  checkText,
  GENESIS_HASH,
  type HashedAuditFields,
} from './audit-chain';
import { type AuditSigner, verifySignature } from './audit-signer';

/*
 * The registry's tamper-evident audit log: every state change appends an entry in the same
 * transaction as the change; entries are hash-chained (audit-chain.ts) and the head is
 * periodically signed (checkpoints), so edits, deletions, reordering and a rewound tail are all
 * detected by verify(). Tables: migrations/1764220000000-audit-log.ts.
 */

/** What a caller records about one state change. */
export interface AuditEntryInput {
  /** The principal who made the change. */
  actor: string;
  /** What happened, e.g. `model_version.transition`. */
  action: string;
  objectType: string;
  objectId: string;
  /** The registered model concerned, if any (for listing by model). */
  model?: string | null;
  /** State before and after, as JSON values (I-JSON: no NaN, Infinity or BigInt). */
  before?: unknown;
  after?: unknown;
  reason?: string | null;
  /** Milliseconds since the epoch; default now. */
  occurredAt?: number;
}

/** What append() wrote. */
export interface AuditRecord {
  seq: number;
  id: string;
  occurredAt: number;
  prevHash: string;
  hash: string;
}

export interface AuditEntry extends AuditRecord {
  actor: string;
  action: string;
  objectType: string;
  objectId: string;
  model: string | null;
  before: unknown;
  after: unknown;
  reason: string | null;
}

export interface AuditListQuery {
  model?: string;
  actor?: string;
  objectType?: string;
  objectId?: string;
  /** Inclusive lower bound on occurredAt (ms). */
  fromTime?: number;
  /** Exclusive upper bound on occurredAt (ms). */
  toTime?: number;
  /** 1..1000, default 100. */
  maxResults?: number;
  pageToken?: string;
}

export interface AuditPage {
  /** Newest first (descending seq, i.e. commit order of the appends). */
  entries: AuditEntry[];
  nextPageToken?: string;
}

export type AuditVerifyFailure =
  | 'HASH_MISMATCH'
  | 'BROKEN_LINK'
  | 'MISSING_ENTRY'
  | 'TRUNCATED'
  | 'HEAD_MISMATCH'
  | 'CHECKPOINT_MISMATCH'
  | 'CHECKPOINT_SIGNATURE_INVALID';

export interface AuditVerifyResult {
  ok: boolean;
  /** Entries whose hash and link were checked and found good. */
  entriesChecked: number;
  /** The seq the head table names. */
  headSeq: number;
  checkpointsChecked: number;
  /** The highest checkpoint that verified, if any. */
  lastCheckpointSeq: number | null;
  /**
   * The first bad seq: the stored entry that fails (for MISSING_ENTRY the first entry after
   * the gap), the checkpoint's seq for CHECKPOINT_*, the first missing seq for TRUNCATED.
   */
  firstBadSeq?: number;
  reason?: AuditVerifyFailure;
  message?: string;
}

export interface AuditCheckpoint {
  seq: number;
  hash: string;
  createdAt: number;
  keyId: string;
  /** Ed25519 signature, base64. */
  signature: string;
}

export interface AuditLogOptions {
  /** The registry's schema (DATABASE_SCHEMA). */
  schema: string;
  /** Signs checkpoints; its verificationKeys are used unless `verificationKeys` is given. */
  signer?: AuditSigner;
  verificationKeys?: ReadonlyMap<string, KeyObject>;
  /** Rows per query when verifying; default 5,000. */
  verifyBatchSize?: number;
}

const MAX_NAME = 256;
const MAX_OBJECT_ID = 1024;
const MAX_REASON = 10_000;
const MAX_DOCUMENT_BYTES = 1024 * 1024;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

type Queryable = Pick<EntityManager, 'query'> | Pick<QueryRunner, 'query'>;

interface EntryRow {
  seq: string;
  entry_id: string;
  occurred_at: string;
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  model: string | null;
  before_json: string | null;
  after_json: string | null;
  reason: string | null;
  prev_hash: string;
  hash: string;
}

interface CheckpointRow {
  seq: string;
  head_hash: string;
  created_at: string;
  key_id: string;
  signature: string;
}

const ENTRY_COLUMNS =
  'seq, entry_id, occurred_at, actor, action, object_type, object_id, model, before_json, after_json, reason, prev_hash, hash';

function quoteSchema(schema: string): string {
  // Configuration, not user input; still checked, because it is spliced into SQL.
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name "${schema}"`);
  return `"${schema}"`;
}

function hashedFields(row: EntryRow): HashedAuditFields {
  return {
    seq: Number(row.seq),
    id: row.entry_id,
    prevHash: row.prev_hash,
    occurredAt: Number(row.occurred_at),
    actor: row.actor,
    action: row.action,
    objectType: row.object_type,
    objectId: row.object_id,
    model: row.model,
    beforeJson: row.before_json,
    afterJson: row.after_json,
    reason: row.reason,
  };
}

function toEntry(row: EntryRow): AuditEntry {
  return {
    seq: Number(row.seq),
    id: row.entry_id,
    occurredAt: Number(row.occurred_at),
    prevHash: row.prev_hash,
    hash: row.hash,
    actor: row.actor,
    action: row.action,
    objectType: row.object_type,
    objectId: row.object_id,
    model: row.model,
    before: row.before_json === null ? null : (JSON.parse(row.before_json) as unknown),
    after: row.after_json === null ? null : (JSON.parse(row.after_json) as unknown),
    reason: row.reason,
  };
}

function checkOccurredAt(value: number | undefined): number {
  if (value === undefined) return Date.now();
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new AppError(
      'invalid_argument',
      'INVALID_AUDIT_ENTRY',
      `audit entry occurredAt must be a non-negative integer of milliseconds, got ${value}`,
      { field: 'occurredAt', value: String(value) },
    );
  }
  return value;
}

/**
 * Appends an entry in the caller's transaction (`manager` from `ds.transaction(...)`), so it
 * commits or rolls back with the change it records. The head row stays locked until that
 * transaction ends, which serializes audited writes: append as late in the transaction as
 * possible. Under REPEATABLE READ or SERIALIZABLE a concurrent append makes the lock fail with
 * a serialization error (40001) that the caller retries; READ COMMITTED (the default) waits.
 */
export async function appendAuditEntry(
  manager: EntityManager,
  schema: string,
  entry: AuditEntryInput,
): Promise<AuditRecord> {
  if (!manager.queryRunner?.isTransactionActive) {
    // Outside a transaction the head lock would be released after the SELECT, and the entry
    // would not share the fate of the change it records.
    throw new Error('appendAuditEntry must run inside the transaction of the change it records');
  }
  const s = quoteSchema(schema);
  const fields = {
    actor: checkText('actor', entry.actor, MAX_NAME),
    action: checkText('action', entry.action, MAX_NAME),
    objectType: checkText('objectType', entry.objectType, MAX_NAME),
    objectId: checkText('objectId', entry.objectId, MAX_OBJECT_ID),
    model: checkText('model', entry.model, MAX_NAME, true),
    reason: checkText('reason', entry.reason, MAX_REASON, true),
    beforeJson: canonicalDocument('before', entry.before, MAX_DOCUMENT_BYTES),
    afterJson: canonicalDocument('after', entry.after, MAX_DOCUMENT_BYTES),
    occurredAt: checkOccurredAt(entry.occurredAt),
  };
  const [head] = await manager.query<
    Array<{
      seq: string;
      hash: string;
    }>
  >(`SELECT seq, hash FROM ${s}.audit_head FOR UPDATE`);
  if (!head) throw new Error(`${schema}.audit_head has no row: is the audit migration applied?`);
  const record: HashedAuditFields = {
    ...fields,
    seq: Number(head.seq) + 1,
    id: randomUUID(),
    prevHash: head.hash,
  };
  const hash = auditEntryHash(record);
  await manager.query(
    `INSERT INTO ${s}.audit_log (${ENTRY_COLUMNS})
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      record.seq,
      record.id,
      record.occurredAt,
      record.actor,
      record.action,
      record.objectType,
      record.objectId,
      record.model,
      record.beforeJson,
      record.afterJson,
      record.reason,
      record.prevHash,
      hash,
    ],
  );
  await manager.query(`UPDATE ${s}.audit_head SET seq = $1, hash = $2`, [record.seq, hash]);
  return { seq: record.seq, id: record.id, occurredAt: record.occurredAt, prevHash: record.prevHash, hash };
}

interface PageTokenBody {
  v: 1;
  q: string;
  s: string;
}

function invalidToken(message: string): AppError {
  return new AppError('invalid_argument', 'INVALID_PAGE_TOKEN', message);
}

/** Ties a page token to the filters that produced it, so it cannot continue another listing. */
function filterFingerprint(q: AuditListQuery): string {
  const identity = [q.model, q.actor, q.objectType, q.objectId, q.fromTime, q.toTime].map((v) => v ?? null);
  return createHash('sha256').update(JSON.stringify(identity)).digest('base64url').slice(0, 22);
}

function decodeToken(token: string, fingerprint: string): number {
  if (token.length > 512 || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalidToken('Invalid page token');
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken('Invalid page token, could not be decoded');
  }
  const b = body as Partial<PageTokenBody> | null;
  if (
    typeof b !== 'object' ||
    b === null ||
    b.v !== 1 ||
    typeof b.s !== 'string' ||
    !/^\d{1,15}$/.test(b.s)
  ) {
    throw invalidToken('Invalid page token, could not be decoded');
  }
  if (b.q !== fingerprint)
    throw invalidToken('Invalid page token: it belongs to a listing with other filters');
  return Number(b.s);
}

function checkTimeBound(name: string, value: number | undefined): void {
  if (value !== undefined && !Number.isSafeInteger(value)) {
    throw new AppError('invalid_argument', 'INVALID_TIME_RANGE', `${name} must be an integer (ms)`, {
      field: name,
      value: String(value),
    });
  }
}

/** The audit log of one registry schema: append, list, verify and checkpoint. */
export class AuditLog {
  private readonly s: string;
  private readonly verificationKeys: ReadonlyMap<string, KeyObject>;
  private readonly batchSize: number;

  constructor(
    private readonly ds: DataSource,
    private readonly options: AuditLogOptions,
  ) {
    this.s = quoteSchema(options.schema);
    this.verificationKeys = options.verificationKeys ?? options.signer?.verificationKeys ?? new Map();
    this.batchSize = options.verifyBatchSize ?? 5_000;
  }

  /** appendAuditEntry() in this log's schema. */
  append(manager: EntityManager, entry: AuditEntryInput): Promise<AuditRecord> {
    return appendAuditEntry(manager, this.options.schema, entry);
  }

  /** Entries newest first (by seq), filtered; page with the returned token. */
  async list(query: AuditListQuery = {}): Promise<AuditPage> {
    const maxResults = query.maxResults ?? DEFAULT_PAGE;
    if (!Number.isSafeInteger(maxResults) || maxResults < 1 || maxResults > MAX_PAGE) {
      throw new AppError(
        'invalid_argument',
        'INVALID_MAX_RESULTS',
        `maxResults must be an integer from 1 to ${MAX_PAGE}, got ${maxResults}`,
        { value: String(maxResults) },
      );
    }
    checkTimeBound('fromTime', query.fromTime);
    checkTimeBound('toTime', query.toTime);
    const fingerprint = filterFingerprint(query);
    const params: unknown[] = [];
    const add = (v: unknown): string => {
      params.push(v);
      return `$${params.length}`;
    };
    const where: string[] = [];
    if (query.model !== undefined) where.push(`model = ${add(query.model)}`);
    if (query.actor !== undefined) where.push(`actor = ${add(query.actor)}`);
    if (query.objectType !== undefined) where.push(`object_type = ${add(query.objectType)}`);
    if (query.objectId !== undefined) where.push(`object_id = ${add(query.objectId)}`);
    if (query.fromTime !== undefined) where.push(`occurred_at >= ${add(query.fromTime)}`);
    if (query.toTime !== undefined) where.push(`occurred_at < ${add(query.toTime)}`);
    if (query.pageToken) where.push(`seq < ${add(decodeToken(query.pageToken, fingerprint))}`);
    const rows = await this.ds.query<EntryRow[]>(
      `SELECT ${ENTRY_COLUMNS} FROM ${this.s}.audit_log
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY seq DESC LIMIT ${add(maxResults + 1)}`,
      params,
    );
    const more = rows.length > maxResults;
    const page = rows.slice(0, maxResults);
    const body: PageTokenBody = { v: 1, q: fingerprint, s: page.length ? page[page.length - 1].seq : '0' };
    return {
      entries: page.map(toEntry),
      nextPageToken: more ? Buffer.from(JSON.stringify(body)).toString('base64url') : undefined,
    };
  }

  /**
   * Checks the whole chain in seq order, in keyset batches inside one read-only REPEATABLE
   * READ snapshot (so concurrent appends neither disturb it nor show up half-way): contiguity,
   * each link, each hash, the head, and every checkpoint's signature and hash. Stops at, and
   * names, the first bad entry.
   */
  async verify(): Promise<AuditVerifyResult> {
    const qr = this.ds.createQueryRunner();
    await qr.connect();
    try {
      await qr.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        return await this.verifyIn(qr);
      } finally {
        await qr.query('ROLLBACK');
      }
    } finally {
      await qr.release();
    }
  }

  /**
   * Keyset batches in seq order. The next batch is requested before the current one is handed
   * out, so the database reads it while the caller hashes (the queries queue on one connection).
   */
  private async *batches<R extends { seq: string }>(db: Queryable, select: string): AsyncGenerator<R[]> {
    const fetch = (after: number): Promise<R[]> => {
      const p = db.query(`${select} WHERE seq > $1 ORDER BY seq LIMIT $2`, [
        after,
        this.batchSize,
      ]) as Promise<R[]>;
      // Awaited below, unless the caller stops early; never an unhandled rejection then.
      p.catch(() => undefined);
      return p;
    };
    let next = fetch(0);
    for (;;) {
      const rows = await next;
      if (rows.length === 0) return;
      const full = rows.length === this.batchSize;
      if (full) next = fetch(Number(rows[rows.length - 1].seq));
      yield rows;
      if (!full) return;
    }
  }

  private async verifyIn(db: Queryable): Promise<AuditVerifyResult> {
    const [head] = (await db.query(`SELECT seq, hash FROM ${this.s}.audit_head`)) as Array<{
      seq: string;
      hash: string;
    }>;
    const headSeq = head ? Number(head.seq) : 0;
    let entriesChecked = 0;
    let checkpointsChecked = 0;
    let lastCheckpointSeq: number | null = null;
    const fail = (firstBadSeq: number, reason: AuditVerifyFailure, message: string): AuditVerifyResult => ({
      ok: false,
      entriesChecked,
      headSeq,
      checkpointsChecked,
      lastCheckpointSeq,
      firstBadSeq,
      reason,
      message,
    });

    // Checkpoints are merged into the walk over the chain, both in seq order.
    const checkpointBatches = this.batches<CheckpointRow>(
      db,
      `SELECT seq, head_hash, created_at, key_id, signature FROM ${this.s}.audit_checkpoints`,
    );
    let pending: CheckpointRow[] = [];
    let pendingAt = 0;
    const nextCheckpoint = async (): Promise<CheckpointRow | undefined> => {
      if (pendingAt >= pending.length) {
        const next = await checkpointBatches.next();
        pending = next.done ? [] : next.value;
        pendingAt = 0;
      }
      return pending[pendingAt];
    };
    const signatureProblem = (cp: CheckpointRow): string | null => {
      const key = this.verificationKeys.get(cp.key_id);
      if (!key) return `checkpoint at seq ${cp.seq} is signed with unknown key "${cp.key_id}"`;
      const message = checkpointMessage({
        seq: Number(cp.seq),
        hash: cp.head_hash,
        createdAt: Number(cp.created_at),
        keyId: cp.key_id,
      });
      return verifySignature(key, message, Buffer.from(cp.signature, 'base64'))
        ? null
        : `checkpoint at seq ${cp.seq} has an invalid signature for key "${cp.key_id}"`;
    };

    let expectedSeq = 1;
    let prevHash = GENESIS_HASH;
    let cp = await nextCheckpoint();
    for await (const rows of this.batches<EntryRow>(db, `SELECT ${ENTRY_COLUMNS} FROM ${this.s}.audit_log`)) {
      for (const row of rows) {
        const seq = Number(row.seq);
        if (seq !== expectedSeq) {
          const missing = seq - 1 === expectedSeq ? `${expectedSeq}` : `${expectedSeq}..${seq - 1}`;
          return fail(seq, 'MISSING_ENTRY', `entry ${missing} is missing before entry ${seq}`);
        }
        if (row.prev_hash !== prevHash) {
          return fail(seq, 'BROKEN_LINK', `entry ${seq} does not link to the hash of entry ${seq - 1}`);
        }
        if (auditEntryHash(hashedFields(row)) !== row.hash) {
          return fail(
            seq,
            'HASH_MISMATCH',
            `entry ${seq} does not match its hash (changed after it was written)`,
          );
        }
        entriesChecked++;
        while (cp && Number(cp.seq) <= seq) {
          const problem = signatureProblem(cp);
          if (problem) return fail(Number(cp.seq), 'CHECKPOINT_SIGNATURE_INVALID', problem);
          // Contiguity makes cp.seq === seq here; a checkpoint between entries cannot exist.
          if (Number(cp.seq) !== seq || cp.head_hash !== row.hash) {
            return fail(
              Number(cp.seq),
              'CHECKPOINT_MISMATCH',
              `the signed checkpoint at seq ${cp.seq} names another hash than the stored entry (the chain was rewritten)`,
            );
          }
          checkpointsChecked++;
          lastCheckpointSeq = seq;
          pendingAt++;
          cp = await nextCheckpoint();
        }
        prevHash = row.hash;
        expectedSeq++;
      }
    }
    const lastSeq = expectedSeq - 1;
    if (cp) {
      const problem = signatureProblem(cp);
      if (problem) return fail(Number(cp.seq), 'CHECKPOINT_SIGNATURE_INVALID', problem);
      return fail(
        lastSeq + 1,
        'TRUNCATED',
        `the signed checkpoint at seq ${cp.seq} (key "${cp.key_id}", ${new Date(Number(cp.created_at)).toISOString()}) names an entry past the end of the log (last entry ${lastSeq}): entries were removed from the tail`,
      );
    }
    if (headSeq > lastSeq) {
      return fail(lastSeq + 1, 'TRUNCATED', `the head names entry ${headSeq} but the log ends at ${lastSeq}`);
    }
    if (headSeq < lastSeq || (head && head.hash !== prevHash)) {
      return fail(
        headSeq < lastSeq ? headSeq + 1 : headSeq,
        'HEAD_MISMATCH',
        `the head (seq ${headSeq}) does not name the last entry (${lastSeq})`,
      );
    }
    return { ok: true, entriesChecked, headSeq, checkpointsChecked, lastCheckpointSeq };
  }

  /**
   * Signs and stores the current head, unless it is already checkpointed (null then). Safe
   * with several replicas: the checkpoint's seq is its key, and a second one is dropped.
   */
  async checkpoint(): Promise<AuditCheckpoint | null> {
    const signer = this.options.signer;
    if (!signer) throw new Error('this AuditLog has no signer: checkpoints cannot be taken');
    const [head] = await this.ds.query<
      Array<{
        seq: string;
        hash: string;
      }>
    >(`SELECT seq, hash FROM ${this.s}.audit_head`);
    const seq = head ? Number(head.seq) : 0;
    if (seq === 0) return null;
    const [last] = await this.ds.query<
      Array<{
        seq: string | null;
      }>
    >(`SELECT max(seq) AS seq FROM ${this.s}.audit_checkpoints`);
    if (last?.seq !== null && last?.seq !== undefined && Number(last.seq) >= seq) return null;
    const checkpoint: Omit<AuditCheckpoint, 'signature'> = {
      seq,
      hash: head.hash,
      createdAt: Date.now(),
      keyId: signer.keyId,
    };
    const signature = signer.sign(checkpointMessage(checkpoint)).toString('base64');
    const inserted = await this.ds.query<unknown[]>(
      `INSERT INTO ${this.s}.audit_checkpoints (seq, head_hash, created_at, key_id, signature)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING RETURNING seq`,
      [checkpoint.seq, checkpoint.hash, checkpoint.createdAt, checkpoint.keyId, signature],
    );
    return inserted.length > 0 ? { ...checkpoint, signature } : null;
  }

  /** The newest checkpoint, e.g. to publish it outside the database. */
  async latestCheckpoint(): Promise<AuditCheckpoint | null> {
    const [row] = await this.ds.query<CheckpointRow[]>(
      `SELECT seq, head_hash, created_at, key_id, signature FROM ${this.s}.audit_checkpoints ORDER BY seq DESC LIMIT 1`,
    );
    return row
      ? {
          seq: Number(row.seq),
          hash: row.head_hash,
          createdAt: Number(row.created_at),
          keyId: row.key_id,
          signature: row.signature,
        }
      : null;
  }
}
