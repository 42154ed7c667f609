import { AppError } from '@cairn/rpc';

/*
 * Principal ids are `user:<name>` or `service:<name>`; names are 1–128 characters of letters,
 * digits and `. _ @ + -`, starting with a letter or digit (e-mail addresses and the subjects of
 * common OIDC issuers fit). Where MLflow takes a `username`, a bare name is a user.
 */

export type PrincipalKind = 'user' | 'service';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const PRINCIPAL = /^(user|service):([A-Za-z0-9][A-Za-z0-9._@+-]{0,127})$/;

export function isPrincipalName(name: string): boolean {
  return NAME.test(name);
}

export function isPrincipalId(id: string): boolean {
  return PRINCIPAL.test(id);
}

/** `user:alice` → { kind: 'user', name: 'alice' }; undefined when not a principal id. */
export function splitPrincipalId(id: string): { kind: PrincipalKind; name: string } | undefined {
  const m = PRINCIPAL.exec(id);
  return m ? { kind: m[1] as PrincipalKind, name: m[2] } : undefined;
}

/** MLflow's `username` (or a full principal id) → the principal id; invalid_argument otherwise. */
export function principalIdOf(username: string, kind: PrincipalKind = 'user'): string {
  const value = username.trim();
  if (isPrincipalId(value)) return value;
  if (isPrincipalName(value)) return `${kind}:${value}`;
  throw new AppError(
    'invalid_argument',
    'INVALID_PARAMETER_VALUE',
    `Invalid username '${username.slice(0, 200)}': expected a name of letters, digits and . _ @ + - (at most 128), or a principal id such as user:alice or service:ci.`,
    { username: username.slice(0, 200) },
  );
}
