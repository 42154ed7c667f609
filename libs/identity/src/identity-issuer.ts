import { createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { ConfigError, loadConfig } from '@cairn/config';
import {
  DEFAULT_IDENTITY_TTL_SECONDS,
  IDENTITY_ALGORITHM,
  IDENTITY_ISSUER,
  type IdentityAudience,
  IDENTITY_AUDIENCES,
  MAX_IDENTITY_TTL_SECONDS,
  principalProblem,
  rolesProblem,
} from './identity-token';
import {
  GENERATED_IDENTITY_KEY_FILE,
  identityIssuerSettings,
  type IdentityIssuerSettings,
} from './identity.settings';
import { ed25519PrivateKeyOf, loadOrGenerateEd25519Pem, pemOf, publicKeyId } from './local-key';

export interface IdentityIssuerOptions {
  /** The Ed25519 private key tokens are signed with. */
  privateKey: KeyObject;
  /** Token lifetime in seconds, 1 to 300; default 60. */
  ttlSeconds?: number;
  /** The header `kid`; default (and normally) the key's fingerprint, `publicKeyId`. */
  keyId?: string;
  /** The clock, in milliseconds since the epoch (tests issue tokens in the past with it). */
  now?: () => number;
}

export interface IdentityTokenRequest {
  /** The authenticated principal, e.g. `user:alice` (the token's `sub`). */
  principal: string;
  roles: readonly string[];
  /** The service the token is for; no other service accepts it. */
  audience: IdentityAudience;
}

/**
 * Issues the short-lived identity tokens the gateway attaches (metadata `cairn-identity`) to
 * each call it forwards to a service: a compact JWS, EdDSA over Ed25519, see the README.
 */
export class IdentityIssuer {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly ttlSeconds: number;
  private readonly privateKey: KeyObject;
  private readonly now: () => number;

  constructor(opts: IdentityIssuerOptions) {
    if (opts.privateKey.type !== 'private' || opts.privateKey.asymmetricKeyType !== 'ed25519') {
      throw new TypeError('an identity issuer signs with an Ed25519 private key');
    }
    const ttl = opts.ttlSeconds ?? DEFAULT_IDENTITY_TTL_SECONDS;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_IDENTITY_TTL_SECONDS) {
      throw new RangeError(`an identity token lives 1 to ${MAX_IDENTITY_TTL_SECONDS} s, not ${ttl}`);
    }
    this.privateKey = opts.privateKey;
    this.publicKey = createPublicKey(opts.privateKey);
    this.keyId = opts.keyId ?? publicKeyId(this.publicKey);
    this.ttlSeconds = ttl;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The issuer configured by `settings`: the key from CAIRN_IDENTITY_SIGNING_KEY (PEM or file),
   * else the one generated once in CAIRN_IDENTITY_KEY_DIR. A bad or missing key is a
   * `ConfigError` of `owner` naming the setting, never echoing key material.
   */
  static fromSettings(settings: IdentityIssuerSettings, owner = 'gateway'): IdentityIssuer {
    return new IdentityIssuer({
      privateKey: identitySigningKey(settings, owner),
      ttlSeconds: settings.CAIRN_IDENTITY_TOKEN_TTL_SECONDS,
    });
  }

  /** The issuer configured by the environment (see `identityIssuerSettings`). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, owner = 'gateway'): IdentityIssuer {
    return IdentityIssuer.fromSettings(loadConfig(owner, identityIssuerSettings, env), owner);
  }

  /** The value of CAIRN_IDENTITY_PUBLIC_KEYS that lets a service verify this issuer's tokens. */
  publicKeysSetting(): string {
    return JSON.stringify({
      [this.keyId]: this.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
  }

  /** A token asserting `principal` with `roles` to the service `audience`, valid for the TTL. */
  async issue(request: IdentityTokenRequest): Promise<string> {
    const problem = principalProblem(request.principal) ?? rolesProblem(request.roles);
    if (problem) throw new TypeError(`cannot issue an identity token: ${problem}`);
    if (!(IDENTITY_AUDIENCES as readonly string[]).includes(request.audience)) {
      throw new TypeError(`cannot issue an identity token for ${JSON.stringify(request.audience)}`);
    }
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ roles: [...request.roles] })
      .setProtectedHeader({ alg: IDENTITY_ALGORITHM, kid: this.keyId, typ: 'JWT' })
      .setIssuer(IDENTITY_ISSUER)
      .setSubject(request.principal)
      .setAudience(request.audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.privateKey);
  }
}

/** The gateway's signing key as `settings` configure it (see `IdentityIssuer.fromSettings`). */
export function identitySigningKey(
  settings: Pick<IdentityIssuerSettings, 'CAIRN_IDENTITY_SIGNING_KEY' | 'CAIRN_IDENTITY_KEY_DIR'>,
  owner = 'gateway',
): KeyObject {
  const configured = settings.CAIRN_IDENTITY_SIGNING_KEY?.trim();
  if (configured) {
    const setting = 'CAIRN_IDENTITY_SIGNING_KEY';
    let pem = pemOf(configured);
    if (!pem.startsWith('-----BEGIN')) {
      try {
        pem = pemOf(readFileSync(configured, 'utf8'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new ConfigError(owner, [{ setting, reason: `is neither a PEM nor a readable file (${code})` }]);
      }
    }
    const key = ed25519PrivateKeyOf(pem);
    if (typeof key === 'string') throw new ConfigError(owner, [{ setting, reason: key }]);
    return key;
  }
  const dir = settings.CAIRN_IDENTITY_KEY_DIR;
  if (!dir) {
    throw new ConfigError(owner, [
      {
        setting: 'CAIRN_IDENTITY_SIGNING_KEY',
        reason: 'is required (or CAIRN_IDENTITY_KEY_DIR, for one gateway)',
      },
    ]);
  }
  const setting = 'CAIRN_IDENTITY_KEY_DIR';
  const file = path.resolve(dir, GENERATED_IDENTITY_KEY_FILE);
  let pem: string;
  try {
    pem = loadOrGenerateEd25519Pem(file, setting, owner);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof ConfigError || code === undefined) throw err;
    throw new ConfigError(owner, [{ setting, reason: `cannot read or create ${file} (${code})` }]);
  }
  const key = ed25519PrivateKeyOf(pem.trim());
  if (typeof key === 'string') throw new ConfigError(owner, [{ setting, reason: `${file} ${key}` }]);
  return key;
}
