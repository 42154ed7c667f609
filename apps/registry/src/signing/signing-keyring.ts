import { createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import type { ArtifactStore } from '@cairn/artifacts';
import { ConfigError, type ConfigIssue } from '@cairn/config';
import {
  ed25519PrivateKeyOf as privateKeyOf,
  ed25519PublicKeyOf as publicKeyOf,
  loadOrGenerateEd25519Pem,
  pemOf,
  publicKeyId,
} from '@cairn/identity';
import { AppError, type AppErrorKind } from '@cairn/rpc';
import {
  type ArtifactManifest,
  computeManifest,
  type ComputeManifestOptions,
  firstDifference,
  MANIFEST_DIGEST,
  manifestDigest,
} from './artifact-manifest';

/** Key ids name keys in signatures, logs and settings: short, printable, no separators. */
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const KEY_ID_RULE = 'must be 1-128 letters, digits, dots, underscores, colons or hyphens';
/** An Ed25519 signature is 64 bytes: 86 base64 characters and `==`. */
const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}==$/;
const SERVICE = 'registry';

export const SIGNING_ALGORITHM = 'Ed25519';
/** The key generated in CAIRN_REGISTRY_SIGNING_KEY_DIR. */
export const GENERATED_SIGNING_KEY_FILE = 'registry-signing-ed25519.pem';

/**
 * The registry's signing settings, keyed by environment variable, for the service's
 * `extraSettings`. PEM values may carry real newlines or `\n` escapes (as .env files and
 * Helm values often hold them). Keys are checked by `createSigningKeyring`, not here, so
 * that a bad key is reported with the setting's name and never echoed.
 */
export const signingSettings = z.object({
  /** JSON object keyId → PEM SPKI Ed25519 public key; several for rotation. */
  CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: z.string().optional(),
  /** PKCS#8 PEM Ed25519 private key the registry signs its own manifests with. */
  CAIRN_REGISTRY_SIGNING_KEY: z.string().optional(),
  /**
   * The key id of the signing key; its public key is accepted implicitly. Required with
   * CAIRN_REGISTRY_SIGNING_KEY; for a generated key it defaults to `ed25519:` + the first 16 hex
   * digits of the SHA-256 of the public key (SPKI DER).
   */
  CAIRN_REGISTRY_SIGNING_KEY_ID: z.string().regex(KEY_ID, KEY_ID_RULE).optional(),
  /**
   * For a single replica (embedded mode, `npm start` sets it to `$CAIRN_HOME/keys`): without
   * CAIRN_REGISTRY_SIGNING_KEY, the registry signs with `<dir>/registry-signing-ed25519.pem`,
   * generated once (mode 0600) and reused after restarts. Unset by default, and leave it unset
   * at scale: each replica would generate its own key, and the others, knowing only theirs,
   * could not verify its signatures; configure CAIRN_REGISTRY_SIGNING_KEY (the same on every
   * replica) instead. When CAIRN_REGISTRY_SIGNING_KEY is set, it wins and this is ignored.
   */
  CAIRN_REGISTRY_SIGNING_KEY_DIR: z.string().min(1).optional(),
});
export type SigningSettings = z.infer<typeof signingSettings>;

/** A detached signature over a manifest digest. */
export interface ArtifactSignature {
  algorithm: string;
  keyId: string;
  /** Standard base64 (with padding) of the 64-byte Ed25519 signature. */
  value: string;
}

export type SignatureFailureReason =
  'UNKNOWN_KEY' | 'BAD_SIGNATURE' | 'MALFORMED_SIGNATURE' | 'UNSUPPORTED_ALGORITHM';

export type SignatureVerification =
  { ok: true; keyId: string } | { ok: false; reason: SignatureFailureReason; message: string };

