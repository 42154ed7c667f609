import { type DynamicModule, Global, Module } from '@nestjs/common';
import { AdminBootstrap } from './admin-bootstrap';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyUsageRecorder } from './api-key-usage.recorder';
import { AuthGrpc } from './auth.grpc';
import { AuthService } from './auth.service';
import { type AuthSettingsInput, toAuthConfig } from './auth.settings';
import { AUTH_CONFIG } from './auth.tokens';
import { AuthorizationService } from './authorization.service';
import { GatewayAuthenticator } from './gateway-authenticator';
import { OidcVerifier } from './oidc-verifier';
import { PasswordVerifier } from './password-verifier';

/**
 * Authentication and authorization of the gateway: the AuthService gRPC API, the first-admin
 * bootstrap, and (exported, for the rest of the gateway) the call authenticator, the
 * authorization service and the auth domain service. Needs `authSettings` among the gateway's
 * extra settings and the AuthTables migration: `AuthModule.forRoot(extra)`, with
 * `callAuthenticator: GatewayAuthenticator` in the blueprint. The authenticator's state (JWKS
 * cache, verified-password cache, pending key usage) lives in the providers it injects, so an
 * instance made by the root module shares it with this module's.
 */
@Global()
@Module({})
export class AuthModule {
  static forRoot(settings: AuthSettingsInput): DynamicModule {
    return {
      module: AuthModule,
      global: true,
      providers: [
        { provide: AUTH_CONFIG, useValue: toAuthConfig(settings) },
        OidcVerifier,
        PasswordVerifier,
        ApiKeyUsageRecorder,
        ApiKeyCache,
        GatewayAuthenticator,
        AuthorizationService,
        AuthService,
        AuthGrpc,
        AdminBootstrap,
      ],
      exports: [
        AUTH_CONFIG,
        OidcVerifier,
        PasswordVerifier,
        ApiKeyUsageRecorder,
        ApiKeyCache,
        GatewayAuthenticator,
        AuthorizationService,
        AuthService,
        AuthGrpc,
      ],
    };
  }
}
