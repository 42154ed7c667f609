import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { AppError, type CallAuthenticator, type CallerIdentity, type HeaderSource } from '@cairn/rpc';
import { SERVICE_SETTINGS } from '@cairn/service-runtime';
import { apiKeySecretMatches, hashApiKeySecret, looksLikeApiKey, parseApiKeyToken } from './api-key-token';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyUsageRecorder } from './api-key-usage.recorder';
import { ApiKeysRepository } from './api-keys.repository';
import { OidcVerifier } from './oidc-verifier';
import { hashPassword, needsRehash, PASSWORD_MAX_BYTES } from './password-hash';
import { PasswordVerifier } from './password-verifier';
import { isPrincipalName } from './principal-name';
import { PrincipalsRepository } from './principals.repository';

/** How each identity was established (CallerIdentity.via). */
export const VIA = { apiKey: 'api-key', oidc: 'oidc', basic: 'basic' } as const;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Longer headers are refused before any work (a JWT with many claims is a few KiB). */
const MAX_CREDENTIALS_LENGTH = 16 * 1024;
/** Compared against when a key id is unknown, so that case costs what a wrong secret costs. */
const DUMMY_SHA256 = hashApiKeySecret('no such key');

const refuse = (reason: string, message: string, details: Record<string, string> = {}) =>
  new AppError('unauthenticated', reason, message, details);

const invalidCredentials = () => refuse('CREDENTIALS_INVALID', 'The credentials presented are not valid.');

/**
 * The gateway's CallAuthenticator: reads the `authorization` header (gRPC metadata or HTTP)
 * and establishes the caller from
 * - `Bearer cairn_<key id>_<secret>`: an API key (principal and roles from the database);
 * - `Bearer <JWT>`: a token of the configured OIDC issuer (`user:<claim>`, roles from a claim);
 * - `Basic <base64 user:password>`: MLflow clients' MLFLOW_TRACKING_USERNAME/PASSWORD.
 * No header: no identity (undefined). Anything else is refused with UNAUTHENTICATED and a
 * reason: CREDENTIALS_INVALID, API_KEY_REVOKED, API_KEY_EXPIRED, TOKEN_EXPIRED, TOKEN_INVALID,
 * PRINCIPAL_DISABLED or AUTH_SCHEME_UNSUPPORTED. Revocation and expiry are told only to a
 * caller who holds the key's secret; a disabled principal only to one who holds its password.
 */
@Injectable()
export class GatewayAuthenticator implements CallAuthenticator {
  private readonly principals: PrincipalsRepository;
  private readonly apiKeys: ApiKeysRepository;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(OidcVerifier) private readonly oidc: OidcVerifier,
    @Inject(PasswordVerifier) private readonly passwords: PasswordVerifier,
    @Inject(ApiKeyUsageRecorder) private readonly usage: ApiKeyUsageRecorder,
    @Inject(ApiKeyCache) private readonly verifiedKeys: ApiKeyCache,
  ) {
    this.principals = new PrincipalsRepository(settings.databaseSchema);
    this.apiKeys = new ApiKeysRepository(settings.databaseSchema);
  }

  async authenticate(headers: HeaderSource): Promise<CallerIdentity | undefined> {
    const header = headers.get('authorization')?.trim();
    if (!header) return undefined;
    if (header.length > MAX_CREDENTIALS_LENGTH) throw invalidCredentials();
    const space = header.search(/\s/);
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const credentials = space < 0 ? '' : header.slice(space).trim();
    switch (scheme) {
      case 'bearer':
        return this.bearer(credentials);
      case 'basic':
        return this.basic(credentials);
      default:
        throw refuse(
          'AUTH_SCHEME_UNSUPPORTED',
          `Authorization scheme '${scheme.slice(0, 32)}' is not supported: use Bearer (API key or OIDC token) or Basic.`,
          { scheme: scheme.slice(0, 32) },
        );
    }
  }

  private async bearer(token: string): Promise<CallerIdentity> {
    if (looksLikeApiKey(token)) return this.apiKey(token);
    if (JWT_SHAPE.test(token)) {
      const { principal, roles } = await this.oidc.verify(token);
      const stored = await this.principals.find(this.ds.manager, principal);
      // An admin can shut an SSO user out without waiting for the issuer.
      if (stored?.disabled) throw disabled(principal);
      return { principal, roles, via: VIA.oidc };
    }
    throw invalidCredentials();
  }

  private async apiKey(token: string): Promise<CallerIdentity> {
    const cached = this.verifiedKeys.get(token);
    if (cached) {
      this.usage.touch(cached.keyId);
      return { principal: cached.principal, roles: cached.roles, via: VIA.apiKey };
    }
    const parsed = parseApiKeyToken(token);
    if (!parsed) throw invalidCredentials();
    const found = await this.apiKeys.findCredential(this.ds.manager, parsed.keyId);
    const matches = apiKeySecretMatches(parsed.secret, found?.secretSha256 ?? DUMMY_SHA256);
    if (!found || !matches) throw invalidCredentials();
    const { key } = found;
    if (key.revokedAt !== null) {
      throw refuse('API_KEY_REVOKED', `API key ${key.keyId} has been revoked.`, { key_id: key.keyId });
    }
    if (key.expiresAt !== null && key.expiresAt <= Date.now()) {
      throw refuse('API_KEY_EXPIRED', `API key ${key.keyId} has expired.`, { key_id: key.keyId });
    }
    if (found.principalDisabled) throw disabled(key.principal);
    this.usage.touch(key.keyId);
    this.verifiedKeys.remember(token, {
      keyId: key.keyId,
      principal: key.principal,
      roles: found.principalRoles,
      expiresAt: key.expiresAt,
    });
    return { principal: key.principal, roles: found.principalRoles, via: VIA.apiKey };
  }

  private async basic(encoded: string): Promise<CallerIdentity> {
    const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded)
      ? Buffer.from(encoded, 'base64').toString('utf8')
      : '';
    const colon = decoded.indexOf(':');
    if (colon < 0)
      throw refuse('CREDENTIALS_INVALID', 'Basic credentials must be base64 of "username:password".');
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const principalId = `user:${username}`;
    const found =
      isPrincipalName(username) && Buffer.byteLength(password) <= PASSWORD_MAX_BYTES
        ? await this.principals.findWithPasswordHash(this.ds.manager, principalId)
        : undefined;
    const stored = found?.passwordHash ?? null;
    // Always one password check, so unknown users cost what known ones do.
    const ok = await this.passwords.verify(principalId, password, stored);
    if (!found || !ok || stored === null) throw invalidCredentials();
    if (found.principal.disabled) throw disabled(principalId);
    if (needsRehash(stored)) {
      // Parameters were raised since this hash was made: upgrade it now that the password is known.
      await this.principals.setPasswordHash(
        this.ds.manager,
        principalId,
        await hashPassword(password),
        stored,
      );
    }
    return { principal: principalId, roles: found.principal.roles, via: VIA.basic };
  }
}

function disabled(principal: string): AppError {
  return refuse('PRINCIPAL_DISABLED', `Principal ${principal} is disabled.`, { principal });
}
