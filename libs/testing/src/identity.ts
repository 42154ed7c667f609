import { generateKeyPairSync } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { IDENTITY_METADATA_KEY, type IdentityAudience, IdentityIssuer } from '@cairn/identity';

export interface TestTokenRequest {
  principal: string;
  audience: IdentityAudience;
  roles?: string[];
  /** When the token was issued (default now): an hour ago makes an expired token. */
  issuedAt?: Date;
  ttlSeconds?: number;
}

export interface TestIdentity {
  /** The verifying side's settings: `CAIRN_IDENTITY_PUBLIC_KEYS` with this identity's key. */
  env: Record<string, string>;
  /** The gateway side's settings: `CAIRN_IDENTITY_SIGNING_KEY` (the PEM). */
  signingEnv: Record<string, string>;
  keyId: string;
  /** A fresh identity token, signed like the gateway signs one. */
  token(req: TestTokenRequest): Promise<string>;
  /** Metadata carrying a token (`cairn-identity`); reuses a token until 20 s before it expires. */
  metadata(req: TestTokenRequest): Promise<Metadata>;
}

/**
 * A gateway identity for tests: a generated Ed25519 key pair, the settings a service needs to
 * trust it, and tokens as the gateway issues them. Two calls give two unrelated keys, so a
 * second identity's tokens are forgeries to a service configured with the first's `env`.
 */
export function testIdentity(): TestIdentity {
  const { privateKey } = generateKeyPairSync('ed25519');
  const issuer = new IdentityIssuer({ privateKey });
  const cache = new Map<string, { token: string; expiresAt: number }>();
  const token = async (req: TestTokenRequest): Promise<string> => {
    const at = req.issuedAt?.getTime();
    const from =
      at === undefined && req.ttlSeconds === undefined
        ? issuer
        : new IdentityIssuer({
            privateKey,
            ttlSeconds: req.ttlSeconds,
            now: at === undefined ? undefined : () => at,
          });
    return from.issue({ principal: req.principal, roles: req.roles ?? [], audience: req.audience });
  };
  return {
    env: { CAIRN_IDENTITY_PUBLIC_KEYS: issuer.publicKeysSetting() },
    signingEnv: {
      CAIRN_IDENTITY_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    },
    keyId: issuer.keyId,
    token,
    async metadata(req) {
      const md = new Metadata();
      const reusable = req.issuedAt === undefined && req.ttlSeconds === undefined;
      const key = JSON.stringify([req.principal, req.audience, req.roles ?? []]);
      let cached = reusable ? cache.get(key) : undefined;
      if (!cached || cached.expiresAt - Date.now() < 20_000) {
        cached = { token: await token(req), expiresAt: Date.now() + issuer.ttlSeconds * 1000 };
        if (reusable) cache.set(key, cached);
      }
      md.set(IDENTITY_METADATA_KEY, cached.token);
      return md;
    },
  };
}
