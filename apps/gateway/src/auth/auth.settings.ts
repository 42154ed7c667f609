import { z } from 'zod';
import { ConfigError, type ConfigIssue, positiveInt } from '@cairn/config';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH } from './password-hash';
import { PERMISSIONS, type Permission } from './resource-permission';

/**
 * The gateway's authentication and authorization settings, keyed by environment variable,
 * for the gateway blueprint's `extraSettings` (a plain object, so its shape merges):
 *
 * - `CAIRN_OIDC_ISSUER`, `CAIRN_OIDC_AUDIENCE`, `CAIRN_OIDC_JWKS_URL`: bearer JWTs from this
 *   issuer are accepted when all three are set (none set: OIDC is off). The audience may be a
 *   comma-separated list; a token must name one of them.
 * - `CAIRN_OIDC_PRINCIPAL_CLAIM` (default `sub`): the claim naming the user; the principal is
 *   `user:<claim value>`.
 * - `CAIRN_OIDC_ROLES_CLAIM` (optional): the claim holding the user's roles, a dotted path for
 *   nested claims (Keycloak's `realm_access.roles`), an array or a space- or comma-separated
 *   string; only Cairn's role names count. Unset, OIDC users have no role: authenticated,
 *   but allowed only what needs none (WhoAmI, their own account).
 * - `CAIRN_OIDC_CLOCK_TOLERANCE_SECONDS` (default 30): skew allowed on exp and nbf.
 * - `CAIRN_DEFAULT_PERMISSION` (default READ): the permission on an experiment or registered
 *   model of a principal without an explicit one (MLflow's `default_permission`).
 * - `CAIRN_ADMIN_PASSWORD` (optional): the password of the bootstrap admin `user:admin`,
 *   created on start when no admin exists; a random one is generated and printed once when
 *   unset. Ignored once an admin exists.
 * - `CAIRN_API_KEY_USAGE_FLUSH_MS` (default 60000): how often API keys' last-used times are
 *   written (one batched UPDATE), so authentication never writes per call.
 * - `CAIRN_API_KEY_CACHE_MS` (default 2000, 0 disables): how long a verified API key is
 *   remembered (see ApiKeyCache): the longest another replica's revocation takes to apply here.
 */
export const authSettings = z.object({
  CAIRN_OIDC_ISSUER: z.url({ message: 'must be a URL' }).optional(),
  CAIRN_OIDC_AUDIENCE: z.string().min(1).optional(),
  CAIRN_OIDC_JWKS_URL: z.url({ message: 'must be an http(s) URL', protocol: /^https?$/ }).optional(),
  CAIRN_OIDC_PRINCIPAL_CLAIM: z.string().min(1).default('sub'),
  CAIRN_OIDC_ROLES_CLAIM: z.string().min(1).optional(),
  CAIRN_OIDC_CLOCK_TOLERANCE_SECONDS: z.coerce
    .number({ message: 'must be a non-negative integer' })
    .int('must be a non-negative integer')
    .min(0, 'must be a non-negative integer')
    .max(600, 'must be at most 600')
    .default(30),
  CAIRN_DEFAULT_PERMISSION: z
    .enum(PERMISSIONS, { message: `must be one of ${PERMISSIONS.join(', ')}` })
    .default('READ'),
  CAIRN_ADMIN_PASSWORD: z
    .string()
    .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
    .refine((v) => Buffer.byteLength(v) <= PASSWORD_MAX_BYTES, `must be at most ${PASSWORD_MAX_BYTES} bytes`)
    .optional(),
  CAIRN_API_KEY_USAGE_FLUSH_MS: positiveInt(60_000),
  CAIRN_API_KEY_CACHE_MS: z.coerce
    .number({ message: 'must be an integer between 0 and 60000' })
    .int('must be an integer between 0 and 60000')
    .min(0, 'must be an integer between 0 and 60000')
    .max(60_000, 'must be an integer between 0 and 60000')
    .default(2_000),
});

export type AuthSettingsInput = z.infer<typeof authSettings>;

export interface OidcConfig {
  issuer: string;
  audiences: string[];
  jwksUrl: URL;
  principalClaim: string;
  rolesClaim: string | undefined;
  clockToleranceSeconds: number;
}

/** The validated settings as the auth feature uses them. */
export interface AuthConfig {
  oidc: OidcConfig | undefined;
  defaultPermission: Permission;
  adminPassword: string | undefined;
  apiKeyUsageFlushMs: number;
  apiKeyCacheMs: number;
}

const OIDC_SETTINGS = ['CAIRN_OIDC_ISSUER', 'CAIRN_OIDC_AUDIENCE', 'CAIRN_OIDC_JWKS_URL'] as const;

/** Resolves parsed settings; throws ConfigError naming the setting at fault. */
export function toAuthConfig(s: AuthSettingsInput): AuthConfig {
  const set = OIDC_SETTINGS.filter((k) => s[k] !== undefined);
  let oidc: OidcConfig | undefined;
  if (set.length > 0) {
    const missing = OIDC_SETTINGS.filter((k) => s[k] === undefined);
    if (missing.length > 0) {
      // Never accept tokens without checking both who issued them and whom they are for.
      throw new ConfigError(
        'gateway',
        missing.map((setting): ConfigIssue => ({
          setting,
          reason: `is required when ${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set (OIDC needs issuer, audience and JWKS URL)`,
        })),
      );
    }
    oidc = {
      issuer: s.CAIRN_OIDC_ISSUER!,
      audiences: s
        .CAIRN_OIDC_AUDIENCE!.split(',')
        .map((a) => a.trim())
        .filter((a) => a !== ''),
      jwksUrl: new URL(s.CAIRN_OIDC_JWKS_URL!),
      principalClaim: s.CAIRN_OIDC_PRINCIPAL_CLAIM,
      rolesClaim: s.CAIRN_OIDC_ROLES_CLAIM,
      clockToleranceSeconds: s.CAIRN_OIDC_CLOCK_TOLERANCE_SECONDS,
    };
  }
  return {
    oidc,
    defaultPermission: s.CAIRN_DEFAULT_PERMISSION,
    adminPassword: s.CAIRN_ADMIN_PASSWORD,
    apiKeyUsageFlushMs: s.CAIRN_API_KEY_USAGE_FLUSH_MS,
    apiKeyCacheMs: s.CAIRN_API_KEY_CACHE_MS,
  };
}
