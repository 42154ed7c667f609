import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '@cairn/config';

/** The default key id: a fingerprint of the public key, stable across restarts. */
export function publicKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519:${createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
}

/**
 * The PKCS#8 PEM of the Ed25519 private key in `file`, generated (mode 0600, its directory
 * created 0700) when the file does not exist. The file is written under a temporary name and
 * hard-linked into place, so two processes starting together never see a half-written key and
 * agree on one of the two (the second link fails with EEXIST and that process reads the winner).
 * A file readable by group or others is refused with a `ConfigError` of `owner` (the service or
 * tool whose configuration it is) naming `setting`; the caller parses the PEM (and reports a bad
 * one under `setting` too). File system errors other than a missing file are thrown as they are.
 */
export function loadOrGenerateEd25519Pem(file: string, setting: string, owner: string): string {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const read = (): string | undefined => {
    try {
      const st = statSync(file);
      // Like ssh: a signing key others can read is not a secret any more; refuse, don't guess.
      if ((st.mode & 0o077) !== 0) {
        throw new ConfigError(owner, [
          {
            setting,
            reason: `${file} is accessible by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
          },
        ]);
      }
      return readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const existing = read();
  if (existing !== undefined) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
  chmodSync(tmp, 0o600); // the umask may have narrowed the mode further, never widened; be exact
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const created = read();
  if (created === undefined) throw new Error(`could not create the signing key ${file}`);
  return created;
}

/** PEM values may carry `\n` escapes instead of newlines (as .env files and Helm values often do). */
export function pemOf(value: string): string {
  return value.replace(/\\n/g, '\n').trim();
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The Ed25519 public key in `pem` (SPKI), or the reason it is not one; never echoes the PEM. */
export function ed25519PublicKeyOf(pem: string): KeyObject | string {
  if (/PRIVATE KEY-----/.test(pem)) return 'holds a private key; only public keys belong here';
  if (!pem.includes('-----BEGIN PUBLIC KEY-----'))
    return 'is not a PEM SPKI public key (-----BEGIN PUBLIC KEY-----)';
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    return `is not a valid public key (${describe(err)})`;
  }
  return key.asymmetricKeyType === 'ed25519' ? key : `is a ${key.asymmetricKeyType} key, not Ed25519`;
}

/** The Ed25519 private key in `pem` (PKCS#8), or the reason it is not one; never echoes the PEM. */
export function ed25519PrivateKeyOf(pem: string): KeyObject | string {
  if (pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    return 'is encrypted; give an unencrypted PKCS#8 key (keep it in a secret store instead)';
  }
  if (!pem.includes('-----BEGIN PRIVATE KEY-----'))
    return 'is not a PEM PKCS#8 private key (-----BEGIN PRIVATE KEY-----)';
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    return `is not a valid private key (${describe(err)})`;
  }
  return key.asymmetricKeyType === 'ed25519' ? key : `is a ${key.asymmetricKeyType} key, not Ed25519`;
}
