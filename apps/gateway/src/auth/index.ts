export { AuthModule } from './auth.module';
export { authSettings, type AuthSettingsInput, type AuthConfig, toAuthConfig } from './auth.settings';
export { AUTH_CONFIG } from './auth.tokens';
export { GatewayAuthenticator, VIA } from './gateway-authenticator';
export { AuthorizationService, denial } from './authorization.service';
export { AuthService, BOOTSTRAP_ADMIN, type BootstrappedAdmin, type UserView } from './auth.service';
export { ADMIN_CREDENTIALS_MESSAGE } from './admin-bootstrap';
export {
  ACTIONS,
  type AccessTarget,
  type Action,
  type Decision,
  type DecisionContext,
  type DecisionReason,
  decide,
} from './decide';
export {
  PERMISSIONS,
  RESOURCE_KINDS,
  type Permission,
  type PermissionGrant,
  type ProtectedResource,
  type ResourceKind,
  effectivePermission,
  permits,
} from './resource-permission';
export { ROLES, type Role, capabilitiesOf, knownRoles } from './roles';
