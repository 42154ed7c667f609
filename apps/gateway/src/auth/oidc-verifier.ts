import { Inject, Injectable } from '@nestjs/common';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { AppError } from '@cairn/rpc';
import type { AuthConfig, OidcConfig } from './auth.settings';
import { AUTH_CONFIG } from './auth.tokens';
import { isPrincipalName } from './principal-name';
import { knownRoles, type Role } from './roles';

/** Asymmetric algorithms only: a JWKS never holds the shared secret of an HS* token. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Errors about the token itself (anything else from the key set is the issuer's trouble). */
const TOKEN_FAULTS = new Set([
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
]);

class JwksUnavailable extends Error {}

/**
 * A claim by name, or by dotted path when no claim has that exact name (Keycloak nests roles
 * in `realm_access.roles`; Auth0's namespaced claims are URLs with dots, found by name first).
 */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** Cairn's roles named by a roles claim: an array of names or a space/comma-separated string. */
export function rolesFromClaim(value: unknown): Role[] {
  if (Array.isArray(value)) return knownRoles(value.filter((v): v is string => typeof v === 'string'));
  if (typeof value === 'string') return knownRoles(value.split(/[\s,]+/));
  return [];
}

const invalid = (message: string) =>
  new AppError('unauthenticated', 'TOKEN_INVALID', `The bearer token is not valid: ${message}.`);

/**
 * Verifies bearer JWTs from the configured OIDC issuer with jose: signature against the
 * issuer's JWKS (fetched and cached by jose, refetched at most every 30 s for an unknown key
 * id), issuer, audience, expiry (required) and not-before, with the configured clock tolerance.
 */
@Injectable()
export class OidcVerifier {
  private readonly oidc: OidcConfig | undefined;
  private readonly keys: JWTVerifyGetKey | undefined;

  constructor(@Inject(AUTH_CONFIG) config: AuthConfig) {
    this.oidc = config.oidc;
    if (this.oidc) {
      const remote = createRemoteJWKSet(this.oidc.jwksUrl, { timeoutDuration: 5_000 });
      this.keys = async (header, token) => {
        try {
          return await remote(header, token);
        } catch (err) {
          if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) throw err;
          throw new JwksUnavailable(err instanceof Error ? err.message : String(err));
        }
      };
    }
  }

  get enabled(): boolean {
    return this.oidc !== undefined;
  }

  /** The principal (`user:<claim>`) and roles of a valid token; AppError otherwise. */
  async verify(token: string): Promise<{ principal: string; roles: Role[] }> {
    const oidc = this.oidc;
    if (!oidc || !this.keys) throw invalid('this gateway accepts no JWTs (OIDC is not configured)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: oidc.issuer,
        audience: oidc.audiences,
        algorithms: ALGORITHMS,
        clockTolerance: oidc.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      if (err instanceof errors.JWTExpired) {
        throw new AppError('unauthenticated', 'TOKEN_EXPIRED', 'The bearer token has expired.');
      }
      if (err instanceof JwksUnavailable) {
        throw new AppError(
          'unavailable',
          'OIDC_JWKS_UNAVAILABLE',
          `The identity provider's signing keys cannot be fetched: ${err.message}`,
          { jwks_url: oidc.jwksUrl.toString() },
        );
      }
      // jose's messages name the failed check (e.g. `unexpected "aud" claim value`), never the token.
      if (err instanceof errors.JOSEError) throw invalid(err.message);
      throw invalid('malformed token');
    }
    const subject = claimAt(payload, oidc.principalClaim);
    if (typeof subject !== 'string' || !isPrincipalName(subject)) {
      throw invalid(`claim "${oidc.principalClaim}" is missing or not a valid user name`);
    }
    return {
      principal: `user:${subject}`,
      roles: oidc.rolesClaim ? rolesFromClaim(claimAt(payload, oidc.rolesClaim)) : [],
    };
  }
}