export type ArtifactVerification =
  | { ok: true; keyId: string; manifest: ArtifactManifest }
  | { ok: false; reason: SignatureFailureReason; message: string }
  | {
      ok: false;
      reason: 'DIGEST_MISMATCH';
      message: string;
      /** The first file that differs, when the recorded file list is known. */
      file?: string;
      change?: 'added' | 'removed' | 'modified';
      manifest?: ArtifactManifest;
    };

type SignatureFailure = Extract<SignatureVerification, { ok: false }>;

/** An unknown key may become known (it is configuration); the other failures are the request's. */
const FAILURE_KIND: Record<SignatureFailureReason, AppErrorKind> = {
  UNKNOWN_KEY: 'failed_precondition',
  BAD_SIGNATURE: 'invalid_argument',
  MALFORMED_SIGNATURE: 'invalid_argument',
  UNSUPPORTED_ALGORITHM: 'invalid_argument',
};

/** A signature the keyring refused, as an error whose reason code is the keyring's reason. */
export function signatureRefused(failure: SignatureFailure, keyId: string): AppError {
  return new AppError(FAILURE_KIND[failure.reason], failure.reason, failure.message, {
    keyId: String(keyId).slice(0, 128),
  });
}

/** What was recorded at signing time: the digest alone, or the whole manifest (to name the changed file). */
export type RecordedManifest = string | ArtifactManifest;

/** The key generated (once) in `file`, or the reason it cannot be used. */
function generatedKeyOf(file: string, setting: string): KeyObject | string {
  let pem: string;
  try {
    pem = loadOrGenerateEd25519Pem(file, setting, SERVICE);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((issue) => issue.reason).join('; ');
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    return `cannot read or create ${file} (${code})`;
  }
  const key = privateKeyOf(pem.trim());
  return typeof key === 'string' ? `${file} ${key}` : key;
}

function invalidDigest(digest: string): AppError {
  return new AppError(
    'invalid_argument',
    'INVALID_MANIFEST_DIGEST',
    `A manifest digest is sha256:<64 lower-case hex digits>, got ${JSON.stringify(digest.slice(0, 100))}`,
    { digest: digest.slice(0, 100) },
  );
}

/**
 * Ed25519 signatures over artifact manifest digests. What is signed is the UTF-8 bytes of
 * the digest string itself, `sha256:<hex>` (71 bytes), with no prefix or newline; an SDK or
 * CLI signs the same bytes. Verification accepts every configured public key, so keys
 * rotate by adding the new one, re-signing or waiting out the old versions, then removing
 * the old one.
 */
export class SigningKeyring {
  constructor(
    private readonly publicKeys: ReadonlyMap<string, KeyObject>,
    private readonly signingKey?: { keyId: string; key: KeyObject },
  ) {}

  /** The key id new signatures are made with; `undefined` when the registry cannot sign. */
  get signingKeyId(): string | undefined {
    return this.signingKey?.keyId;
  }

  /** Ids of the keys signatures verify against, sorted. */
  keyIds(): string[] {
    return [...this.publicKeys.keys()].sort();
  }

  sign(digest: string): ArtifactSignature {
    if (!MANIFEST_DIGEST.test(digest)) throw invalidDigest(digest);
    if (!this.signingKey) {
      throw new AppError(
        'failed_precondition',
        'SIGNING_KEY_NOT_CONFIGURED',
        'The registry has no signing key (CAIRN_REGISTRY_SIGNING_KEY); submit a signature made by the client',
      );
    }
    const value = sign(null, Buffer.from(digest, 'utf8'), this.signingKey.key).toString('base64');
    return { algorithm: SIGNING_ALGORITHM, keyId: this.signingKey.keyId, value };
  }

  verify(digest: string, signature: ArtifactSignature): SignatureVerification {
    if (!MANIFEST_DIGEST.test(digest)) throw invalidDigest(digest);
    const found = this.keyFor(signature);
    if (!found.ok) return found;
    const { keyId, value } = signature;
    if (!verify(null, Buffer.from(digest, 'utf8'), found.key, Buffer.from(value, 'base64'))) {
      return {
        ok: false,
        reason: 'BAD_SIGNATURE',
        message: `The signature by key ${JSON.stringify(keyId)} does not match ${digest}`,
      };
    }
    return { ok: true, keyId };
  }

