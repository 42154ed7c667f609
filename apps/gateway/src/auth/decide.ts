import type { CallerIdentity } from '@cairn/rpc';
import {
  effectivePermission,
  type Permission,
  type PermissionGrant,
  type PermissionLevel,
  permits,
  type ProtectedResource,
} from './resource-permission';
import { type Capability, capabilitiesOf, isAdmin } from './roles';

/*
 * The authorization decision: the caller's roles say what kind of thing it may do at all, and
 * for an experiment or a registered model its permission on that resource says whether it may
 * do it there (MLflow's basic-auth rules). Pure, so every rule is table-tested.
 *
 *   action    capability  permission needed on the resource
 *   read      read        READ
 *   create    write       EDIT (when creating inside a resource; none for a new top-level one)
 *   edit      write       EDIT
 *   manage    write       MANAGE (delete, rename, change its permissions or policy)
 *   approve   approve     READ (an approver reviews a model it can see; NO_PERMISSIONS shuts it out)
 *   operate   operate     READ
 *   admin     administer  — (role only)
 *
 * Admins are allowed everything, whatever the resource permissions (as MLflow's admins).
 * A principal is also a target: anyone may read, edit and manage itself (its own API keys and
 * password), and only admins anyone else.
 */

export const ACTIONS = ['read', 'create', 'edit', 'manage', 'approve', 'operate', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

/** What an action is checked against: an experiment, a registered model, or a principal. */
export type AccessTarget = ProtectedResource | { kind: 'principal'; id: string };

export type DecisionReason =
  | 'ADMIN'
  | 'ROLE'
  | 'SELF'
  | 'EXPLICIT_PERMISSION'
  | 'DEFAULT_PERMISSION'
  | 'UNAUTHENTICATED'
  | 'ROLE_LACKS_CAPABILITY'
  | 'NOT_SELF'
  | 'PERMISSION_INSUFFICIENT'
  | 'NO_PERMISSIONS';

export interface Decision {
  allowed: boolean;
  reason: DecisionReason;
  /** The caller's effective permission on the resource, when one was consulted. */
  permission?: Permission;
}

export interface DecisionContext {
  /** The permission of principals without an explicit one on the resource. */
  defaultPermission: Permission;
  /** The caller's explicit permissions; rows of other principals or resources are ignored. */
  grants: readonly PermissionGrant[];
}

const ACTION_CAPABILITY: Record<Action, Capability> = {
  read: 'read',
  create: 'write',
  edit: 'write',
  manage: 'write',
  approve: 'approve',
  operate: 'operate',
  admin: 'administer',
};

const ACTION_LEVEL: Record<Exclude<Action, 'admin'>, PermissionLevel> = {
  read: 'READ',
  create: 'EDIT',
  edit: 'EDIT',
  manage: 'MANAGE',
  approve: 'READ',
  operate: 'READ',
};

const SELF_ACTIONS: ReadonlySet<Action> = new Set(['read', 'edit', 'manage']);

const allow = (reason: DecisionReason, permission?: Permission): Decision => ({
  allowed: true,
  reason,
  ...(permission ? { permission } : {}),
});
const deny = (reason: DecisionReason, permission?: Permission): Decision => ({
  allowed: false,
  reason,
  ...(permission ? { permission } : {}),
});

export const DEFAULT_DECISION_CONTEXT: DecisionContext = { defaultPermission: 'READ', grants: [] };

/** Whether `identity` may perform `action` (on `target`, when given). */
export function decide(
  identity: CallerIdentity | undefined,
  action: Action,
  target?: AccessTarget,
  context: DecisionContext = DEFAULT_DECISION_CONTEXT,
): Decision {
  if (!identity) return deny('UNAUTHENTICATED');
  if (isAdmin(identity.roles)) return allow('ADMIN');
  if (target?.kind === 'principal' && target.id === identity.principal && SELF_ACTIONS.has(action)) {
    return allow('SELF');
  }
  if (!capabilitiesOf(identity.roles).has(ACTION_CAPABILITY[action])) return deny('ROLE_LACKS_CAPABILITY');
  if (!target) return allow('ROLE');
  if (target.kind === 'principal') return deny('NOT_SELF');
  // Only admins hold `administer`, and they were allowed above.
  if (action === 'admin') return deny('ROLE_LACKS_CAPABILITY');
  const { permission, source } = effectivePermission(
    identity.principal,
    target,
    context.grants,
    context.defaultPermission,
  );
  if (permission === 'NO_PERMISSIONS') return deny('NO_PERMISSIONS', permission);
  if (!permits(permission, ACTION_LEVEL[action])) return deny('PERMISSION_INSUFFICIENT', permission);
  return allow(source === 'explicit' ? 'EXPLICIT_PERMISSION' : 'DEFAULT_PERMISSION', permission);
}
