import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { credentials, Metadata } from '@grpc/grpc-js';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { gatewayAuthV1 as pb } from '@cairn/proto';
import type { HeaderSource } from '@cairn/rpc';
import { type RunningService, type ServiceBlueprint, startService } from '@cairn/service-runtime';
import { freePort, type TestDatabase, unaryApi } from '@cairn/testing';
import { AuthModule, authSettings, GatewayAuthenticator } from '../src/auth';
import { Baseline1764000000000 } from '../src/migrations/1764000000000-baseline';
import { AuthTables1764400000000 } from '../src/migrations/1764400000000-auth-tables';

/** The gateway with its auth feature and nothing else, authenticating calls as the gateway does. */
export const authBlueprint: ServiceBlueprint<typeof authSettings> = {
  service: 'gateway',
  extraSettings: authSettings,
  migrations: [Baseline1764000000000, AuthTables1764400000000],
  callAuthenticator: GatewayAuthenticator,
  features: (_settings, extra) => [AuthModule.forRoot(extra)],
};

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export async function bootGateway(db: TestDatabase, env: NodeJS.ProcessEnv = {}): Promise<RunningService> {
  return startService(authBlueprint, {
    DATABASE_URL: db.url,
    CAIRN_GATEWAY_GRPC_PORT: String(await freePort()),
    CAIRN_GATEWAY_HTTP_PORT: String(await freePort()),
    CAIRN_BIND_HOST: '127.0.0.1',
    LOG_LEVEL: process.env.AUTH_TEST_LOG ?? 'warn',
    CAIRN_ADMIN_PASSWORD: ADMIN_PASSWORD,
    // Usage is flushed by the tests themselves, when they look.
    CAIRN_API_KEY_USAGE_FLUSH_MS: '3600000',
    ...env,
  });
}

/** Header sources as the gRPC and HTTP layers hand them to the authenticator. */
export const headers = (h: Record<string, string>): HeaderSource => ({ get: (name) => h[name] });
export const bearer = (token: string) => headers({ authorization: `Bearer ${token}` });
export const basicValue = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
export const basic = (user: string, password: string) =>
  headers({ authorization: basicValue(user, password) });

/** What a refused authentication threw: its kind and reason. */
export async function refusal(p: Promise<unknown>): Promise<{ kind: string; reason: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { kind?: string; reason?: string };
    return { kind: String(e.kind), reason: String(e.reason) };
  }
  throw new Error('expected authentication to be refused');
}

/** An AuthService client sending `authorization` (when given) on every call. */
export function authClient(svc: RunningService, authorization?: string) {
  const raw = new pb.AuthServiceClient(`127.0.0.1:${svc.grpcPort}`, credentials.createInsecure());
  const metadata = () => {
    const m = new Metadata();
    if (authorization) m.set('authorization', authorization);
    return m;
  };
  return { raw, rpc: unaryApi<pb.AuthServiceServer>(raw, pb.AuthServiceService, pb, metadata) };
}

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/**
 * A local OIDC issuer: an RSA signing key with kid `k1`, its JWKS served over HTTP on
 * 127.0.0.1, and tokens signed with it (or, for forgeries, with a key the JWKS does not hold).
 */
export class TestIssuer {
  readonly issuer = 'https://idp.test/realms/cairn';
  readonly audience = 'cairn-gateway';
  jwksRequests = 0;
  private server!: Server;
  private port = 0;
  private key!: SigningKey;
  private jwk!: JWK;
  private otherKey!: SigningKey;

  async start(): Promise<void> {
    const pair = await generateKeyPair('RS256');
    this.key = pair.privateKey;
    this.jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    this.otherKey = (await generateKeyPair('RS256')).privateKey;
    this.server = createServer((req, res) => {
      if (req.url !== '/jwks') {
        res.writeHead(404).end();
        return;
      }
      this.jwksRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [this.jwk] }));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The gateway settings that trust this issuer. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      CAIRN_OIDC_ISSUER: this.issuer,
      CAIRN_OIDC_AUDIENCE: `other-app,${this.audience}`,
      CAIRN_OIDC_JWKS_URL: `http://127.0.0.1:${this.port}/jwks`,
      CAIRN_OIDC_ROLES_CLAIM: 'groups',
      ...extra,
    };
  }

  /** A token valid for an hour unless `claims` or `opts` say otherwise. */
  async token(
    claims: JWTPayload,
    opts: {
      kid?: string;
      forged?: boolean;
      issuer?: string;
      audience?: string;
      expiresAt?: number;
      noExp?: boolean;
    } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? 'k1' })
      .setIssuer(opts.issuer ?? this.issuer)
      .setAudience(opts.audience ?? this.audience)
      .setIssuedAt(now - 60);
    if (!opts.noExp) jwt = jwt.setExpirationTime(opts.expiresAt ?? now + 3600);
    return jwt.sign(opts.forged ? this.otherKey : this.key);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
