import { Inject, Injectable } from '@nestjs/common';
import { gatewayAuthV1 as pb } from '@cairn/proto';
import { AppError, type CallContext, type CallerIdentity, GrpcService } from '@cairn/rpc';
import {
  apiKeyToProto,
  experimentPermissionToProto,
  kindFromProto,
  permissionFromProto,
  registeredModelPermissionToProto,
  roleFromProto,
  rolesToProto,
  userToProto,
} from './auth.mapping';
import { AuthService } from './auth.service';
import { AuthorizationService, denial } from './authorization.service';
import { type AccessTarget, decide } from './decide';
import { principalIdOf } from './principal-name';
import type { PermissionGrant, ProtectedResource } from './resource-permission';
import { knownRoles } from './roles';

type Req<K extends keyof typeof pb.AuthServiceService> =
  (typeof pb.AuthServiceService)[K]['requestDeserialize'] extends (b: Buffer) => infer R ? R : never;

/** The principal a request names (MLflow's `username`), the caller's own when empty. */
const principalTarget = (identity: CallerIdentity, requested = ''): AccessTarget => ({
  kind: 'principal',
  id: requested.trim() === '' ? identity.principal : principalIdOf(requested),
});
const experiment = (id: string): ProtectedResource => ({ kind: 'experiment', id });
const model = (name: string): ProtectedResource => ({ kind: 'registered_model', id: name });

/** The authenticated caller; UNAUTHENTICATED before any input is looked at otherwise. */
function caller(ctx: CallContext): CallerIdentity {
  if (!ctx.identity) throw denial(undefined, 'read', undefined, decide(undefined, 'read'));
  return ctx.identity;
}

/**
 * cairn.gateway.v1.AuthService. Every handler states its rule with `decide` (through
 * AuthorizationService) before doing anything:
 * - WhoAmI, own API keys, own account and password: the principal itself (or an admin);
 * - users and roles: admin;
 * - a resource's permissions: MANAGE on that resource (or admin), as in MLflow; reading one's
 *   own permission on a resource needs only READ on it.
 */
@Injectable()
@GrpcService(pb.AuthServiceService)
export class AuthGrpc {
  constructor(
    @Inject(AuthService) private readonly auth: AuthService,
    @Inject(AuthorizationService) private readonly authz: AuthorizationService,
  ) {}

  async whoAmI(_req: Req<'whoAmI'>, ctx: CallContext): Promise<pb.WhoAmIResponse> {
    const identity = await this.authz.authorize(ctx.identity, 'read', principalTarget(caller(ctx)));
    const user = await this.auth.whoAmI(identity);
    return {
      principal: identity.principal,
      roles: rolesToProto(knownRoles(identity.roles)),
      via: identity.via,
      user: user ? userToProto(user) : undefined,
    };
  }

  async createApiKey(req: Req<'createApiKey'>, ctx: CallContext): Promise<pb.CreateApiKeyResponse> {
    const owner = principalTarget(caller(ctx), req.principal);
    await this.authz.authorize(ctx.identity, 'manage', owner);
    const { key, token } = await this.auth.createApiKey({
      principal: owner.id,
      name: req.name,
      expiresAt: req.expirationTimestamp,
    });
    return { apiKey: apiKeyToProto(key), token };
  }

  async listApiKeys(req: Req<'listApiKeys'>, ctx: CallContext): Promise<pb.ListApiKeysResponse> {
    const owner = principalTarget(caller(ctx), req.principal);
    await this.authz.authorize(ctx.identity, 'read', owner);
    const keys = await this.auth.listApiKeys(owner.id, req.includeInactive);
    return { apiKeys: keys.map(apiKeyToProto) };
  }

  async revokeApiKey(req: Req<'revokeApiKey'>, ctx: CallContext): Promise<pb.RevokeApiKeyResponse> {
    // Authenticated first, so that key ids cannot be probed anonymously.
    caller(ctx);
    const key = await this.auth.getApiKey(req.keyId);
    await this.authz.authorize(ctx.identity, 'manage', { kind: 'principal', id: key.principal });
    return { apiKey: apiKeyToProto(await this.auth.revokeApiKey(key.keyId)) };
  }

  async createUser(req: Req<'createUser'>, ctx: CallContext): Promise<pb.CreateUserResponse> {
    caller(ctx);
    await this.authz.authorize(ctx.identity, 'admin');
    const kind = kindFromProto(req.kind);
    const id = principalIdOf(req.username, kind);
    if (req.kind !== pb.PrincipalKind.PRINCIPAL_KIND_UNSPECIFIED && !id.startsWith(`${kind}:`)) {
      throw new AppError(
        'invalid_argument',
        'INVALID_PARAMETER_VALUE',
        `Principal ${id} is not of kind ${kind}.`,
        {
          username: req.username,
        },
      );
    }
    const view = await this.auth.createUser({
      id,
      displayName: req.displayName,
      roles: req.roles.map(roleFromProto),
      password: req.password,
    });
    return { user: userToProto(view) };
  }

  async getUser(req: Req<'getUser'>, ctx: CallContext): Promise<pb.GetUserResponse> {
    const target = principalTarget(caller(ctx), req.username);
    await this.authz.authorize(ctx.identity, 'read', target);
    return { user: userToProto(await this.auth.getUser(target.id)) };
  }

