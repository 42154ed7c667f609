import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { AppError } from '@cairn/rpc';

/*
 * The hash chain of the registry's audit log, as pure functions (no database), so that the
 * write path, the verifier and an offline checker compute exactly the same bytes.
 *
 * Entry hash = lowercase hex SHA-256 of the UTF-8 bytes of the RFC 8785 (JCS) canonical JSON of
 *   {"v":1, "seq", "id", "prevHash", "occurredAt", "actor", "action", "objectType", "objectId",
 *    "model", "before", "after", "reason"}
 * where `before` and `after` are the canonical JSON *texts* of the documents (strings, or null),
 * i.e. the exact bytes stored in `before_json`/`after_json`. Hashing the stored text rather than
 * the parsed value means any byte change to a stored document is detected, and verification
 * needs no re-canonicalization of (possibly large) documents. `v` is a format version so the
 * serialization can evolve without ambiguity; `id` is hashed too so the entry id cannot be
 * swapped unnoticed. The first entry's prevHash is GENESIS_HASH (64 zeros).
 *
 * Checkpoint signature = Ed25519 over the canonical JSON of
 *   {"v":1, "purpose":"cairn.registry.audit.checkpoint", "seq", "hash", "createdAt", "keyId"}.
 */

export const GENESIS_HASH = '0'.repeat(64);
export const HASH_FORMAT_VERSION = 1;
const CHECKPOINT_PURPOSE = 'cairn.registry.audit.checkpoint';

/** The fields of an audit entry as stored, which the hash covers. */
export interface HashedAuditFields {
  seq: number;
  id: string;
  prevHash: string;
  occurredAt: number;
  actor: string;
  action: string;
  objectType: string;
  objectId: string;
  model: string | null;
  /** Canonical JSON text of the state before the change, or null. */
  beforeJson: string | null;
  /** Canonical JSON text of the state after the change, or null. */
  afterJson: string | null;
  reason: string | null;
}

function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('value has no JSON representation');
  return text;
}

/**
 * The document an entry's hash covers, serialized per RFC 8785. Its shape is fixed and flat
 * (strings, safe integers, null), and for such an object JCS is exactly JSON.stringify with the
 * keys inserted in UTF-16 code-unit order (JCS defines string and number serialization as
 * ECMAScript's JSON.stringify does). Building it directly is ~10x faster than the general
 * canonicalizer, which matters when verify() rehashes the whole chain; audit-chain.spec.ts checks
 * it against the `canonicalize` library on generated entries.
 */
export function auditEntryDocument(e: HashedAuditFields): string {
  if (!Number.isSafeInteger(e.seq) || !Number.isSafeInteger(e.occurredAt)) {
    throw new Error(`audit entry ${e.seq}: seq and occurredAt must be safe integers`);
  }
  return JSON.stringify({
    action: e.action,
    actor: e.actor,
    after: e.afterJson,
    before: e.beforeJson,
    id: e.id,
    model: e.model,
    objectId: e.objectId,
    objectType: e.objectType,
    occurredAt: e.occurredAt,
    prevHash: e.prevHash,
    reason: e.reason,
    seq: e.seq,
    v: HASH_FORMAT_VERSION,
  });
}

/** The hash of an entry, as stored in `hash` and as the next entry's `prev_hash`. */
export function auditEntryHash(e: HashedAuditFields): string {
  return hash('sha256', auditEntryDocument(e), 'hex');
}

/** The bytes an Ed25519 checkpoint signature covers. */
export function checkpointMessage(c: {
  seq: number;
  hash: string;
  createdAt: number;
  keyId: string;
}): Buffer {
  return Buffer.from(
    jcs({
      v: HASH_FORMAT_VERSION,
      purpose: CHECKPOINT_PURPOSE,
      seq: c.seq,
      hash: c.hash,
      createdAt: c.createdAt,
      keyId: c.keyId,
    }),
    'utf8',
  );
}

function invalidEntry(field: string, message: string, value?: string): AppError {
  return new AppError('invalid_argument', 'INVALID_AUDIT_ENTRY', `audit entry ${field} ${message}`, {
    field,
    ...(value === undefined ? {} : { value: value.slice(0, 200) }),
  });
}

/**
 * RFC 8785 canonical JSON of a before/after document; null for null/undefined. Refuses what
 * I-JSON cannot represent (NaN, Infinity, BigInt, functions) instead of silently changing it,
 * because the stored document must be exactly what was hashed.
 */
export function canonicalDocument(field: string, value: unknown, maxBytes: number): string | null {
  if (value === undefined || value === null) return null;
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw invalidEntry(
      field,
      `is not representable as JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (text === undefined) throw invalidEntry(field, 'is not representable as JSON');
  if (Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw invalidEntry(field, `exceeds ${maxBytes} bytes as canonical JSON`);
  }
  return text;
}

// A lone surrogate would be replaced by U+FFFD on its way into Postgres (and NUL is refused by
// it), so the stored text would differ from the hashed one; with the `u` flag a valid pair is a
// single code point, so \p{Cs} only matches lone halves.
const LONE_SURROGATE = /\p{Cs}/u;

/** Checks a plain text field of an entry; returns it unchanged. */
export function checkText(field: string, value: unknown, maxLength: number, optional: true): string | null;
export function checkText(field: string, value: unknown, maxLength: number, optional?: false): string;
export function checkText(field: string, value: unknown, maxLength: number, optional = false): string | null {
  if (value === undefined || value === null) {
    if (optional) return null;
    throw invalidEntry(field, 'is required');
  }
  if (typeof value !== 'string') throw invalidEntry(field, 'must be a string');
  if (!optional && value.length === 0) throw invalidEntry(field, 'must not be empty');
  if (value.length > maxLength) throw invalidEntry(field, `must be at most ${maxLength} characters`, value);
  if (value.includes('\u0000') || LONE_SURROGATE.test(value)) {
    throw invalidEntry(field, 'contains a NUL character or an unpaired surrogate', value);
  }
  return value;
}
