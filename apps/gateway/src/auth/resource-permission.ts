/*
 * MLflow's per-resource permissions (the basic-auth app): READ, EDIT, MANAGE and
 * NO_PERMISSIONS on an experiment or a registered model. The explicit permission of a
 * principal on a resource wins; without one the default permission applies (MLflow's
 * `default_permission`, CAIRN_DEFAULT_PERMISSION here). MANAGE includes EDIT, which includes
 * READ; NO_PERMISSIONS allows nothing, so it shuts a principal out of one resource even when
 * the default lets everyone read.
 */

export const PERMISSIONS = ['READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The levels an operation may require. */
export type PermissionLevel = Exclude<Permission, 'NO_PERMISSIONS'>;

export const RESOURCE_KINDS = ['experiment', 'registered_model'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/** An experiment (by id) or a registered model (by name). */
export interface ProtectedResource {
  kind: ResourceKind;
  id: string;
}

/** One row of the permissions table. */
export interface PermissionGrant {
  principal: string;
  resourceKind: ResourceKind;
  resourceId: string;
  permission: Permission;
}

const RANK: Record<Permission, number> = { NO_PERMISSIONS: 0, READ: 1, EDIT: 2, MANAGE: 3 };

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

/** Whether holding `permission` allows what needs `level` (MANAGE ⊇ EDIT ⊇ READ). */
export function permits(permission: Permission, level: PermissionLevel): boolean {
  return RANK[permission] >= RANK[level];
}

export interface EffectivePermission {
  permission: Permission;
  source: 'explicit' | 'default';
}

/** The permission `principal` holds on `resource`: its explicit grant, else the default. */
export function effectivePermission(
  principal: string,
  resource: ProtectedResource,
  grants: readonly PermissionGrant[],
  defaultPermission: Permission,
): EffectivePermission {
  const grant = grants.find(
    (g) => g.principal === principal && g.resourceKind === resource.kind && g.resourceId === resource.id,
  );
  return grant
    ? { permission: grant.permission, source: 'explicit' }
    : { permission: defaultPermission, source: 'default' };
}