  async updateUserRoles(req: Req<'updateUserRoles'>, ctx: CallContext): Promise<pb.UpdateUserRolesResponse> {
    caller(ctx);
    await this.authz.authorize(ctx.identity, 'admin');
    const view = await this.auth.updateUserRoles(principalIdOf(req.username), req.roles.map(roleFromProto));
    return { user: userToProto(view) };
  }

  async setUserPassword(req: Req<'setUserPassword'>, ctx: CallContext): Promise<pb.SetUserPasswordResponse> {
    const target = principalTarget(caller(ctx), req.username);
    await this.authz.authorize(ctx.identity, 'manage', target);
    await this.auth.setUserPassword(target.id, req.password);
    return {};
  }

  async deleteUser(req: Req<'deleteUser'>, ctx: CallContext): Promise<pb.DeleteUserResponse> {
    caller(ctx);
    await this.authz.authorize(ctx.identity, 'admin');
    await this.auth.deleteUser(principalIdOf(req.username));
    return {};
  }

  async createExperimentPermission(
    req: Req<'createExperimentPermission'>,
    ctx: CallContext,
  ): Promise<pb.CreateExperimentPermissionResponse> {
    const grant = await this.grant(ctx, experiment(req.experimentId), req.username, req.permission);
    return { experimentPermission: experimentPermissionToProto(grant) };
  }

  async getExperimentPermission(
    req: Req<'getExperimentPermission'>,
    ctx: CallContext,
  ): Promise<pb.GetExperimentPermissionResponse> {
    const grant = await this.readGrant(ctx, experiment(req.experimentId), req.username);
    return { experimentPermission: experimentPermissionToProto(grant) };
  }

  async updateExperimentPermission(
    req: Req<'updateExperimentPermission'>,
    ctx: CallContext,
  ): Promise<pb.UpdateExperimentPermissionResponse> {
    await this.changeGrant(ctx, experiment(req.experimentId), req.username, req.permission);
    return {};
  }

  async deleteExperimentPermission(
    req: Req<'deleteExperimentPermission'>,
    ctx: CallContext,
  ): Promise<pb.DeleteExperimentPermissionResponse> {
    await this.revokeGrant(ctx, experiment(req.experimentId), req.username);
    return {};
  }

  async createRegisteredModelPermission(
    req: Req<'createRegisteredModelPermission'>,
    ctx: CallContext,
  ): Promise<pb.CreateRegisteredModelPermissionResponse> {
    const grant = await this.grant(ctx, model(req.name), req.username, req.permission);
    return { registeredModelPermission: registeredModelPermissionToProto(grant) };
  }

  async getRegisteredModelPermission(
    req: Req<'getRegisteredModelPermission'>,
    ctx: CallContext,
  ): Promise<pb.GetRegisteredModelPermissionResponse> {
    const grant = await this.readGrant(ctx, model(req.name), req.username);
    return { registeredModelPermission: registeredModelPermissionToProto(grant) };
  }

  async updateRegisteredModelPermission(
    req: Req<'updateRegisteredModelPermission'>,
    ctx: CallContext,
  ): Promise<pb.UpdateRegisteredModelPermissionResponse> {
    await this.changeGrant(ctx, model(req.name), req.username, req.permission);
    return {};
  }

  async deleteRegisteredModelPermission(
    req: Req<'deleteRegisteredModelPermission'>,
    ctx: CallContext,
  ): Promise<pb.DeleteRegisteredModelPermissionResponse> {
    await this.revokeGrant(ctx, model(req.name), req.username);
    return {};
  }

  // One implementation of MLflow's four permission calls, for either kind of resource.

  private async grant(
    ctx: CallContext,
    resource: ProtectedResource,
    username: string,
    permission: pb.Permission,
  ): Promise<PermissionGrant> {
    await this.authz.authorize(caller(ctx), 'manage', resource);
    return this.auth.createPermission(principalIdOf(username), resource, permissionFromProto(permission));
  }

  private async readGrant(
    ctx: CallContext,
    resource: ProtectedResource,
    username: string,
  ): Promise<PermissionGrant> {
    const identity = caller(ctx);
    const principal = principalIdOf(username);
    await this.authorizePermissionRead(identity, principal, resource);
    return this.auth.getPermission(principal, resource);
  }

  private async changeGrant(
    ctx: CallContext,
    resource: ProtectedResource,
    username: string,
    permission: pb.Permission,
  ): Promise<void> {
    await this.authz.authorize(caller(ctx), 'manage', resource);
    await this.auth.updatePermission(principalIdOf(username), resource, permissionFromProto(permission));
  }

  private async revokeGrant(ctx: CallContext, resource: ProtectedResource, username: string): Promise<void> {
    await this.authz.authorize(caller(ctx), 'manage', resource);
    await this.auth.deletePermission(principalIdOf(username), resource);
  }

  /** Someone's permission on a resource: MANAGE on it; one's own: READ on it. */
  private async authorizePermissionRead(
    identity: CallerIdentity | undefined,
    principal: string,
    resource: ProtectedResource,
  ): Promise<void> {
    await this.authz.authorize(identity, principal === identity?.principal ? 'read' : 'manage', resource);
  }
}
