import {
  type DynamicModule,
  Inject,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { type Client, Metadata } from '@grpc/grpc-js';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { positiveInt } from '@cairn/config';
import {
  IDENTITY_METADATA_KEY,
  type IdentityAudience,
  IdentityIssuer,
  type IdentityIssuerSettings,
} from '@cairn/identity';
import { type CallerIdentity, GrpcServerHost } from '@cairn/rpc';
import { AuthorizationService } from '../auth/authorization.service';
import { ACCESS_RULES, PROXIED_SERVICES } from './access-rules';
import { GatewayForwardPolicy } from './forward-policy';
import { InternalLookups, internalClient } from './internal-clients';
import { PrincipalRateLimiter } from './rate-limit';
import { GatewayCalls, type InternalService } from './gateway-calls';
import { forwardingImplementation } from './service-forwarder';

const HOST_PORT = /^[^\s:]+:\d{1,5}$/;

/**
 * Where the re-exported services live and how long a forwarded call may run:
 * - `CAIRN_GATEWAY_TRACKING_ADDRESS`, `CAIRN_GATEWAY_REGISTRY_ADDRESS`: host:port of their
 *   internal gRPC (defaults: the default ports on this machine; `npm start` sets them).
 * - `CAIRN_GATEWAY_MAX_DEADLINE_MS`: the cap on a forwarded call's deadline (default 5 min),
 *   applied also to calls that set none.
 * - `CAIRN_GATEWAY_RATE_LIMIT_PER_SECOND`, `CAIRN_GATEWAY_RATE_LIMIT_BURST`: calls per second per
 *   principal and the burst above it (per gateway replica; see PrincipalRateLimiter).
 */
export const proxySettings = z.object({
  CAIRN_GATEWAY_TRACKING_ADDRESS: z.string().regex(HOST_PORT, 'must be host:port').default('127.0.0.1:50061'),
  CAIRN_GATEWAY_REGISTRY_ADDRESS: z.string().regex(HOST_PORT, 'must be host:port').default('127.0.0.1:50062'),
  CAIRN_GATEWAY_MAX_DEADLINE_MS: positiveInt(300_000),
  CAIRN_GATEWAY_RATE_LIMIT_PER_SECOND: positiveInt(1_000),
  CAIRN_GATEWAY_RATE_LIMIT_BURST: positiveInt(2_000),
});
export type ProxySettings = z.infer<typeof proxySettings>;

const PROXY_SETTINGS = Symbol('PROXY_SETTINGS');
const IDENTITY_ISSUER = Symbol('IDENTITY_ISSUER');

/**
 * The caller's identity tokens, one per principal, roles and audience, reused for half their
 * lifetime: signing per call would put an Ed25519 signature on every forwarded call's path.
 */
class IdentityTokens {
  private readonly cache: LRUCache<string, string>;

  constructor(private readonly issuer: IdentityIssuer) {
    this.cache = new LRUCache<string, string>({ max: 50_000, ttl: (issuer.ttlSeconds * 1000) / 2 });
  }

  async metadataFor(identity: CallerIdentity, audience: IdentityAudience): Promise<Metadata> {
    const key = `${identity.principal}\n${[...identity.roles].sort().join(',')}\n${audience}`;
    let token = this.cache.get(key);
    if (token === undefined) {
      token = await this.issuer.issue({ principal: identity.principal, roles: identity.roles, audience });
      this.cache.set(key, token);
    }
    const md = new Metadata();
    md.set(IDENTITY_METADATA_KEY, token);
    return md;
  }
}

/** The one path from the gateway to the services (see GatewayCalls); MLflow REST uses it too. */
export const GATEWAY_CALLS = Symbol('GATEWAY_CALLS');

/** The internal channels, closed when the application stops. */
@Injectable()
class InternalChannels implements OnApplicationShutdown {
  readonly clients: Record<InternalService, Client>;

  constructor(@Inject(PROXY_SETTINGS) settings: ProxySettings) {
    this.clients = {
      tracking: internalClient(settings.CAIRN_GATEWAY_TRACKING_ADDRESS),
      registry: internalClient(settings.CAIRN_GATEWAY_REGISTRY_ADDRESS),
    };
  }

  onApplicationShutdown(): void {
    for (const client of Object.values(this.clients)) client.close();
  }
}

function gatewayCalls(
  settings: ProxySettings,
  issuer: IdentityIssuer,
  authorization: AuthorizationService,
  channels: InternalChannels,
): GatewayCalls {
  const tokens = new IdentityTokens(issuer);
  const metadataFor = (identity: CallerIdentity | undefined, audience: string) => {
    if (!identity) throw new Error('forwarding needs an authenticated caller');
    return tokens.metadataFor(identity, audience as IdentityAudience);
  };
  const policy = new GatewayForwardPolicy({
    authorization,
    rateLimiter: new PrincipalRateLimiter({
      perSecond: settings.CAIRN_GATEWAY_RATE_LIMIT_PER_SECOND,
      burst: settings.CAIRN_GATEWAY_RATE_LIMIT_BURST,
    }),
    lookups: new InternalLookups(channels.clients.tracking, channels.clients.registry, (ctx, audience) =>
      metadataFor(ctx.identity, audience),
    ),
    outboundMetadata: (identity, audience) => metadataFor(identity, audience),
  });
  return new GatewayCalls({
    clients: channels.clients,
    rules: ACCESS_RULES,
    policy,
    maxDeadlineMs: settings.CAIRN_GATEWAY_MAX_DEADLINE_MS,
  });
}

/**
 * Re-exports the services' gRPC APIs on the gateway's public port: every method authorized by
 * its access rule, then forwarded with the caller's identity token, deadline and cancellation.
 */
@Injectable()
class GatewayProxy implements OnModuleInit {
  constructor(
    @Inject(GrpcServerHost) private readonly host: GrpcServerHost,
    @Inject(PROXY_SETTINGS) private readonly settings: ProxySettings,
    @Inject(GATEWAY_CALLS) private readonly calls: GatewayCalls,
    @Inject(InternalChannels) private readonly channels: InternalChannels,
  ) {}

  onModuleInit(): void {
    for (const [audience, definitions] of Object.entries(PROXIED_SERVICES) as Array<
      [InternalService, (typeof PROXIED_SERVICES)[InternalService]]
    >) {
      for (const definition of definitions) {
        this.host.addService(
          definition,
          forwardingImplementation(definition, {
            audience,
            client: this.channels.clients[audience],
            rules: ACCESS_RULES,
            policy: this.calls.policy,
            maxDeadlineMs: this.settings.CAIRN_GATEWAY_MAX_DEADLINE_MS,
            calls: this.calls,
          }),
        );
      }
    }
  }
}

/** `GatewayProxyModule.forRoot(extra)`: needs the auth feature (AuthorizationService) and the identity issuer settings. */
@Module({})
export class GatewayProxyModule {
  static forRoot(settings: ProxySettings & IdentityIssuerSettings): DynamicModule {
    return {
      module: GatewayProxyModule,
      // GatewayCalls is the MLflow REST API's way to the services too.
      global: true,
      providers: [
        { provide: PROXY_SETTINGS, useValue: settings },
        { provide: IDENTITY_ISSUER, useFactory: () => IdentityIssuer.fromSettings(settings) },
        InternalChannels,
        {
          provide: GATEWAY_CALLS,
          useFactory: gatewayCalls.bind(null, settings),
          inject: [IDENTITY_ISSUER, AuthorizationService, InternalChannels],
        },
        GatewayProxy,
      ],
      exports: [GATEWAY_CALLS],
    };
  }
}
