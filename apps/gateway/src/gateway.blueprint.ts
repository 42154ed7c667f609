import { identityIssuerSettings } from '@cairn/identity';
import type { ServiceBlueprint } from '@cairn/service-runtime';
import { AuthModule, authSettings, GatewayAuthenticator } from './auth';
import { Baseline1764000000000 } from './migrations/1764000000000-baseline';
import { AuthTables1764400000000 } from './migrations/1764400000000-auth-tables';
import { GatewayProxyModule, proxySettings } from './proxy/proxy.module';

/** The gateway's own settings: authentication, the identity tokens it issues, the services it fronts. */
export const gatewaySettings = authSettings.extend(identityIssuerSettings.shape).extend(proxySettings.shape);

/**
 * What the gateway is made of: authentication of every call (API keys, OIDC bearer tokens,
 * HTTP Basic) and its own AuthService, and the services' APIs re-exported with authorization.
 */
export const gatewayBlueprint: ServiceBlueprint<typeof gatewaySettings> = {
  service: 'gateway',
  extraSettings: gatewaySettings,
  migrations: [Baseline1764000000000, AuthTables1764400000000],
  callAuthenticator: GatewayAuthenticator,
  features: (_settings, extra) => [AuthModule.forRoot(extra), GatewayProxyModule.forRoot(extra)],
};
