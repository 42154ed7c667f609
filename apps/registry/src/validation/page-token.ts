import { AppError } from '@cairn/rpc';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Opaque keyset page tokens (a bigint or timestamp sort key and a UUID tie-breaker): base64url JSON of the last row's sort keys. */
export function encodePageToken(keys: { t: string; id: string }): string {
  return Buffer.from(JSON.stringify({ v: 1, ...keys })).toString('base64url');
}

/** A sort key that is a bigint column (milliseconds, counters). */
export const BIGINT_PAGE_KEY = /^\d{1,19}$/;

/** Decodes a page token whose sort key must match `keyPattern` (checked before it reaches SQL). */
export function decodePageToken(token: string, keyPattern: RegExp): { t: string; id: string } | undefined {
  if (token === '') return undefined;
  const bad = () =>
    new AppError('invalid_argument', 'INVALID_PAGE_TOKEN', `Invalid page token '${token.slice(0, 100)}'`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const p = parsed as { v?: unknown; t?: unknown; id?: unknown };
  if (
    p.v !== 1 ||
    typeof p.t !== 'string' ||
    typeof p.id !== 'string' ||
    !UUID.test(p.id) ||
    !keyPattern.test(p.t)
  ) {
    throw bad();
  }
  return { t: p.t, id: p.id };
}
