import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/*
 * Password hashing for HTTP Basic (MLflow clients' MLFLOW_TRACKING_USERNAME/PASSWORD), with
 * scrypt from node:crypto and a random 16-byte salt per password.
 *
 * Parameters: N = 2^15, r = 8, p = 1, 32-byte key. That takes 32 MiB and some tens of
 * milliseconds per hash: RFC 7914's interactive-login setting, with the memory cost OWASP's
 * lower scrypt recommendations start from; above it, concurrent Basic logins on a small
 * gateway would queue behind libuv's four threads. The gateway caches successful
 * verifications (basic-credential-cache.ts) so a client sending Basic on every request pays
 * this once, not per call.
 *
 * Stored as `$scrypt$ln=15,r=8,p=1$<salt b64>$<hash b64>`, so the parameters of each hash are
 * read back from it and can be raised later without invalidating stored passwords.
 */

export interface ScryptParams {
  /** log2 of N, the CPU/memory cost. */
  ln: number;
  r: number;
  p: number;
}

export const SCRYPT_PARAMS: ScryptParams = { ln: 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
export const PASSWORD_MIN_LENGTH = 8;
/** Longer inputs only cost hashing time; no password manager produces more. */
export const PASSWORD_MAX_BYTES = 1024;

const FORMAT = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

function derive(password: string, salt: Buffer, params: ScryptParams, keylen: number): Promise<Buffer> {
  const N = 2 ** params.ln;
  return new Promise((resolve, reject) =>
    scrypt(
      password.normalize('NFKC'),
      salt,
      keylen,
      // Node refuses 128·N·r above maxmem (32 MiB by default), which N = 2^15, r = 8 reaches.
      { N, r: params.r, p: params.p, maxmem: 256 * N * params.r },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

export async function hashPassword(password: string, params: ScryptParams = SCRYPT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): ParsedHash | undefined {
  const m = FORMAT.exec(stored);
  if (!m) return undefined;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  // Bounds keep a corrupted row from turning one login into gigabytes of memory.
  if (params.ln < 10 || params.ln > 20 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16) {
    return undefined;
  }
  const salt = Buffer.from(m[4], 'base64');
  const key = Buffer.from(m[5], 'base64');
  return salt.length >= 16 && key.length >= 16 ? { params, salt, key } : undefined;
}

/**
 * A hash of a random password, to verify against when there is no real one (unknown user,
 * no password set), so that case costs what a wrong password costs.
 */
export function dummyPasswordHash(): Promise<string> {
  return hashPassword(randomBytes(32).toString('base64'));
}

/** Whether `password` matches `stored`, in constant time; false for an unreadable hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.params, parsed.key.length);
  return timingSafeEqual(key, parsed.key);
}

/** Whether `stored` was made with weaker parameters than today's (to rehash after a login). */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return (
    !parsed ||
    parsed.params.ln < SCRYPT_PARAMS.ln ||
    parsed.params.r < SCRYPT_PARAMS.r ||
    parsed.params.p < SCRYPT_PARAMS.p
  );
}
