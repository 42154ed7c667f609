/** How a client authenticates at the gateway. */
export type CairnCredentials =
  | { readonly apiKey: string }
  | { readonly token: string }
  | { readonly username: string; readonly password: string };

/** The `authorization` metadata value for `credentials`. */
export function authorizationHeader(credentials: CairnCredentials): string {
  if ('apiKey' in credentials) return `Bearer ${credentials.apiKey}`;
  if ('token' in credentials) return `Bearer ${credentials.token}`;
  // HTTP Basic as the gateway (and MLflow clients) expect it: base64 of `user:password`.
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}
