import { type KeyObject } from 'node:crypto';
import { errors, type JWTPayload, jwtVerify } from 'jose';
import { ConfigError, loadConfig, type ServiceName } from '@cairn/config';
import { AppError, type CallerIdentity } from '@cairn/rpc';
import {
  GATEWAY_TOKEN_VIA,
  IDENTITY_ALGORITHM,
  IDENTITY_CLOCK_TOLERANCE_SECONDS,
  IDENTITY_ISSUER,
  type IdentityFailureReason,
  MAX_IDENTITY_TTL_SECONDS,
  principalProblem,
  rolesProblem,
} from './identity-token';
import {
  identityVerifierSettings,
  type IdentityVerifierSettings,
  parseIdentityPublicKeys,
} from './identity.settings';

export interface IdentityVerifierOptions {
  /** The service verifying: only tokens whose `aud` is its name are accepted. */
  service: ServiceName;
  /** The gateway's public keys by key id (the tokens' `kid`); empty when none is configured. */
  publicKeys: ReadonlyMap<string, KeyObject>;
  /** The clock, in milliseconds since the epoch. */
  now?: () => number;
}

/** A compact JWS of this size is far beyond any token the gateway issues: refuse before parsing. */
const MAX_TOKEN_LENGTH = 4096;

/** Thrown by the key lookup so the verifier can tell an unknown key from a bad signature. */
class UnknownKey extends Error {
  constructor(readonly keyId: string | undefined) {
    super('unknown key');
  }
}

function refused(
  reason: IdentityFailureReason,
  message: string,
  details: Record<string, string> = {},
): AppError {
  return new AppError('unauthenticated', reason, message, details);
}

/**
 * Verifies the gateway's identity tokens for one service: the signature with the key the
 * header's `kid` names, the algorithm (EdDSA only), `iss`, `aud` (the service's own name),
 * `iat` and `exp` with a 5 s clock tolerance, a lifetime of at most 300 s, and the shape of
 * `sub` and `roles`. A refusal is an `unauthenticated` AppError whose reason says why.
 */
export class IdentityVerifier {
  readonly service: ServiceName;
  private readonly publicKeys: ReadonlyMap<string, KeyObject>;
  private readonly now: () => number;

  constructor(opts: IdentityVerifierOptions) {
    this.service = opts.service;
    this.publicKeys = opts.publicKeys;
    this.now = opts.now ?? Date.now;
  }

  /** The verifier `settings` configure; a bad key is a `ConfigError` naming the setting. */
  static fromSettings(service: ServiceName, settings: IdentityVerifierSettings): IdentityVerifier {
    const { keys, issues } = parseIdentityPublicKeys(settings.CAIRN_IDENTITY_PUBLIC_KEYS);
    if (issues.length > 0) throw new ConfigError(service, issues);
    return new IdentityVerifier({ service, publicKeys: keys });
  }

  /** The verifier configured by the environment (see `identityVerifierSettings`). */
  static fromEnv(service: ServiceName, env: NodeJS.ProcessEnv = process.env): IdentityVerifier {
    return IdentityVerifier.fromSettings(service, loadConfig(service, identityVerifierSettings, env));
  }

  /** True when at least one gateway key is configured (without one, every token is refused). */
  get configured(): boolean {
    return this.publicKeys.size > 0;
  }

  /** Ids of the accepted keys, sorted. */
  keyIds(): string[] {
    return [...this.publicKeys.keys()].sort();
  }

  async verify(token: string): Promise<CallerIdentity> {
    if (!this.configured) {
      throw refused(
        'IDENTITY_NOT_CONFIGURED',
        `The call carries an identity token, but ${this.service} has no gateway keys to verify it (CAIRN_IDENTITY_PUBLIC_KEYS)`,
      );
    }
    if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw refused('IDENTITY_TOKEN_INVALID', 'The identity token is not a compact JWT');
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.publicKeys.get(header.kid);
          if (!key) throw new UnknownKey(header.kid);
          return key;
        },
        {
          algorithms: [IDENTITY_ALGORITHM],
          issuer: IDENTITY_ISSUER,
          audience: this.service,
          clockTolerance: IDENTITY_CLOCK_TOLERANCE_SECONDS,
          // With iat required, this also refuses a token issued in the future (beyond the tolerance).
          maxTokenAge: MAX_IDENTITY_TTL_SECONDS,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
          currentDate: new Date(this.now()),
        },
      ));
    } catch (err) {
      throw this.refusal(err);
    }
    const { sub, roles, exp, iat, jti, aud } = payload;
    const problem =
      // jose accepts an array holding the audience; a token good at several services is not ours.
      (aud === this.service ? undefined : 'aud is one service name') ??
      principalProblem(sub) ??
      rolesProblem(roles) ??
      (typeof jti === 'string' && jti.length > 0 ? undefined : 'jti is a non-empty string') ??
      ((exp as number) - (iat as number) <= MAX_IDENTITY_TTL_SECONDS
        ? undefined
        : `a token lives at most ${MAX_IDENTITY_TTL_SECONDS} s`);
    if (problem)
      throw refused('IDENTITY_TOKEN_INVALID', `The identity token's claims are malformed: ${problem}`);
    return { principal: sub as string, roles: [...(roles as string[])], via: GATEWAY_TOKEN_VIA };
  }

  private refusal(err: unknown): AppError {
    if (err instanceof UnknownKey) {
      return err.keyId === undefined
        ? refused('IDENTITY_TOKEN_INVALID', 'The identity token names no key (header kid)')
        : refused(
            'IDENTITY_KEY_UNKNOWN',
            `The identity token is signed with key ${JSON.stringify(err.keyId.slice(0, 64))}, which ${this.service} does not know`,
            { kid: err.keyId.slice(0, 64) },
          );
    }
    if (err instanceof errors.JWTExpired) {
      return refused('IDENTITY_TOKEN_EXPIRED', 'The identity token has expired');
    }
    if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'aud' && err.reason !== 'missing') {
      const aud = err.payload.aud;
      const audience = (Array.isArray(aud) ? aud.join(',') : String(aud ?? '')).slice(0, 64);
      return refused(
        'IDENTITY_TOKEN_WRONG_AUDIENCE',
        `The identity token is for ${JSON.stringify(audience)}, not ${this.service}`,
        { audience },
      );
    }
    if (err instanceof errors.JOSEError) {
      return refused('IDENTITY_TOKEN_INVALID', `The identity token is invalid (${err.code})`);
    }
    // Anything else (a TypeError from a malformed input jose did not classify) is the token's fault too.
    return refused('IDENTITY_TOKEN_INVALID', 'The identity token is invalid');
  }
}