  /**
   * Every check of `verify` that needs no digest (algorithm, shape, a known key), so that a
   * client's signature can be refused at once, before registration has computed the digest.
   */
  checkSignature(signature: ArtifactSignature): SignatureVerification {
    const found = this.keyFor(signature);
    return found.ok ? { ok: true, keyId: signature.keyId } : found;
  }

  private keyFor(
    signature: ArtifactSignature,
  ): { ok: true; key: KeyObject } | { ok: false; reason: SignatureFailureReason; message: string } {
    if (typeof signature !== 'object' || signature === null) {
      return {
        ok: false,
        reason: 'MALFORMED_SIGNATURE',
        message: 'A signature is {algorithm, keyId, value}',
      };
    }
    const { algorithm, keyId, value } = signature;
    if (algorithm !== SIGNING_ALGORITHM) {
      return {
        ok: false,
        reason: 'UNSUPPORTED_ALGORITHM',
        message: `Signature algorithm ${JSON.stringify(String(algorithm).slice(0, 64))} is not supported; use ${SIGNING_ALGORITHM}`,
      };
    }
    if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) {
      return { ok: false, reason: 'MALFORMED_SIGNATURE', message: `Signature key id ${KEY_ID_RULE}` };
    }
    // Strict base64 of exactly 64 bytes: Buffer.from would silently skip junk characters.
    if (typeof value !== 'string' || !SIGNATURE_BASE64.test(value)) {
      return {
        ok: false,
        reason: 'MALFORMED_SIGNATURE',
        message: 'A signature value is the standard base64 (padded) of 64 bytes',
      };
    }
    const key = this.publicKeys.get(keyId);
    if (!key) {
      return {
        ok: false,
        reason: 'UNKNOWN_KEY',
        message: `Key ${JSON.stringify(keyId)} is not among the registry's public keys (CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS)`,
      };
    }
    return { ok: true, key };
  }

  /**
   * Verifies the signature over the recorded digest, then recomputes the manifest and
   * compares. The signature goes first because it is cheap and the recorded digest means
   * nothing without it: no need to read gigabytes for a signature that cannot verify.
   * With the recorded manifest (not just its digest), a mismatch names the first differing file.
   */
  async verifyArtifact(
    store: ArtifactStore,
    scope: string,
    path: string,
    recorded: RecordedManifest,
    signature: ArtifactSignature,
    opts: ComputeManifestOptions = {},
  ): Promise<ArtifactVerification> {
    const recordedDigest = typeof recorded === 'string' ? recorded : recorded.digest;
    const signed = this.verify(recordedDigest, signature);
    if (!signed.ok) return signed;
    let current: ArtifactManifest;
    try {
      current = await computeManifest(store, scope, path, opts);
    } catch (err) {
      if (err instanceof AppError && err.reason === 'MODEL_ARTIFACT_EMPTY') {
        return {
          ok: false,
          reason: 'DIGEST_MISMATCH',
          message: `The artifact changed since it was signed: no files are left at ${JSON.stringify(path)}`,
        };
      }
      throw err;
    }
    if (current.digest === recordedDigest) return { ok: true, keyId: signed.keyId, manifest: current };
    // The file list is not signed: it may only name the change if it reproduces the signed digest.
    const files = typeof recorded === 'string' ? undefined : recorded.files;
    const diff =
      files && manifestDigest(files) === recordedDigest ? firstDifference(files, current.files) : undefined;
    return {
      ok: false,
      reason: 'DIGEST_MISMATCH',
      message: diff
        ? `The artifact changed since it was signed: ${JSON.stringify(diff.path)} was ${diff.change}`
        : `The artifact changed since it was signed: its digest is ${current.digest}, not ${recordedDigest}`,
      ...(diff ? { file: diff.path, change: diff.change } : {}),
      manifest: current,
    };
  }
}

