import { identityIssuerSettings } from '@cairn/identity';
import type { ServiceBlueprint } from '@cairn/service-runtime';
import { AuthModule, authSettings, GatewayAuthenticator } from './auth';
import { EventsModule, eventsSettings } from './events';
import { Baseline1764000000000 } from './migrations/1764000000000-baseline';
import { AuthTables1764400000000 } from './migrations/1764400000000-auth-tables';
import { MessagingTables1764405000000 } from './migrations/1764405000000-messaging-tables';
import { EventJournal1764410000000 } from './migrations/1764410000000-event-journal';
import { MlflowRestModule } from './mlflow/mlflow-rest.module';
import { GatewayProxyModule, proxySettings } from './proxy/proxy.module';
import { GatewayReflectionModule } from './reflection/reflection.module';

/**
 * The gateway's own settings: authentication, the identity tokens it issues, the services it
 * fronts, the event journal.
 */
export const gatewaySettings = authSettings
  .extend(identityIssuerSettings.shape)
  .extend(proxySettings.shape)
  .extend(eventsSettings.shape);

/**
 * What the gateway is made of: authentication of every call (API keys, OIDC bearer tokens,
 * HTTP Basic) and its own AuthService, the services' APIs re-exported with authorization, and
 * Events.Watch over a journal of the platform's events (it consumes every producing topic but
 * inference logs, and publishes nothing).
 */
export const gatewayBlueprint: ServiceBlueprint<typeof gatewaySettings> = {
  service: 'gateway',
  extraSettings: gatewaySettings,
  migrations: [
    Baseline1764000000000,
    AuthTables1764400000000,
    MessagingTables1764405000000,
    EventJournal1764410000000,
  ],
  messaging: { publishes: [] },
  callAuthenticator: GatewayAuthenticator,
  features: (_settings, extra) => [
    AuthModule.forRoot(extra),
    GatewayProxyModule.forRoot(extra),
    EventsModule.forRoot(extra),
    MlflowRestModule,
    GatewayReflectionModule,
  ],
};
