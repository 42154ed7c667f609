import type { ServiceName } from '@cairn/config';

/** The gRPC metadata key that carries the gateway's identity token to a service. */
export const IDENTITY_METADATA_KEY = 'cairn-identity';

/** The `iss` of every identity token. */
export const IDENTITY_ISSUER = 'cairn-gateway';

/** The JWS algorithm of identity tokens: EdDSA over Ed25519 (RFC 8037). */
export const IDENTITY_ALGORITHM = 'EdDSA';

/** The services a token can be addressed to (its `aud`): every service behind the gateway. */
export const IDENTITY_AUDIENCES = ['tracking', 'registry', 'orchestrator', 'monitor'] as const;
export type IdentityAudience = (typeof IDENTITY_AUDIENCES)[number] & ServiceName;

/** Token lifetime: default and upper bound, in seconds. */
export const DEFAULT_IDENTITY_TTL_SECONDS = 60;
export const MAX_IDENTITY_TTL_SECONDS = 300;

/** Clock skew tolerated between the gateway and a service when checking `iat` and `exp`. */
export const IDENTITY_CLOCK_TOLERANCE_SECONDS = 5;

/** The `via` of a caller identity established from a gateway token. */
export const GATEWAY_TOKEN_VIA = 'gateway-token';

/** Why a token was refused; each is an `unauthenticated` AppError's reason. */
export type IdentityFailureReason =
  | 'IDENTITY_TOKEN_INVALID'
  | 'IDENTITY_TOKEN_EXPIRED'
  | 'IDENTITY_TOKEN_WRONG_AUDIENCE'
  | 'IDENTITY_KEY_UNKNOWN'
  | 'IDENTITY_NOT_CONFIGURED';

/** The claims of an identity token, as the gateway issues them. */
export interface IdentityClaims {
  iss: typeof IDENTITY_ISSUER;
  /** The principal id, e.g. `user:alice`. */
  sub: string;
  aud: IdentityAudience;
  roles: string[];
  iat: number;
  exp: number;
  jti: string;
}

const MAX_PRINCIPAL_LENGTH = 256;
const MAX_ROLES = 64;
const MAX_ROLE_LENGTH = 128;
/** Printable, no whitespace or control characters: principals and roles land in audit entries and logs. */
const PRINTABLE = /^[\x21-\x7e\u00a0-\uffff]+$/u;

/** Why `principal` cannot be a token's subject, or undefined when it can. */
export function principalProblem(principal: unknown): string | undefined {
  if (typeof principal !== 'string' || principal.length === 0) return 'a principal is a non-empty string';
  if (principal.length > MAX_PRINCIPAL_LENGTH)
    return `a principal has at most ${MAX_PRINCIPAL_LENGTH} characters`;
  if (!PRINTABLE.test(principal)) return 'a principal has no whitespace or control characters';
  return undefined;
}

/** Why `roles` cannot be a token's roles claim, or undefined when they can. */
export function rolesProblem(roles: unknown): string | undefined {
  if (!Array.isArray(roles)) return 'roles are an array of strings';
  if (roles.length > MAX_ROLES) return `at most ${MAX_ROLES} roles`;
  for (const role of roles) {
    if (
      typeof role !== 'string' ||
      role.length === 0 ||
      role.length > MAX_ROLE_LENGTH ||
      !PRINTABLE.test(role)
    )
      return `a role is 1 to ${MAX_ROLE_LENGTH} printable characters without whitespace`;
  }
  return undefined;
}