/**
 * The keyring from parsed settings. Every key is checked here, at start-up: a bad one throws
 * `ConfigError` naming its setting (and key id), never echoing key material. Without
 * CAIRN_REGISTRY_SIGNING_KEY, a key is read from (or generated once in)
 * CAIRN_REGISTRY_SIGNING_KEY_DIR when that is set.
 */
export function createSigningKeyring(settings: SigningSettings): SigningKeyring {
  const issues: ConfigIssue[] = [];
  const publicKeys = new Map<string, KeyObject>();
  const rawKeys = settings.CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS;
  if (rawKeys !== undefined && rawKeys.trim() !== '') {
    const setting = 'CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS';
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawKeys);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      issues.push({ setting, reason: 'must be a JSON object of key id → PEM SPKI Ed25519 public key' });
    } else {
      for (const [keyId, pem] of Object.entries(parsed)) {
        if (!KEY_ID.test(keyId)) {
          issues.push({ setting, reason: `key id ${JSON.stringify(keyId.slice(0, 64))} ${KEY_ID_RULE}` });
          continue;
        }
        const key = typeof pem === 'string' ? publicKeyOf(pemOf(pem)) : 'must be a PEM string';
        if (typeof key === 'string') issues.push({ setting, reason: `key "${keyId}" ${key}` });
        else publicKeys.set(keyId, key);
      }
    }
  }

  let signingKey: { keyId: string; key: KeyObject } | undefined;
  /** Signs with `key` and accepts its public key, unless `keyId` already names another key. */
  const adopt = (key: KeyObject, keyId: string, idSetting: string): void => {
    const own = createPublicKey(key);
    const listed = publicKeys.get(keyId);
    if (listed && !listed.equals(own)) {
      issues.push({
        setting: idSetting,
        reason: `"${keyId}" names a different public key in CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS`,
      });
    } else {
      publicKeys.set(keyId, own);
      signingKey = { keyId, key };
    }
  };
  const rawPrivate = settings.CAIRN_REGISTRY_SIGNING_KEY;
  const keyId = settings.CAIRN_REGISTRY_SIGNING_KEY_ID;
  const keyDir = settings.CAIRN_REGISTRY_SIGNING_KEY_DIR;
  if (rawPrivate !== undefined && keyId === undefined) {
    issues.push({
      setting: 'CAIRN_REGISTRY_SIGNING_KEY_ID',
      reason: 'is required when CAIRN_REGISTRY_SIGNING_KEY is set',
    });
  } else if (rawPrivate !== undefined && keyId !== undefined) {
    const key = privateKeyOf(pemOf(rawPrivate));
    if (typeof key === 'string') issues.push({ setting: 'CAIRN_REGISTRY_SIGNING_KEY', reason: key });
    else adopt(key, keyId, 'CAIRN_REGISTRY_SIGNING_KEY_ID');
  } else if (keyDir !== undefined) {
    const setting = 'CAIRN_REGISTRY_SIGNING_KEY_DIR';
    const file = path.resolve(keyDir, GENERATED_SIGNING_KEY_FILE);
    const key = generatedKeyOf(file, setting);
    if (typeof key === 'string') issues.push({ setting, reason: key });
    else if (keyId !== undefined) adopt(key, keyId, 'CAIRN_REGISTRY_SIGNING_KEY_ID');
    else adopt(key, publicKeyId(createPublicKey(key)), setting);
  } else if (keyId !== undefined) {
    issues.push({
      setting: 'CAIRN_REGISTRY_SIGNING_KEY',
      reason: 'is required when CAIRN_REGISTRY_SIGNING_KEY_ID is set',
    });
  }
  if (issues.length > 0) throw new ConfigError(SERVICE, issues);
  return new SigningKeyring(publicKeys, signingKey);
}
