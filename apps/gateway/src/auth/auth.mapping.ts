import { gatewayAuthV1 as pb } from '@cairn/proto';
import { AppError } from '@cairn/rpc';
import type { ApiKeyRecord } from './api-keys.repository';
import type { UserView } from './auth.service';
import { splitPrincipalId } from './principal-name';
import type { PrincipalRecord } from './principals.repository';
import type { Permission, PermissionGrant } from './resource-permission';
import type { Role } from './roles';

/* Between the gateway's AuthService protos and the auth domain's types. */

const ROLE_TO_PROTO: Record<Role, pb.Role> = {
  viewer: pb.Role.ROLE_VIEWER,
  contributor: pb.Role.ROLE_CONTRIBUTOR,
  approver: pb.Role.ROLE_APPROVER,
  operator: pb.Role.ROLE_OPERATOR,
  admin: pb.Role.ROLE_ADMIN,
};

const PERMISSION_TO_PROTO: Record<Permission, pb.Permission> = {
  READ: pb.Permission.PERMISSION_READ,
  EDIT: pb.Permission.PERMISSION_EDIT,
  MANAGE: pb.Permission.PERMISSION_MANAGE,
  NO_PERMISSIONS: pb.Permission.PERMISSION_NO_PERMISSIONS,
};

const invalid = (message: string, details: Record<string, string>) =>
  new AppError('invalid_argument', 'INVALID_PARAMETER_VALUE', message, details);

export function roleFromProto(r: pb.Role): Role {
  switch (r) {
    case pb.Role.ROLE_VIEWER:
      return 'viewer';
    case pb.Role.ROLE_CONTRIBUTOR:
      return 'contributor';
    case pb.Role.ROLE_APPROVER:
      return 'approver';
    case pb.Role.ROLE_OPERATOR:
      return 'operator';
    case pb.Role.ROLE_ADMIN:
      return 'admin';
    case pb.Role.ROLE_UNSPECIFIED:
    case pb.Role.UNRECOGNIZED:
    default:
      throw invalid(`Invalid role: ${String(r)}`, { role: String(r) });
  }
}

export const rolesToProto = (roles: readonly Role[]): pb.Role[] => roles.map((r) => ROLE_TO_PROTO[r]);

export function permissionFromProto(p: pb.Permission): Permission {
  switch (p) {
    case pb.Permission.PERMISSION_READ:
      return 'READ';
    case pb.Permission.PERMISSION_EDIT:
      return 'EDIT';
    case pb.Permission.PERMISSION_MANAGE:
      return 'MANAGE';
    case pb.Permission.PERMISSION_NO_PERMISSIONS:
      return 'NO_PERMISSIONS';
    case pb.Permission.PERMISSION_UNSPECIFIED:
    case pb.Permission.UNRECOGNIZED:
    default:
      throw invalid(`Invalid permission: ${String(p)} (expected READ, EDIT, MANAGE or NO_PERMISSIONS)`, {
        permission: String(p),
      });
  }
}

export const permissionToProto = (p: Permission): pb.Permission => PERMISSION_TO_PROTO[p];

export function kindFromProto(k: pb.PrincipalKind): 'user' | 'service' {
  switch (k) {
    case pb.PrincipalKind.PRINCIPAL_KIND_UNSPECIFIED:
    case pb.PrincipalKind.PRINCIPAL_KIND_USER:
      return 'user';
    case pb.PrincipalKind.PRINCIPAL_KIND_SERVICE:
      return 'service';
    case pb.PrincipalKind.UNRECOGNIZED:
    default:
      throw invalid(`Invalid principal kind: ${String(k)}`, { kind: String(k) });
  }
}

export function experimentPermissionToProto(g: PermissionGrant): pb.ExperimentPermission {
  return { experimentId: g.resourceId, userId: g.principal, permission: permissionToProto(g.permission) };
}

export function registeredModelPermissionToProto(g: PermissionGrant): pb.RegisteredModelPermission {
  return { name: g.resourceId, userId: g.principal, permission: permissionToProto(g.permission) };
}

function principalToProto(p: PrincipalRecord, permissions: readonly PermissionGrant[]): pb.User {
  return {
    id: p.id,
    username: splitPrincipalId(p.id)?.name ?? p.id,
    kind:
      p.kind === 'service' ? pb.PrincipalKind.PRINCIPAL_KIND_SERVICE : pb.PrincipalKind.PRINCIPAL_KIND_USER,
    displayName: p.displayName,
    roles: rolesToProto(p.roles),
    isAdmin: p.roles.includes('admin'),
    disabled: p.disabled,
    hasPassword: p.hasPassword,
    creationTimestamp: p.createdAt,
    lastUpdatedTimestamp: p.updatedAt,
    experimentPermissions: permissions
      .filter((g) => g.resourceKind === 'experiment')
      .map(experimentPermissionToProto),
    registeredModelPermissions: permissions
      .filter((g) => g.resourceKind === 'registered_model')
      .map(registeredModelPermissionToProto),
  };
}

export const userToProto = (v: UserView): pb.User => principalToProto(v.principal, v.permissions);

export function apiKeyToProto(k: ApiKeyRecord): pb.ApiKey {
  return {
    keyId: k.keyId,
    principal: k.principal,
    name: k.name,
    creationTimestamp: k.createdAt,
    expirationTimestamp: k.expiresAt ?? undefined,
    lastUsedTimestamp: k.lastUsedAt ?? undefined,
    revocationTimestamp: k.revokedAt ?? undefined,
  };
}
