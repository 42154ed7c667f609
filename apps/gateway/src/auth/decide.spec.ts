import type { CallerIdentity } from '@cairn/rpc';
import { ACTIONS, type Action, type DecisionContext, decide } from './decide';
import {
  type Permission,
  PERMISSIONS,
  type PermissionGrant,
  type ProtectedResource,
} from './resource-permission';
import { type Role, ROLES } from './roles';

const who = (roles: string[], principal = 'user:alice'): CallerIdentity => ({
  principal,
  roles,
  via: 'api-key',
});
const exp: ProtectedResource = { kind: 'experiment', id: '42' };
const mdl: ProtectedResource = { kind: 'registered_model', id: 'churn' };
const grant = (
  resource: ProtectedResource,
  permission: Permission,
  principal = 'user:alice',
): PermissionGrant => ({
  principal,
  resourceKind: resource.kind,
  resourceId: resource.id,
  permission,
});
const ctx = (defaultPermission: Permission, grants: PermissionGrant[] = []): DecisionContext => ({
  defaultPermission,
  grants,
});

// What each role may do at all (ROLES × ACTIONS), written out rather than derived.
const Y = true;
const N = false;
const ROLE_TABLE: Record<Role, Record<Action, boolean>> = {
  //           read create edit manage approve operate admin
  viewer: { read: Y, create: N, edit: N, manage: N, approve: N, operate: N, admin: N },
  contributor: { read: Y, create: Y, edit: Y, manage: Y, approve: N, operate: N, admin: N },
  approver: { read: Y, create: Y, edit: Y, manage: Y, approve: Y, operate: N, admin: N },
  operator: { read: Y, create: Y, edit: Y, manage: Y, approve: N, operate: Y, admin: N },
  admin: { read: Y, create: Y, edit: Y, manage: Y, approve: Y, operate: Y, admin: Y },
};

// What each permission on a resource allows (MLflow: can_read, can_update, can_manage), for
// the actions checked against a resource; `admin` is a role-only action.
const PERMISSION_TABLE: Record<Permission, Record<Exclude<Action, 'admin'>, boolean>> = {
  READ: { read: Y, create: N, edit: N, manage: N, approve: Y, operate: Y },
  EDIT: { read: Y, create: Y, edit: Y, manage: N, approve: Y, operate: Y },
  MANAGE: { read: Y, create: Y, edit: Y, manage: Y, approve: Y, operate: Y },
  NO_PERMISSIONS: { read: N, create: N, edit: N, manage: N, approve: N, operate: N },
};

describe('decide', () => {
  it('refuses a call without an identity, whatever it asks', () => {
    for (const action of ACTIONS) {
      expect(decide(undefined, action)).toEqual({ allowed: false, reason: 'UNAUTHENTICATED' });
      expect(decide(undefined, action, exp).allowed).toBe(false);
    }
  });

  describe.each(ROLES)('role %s', (role) => {
    it.each(ACTIONS)('without a resource: %s follows the role table', (action) => {
      const d = decide(who([role]), action);
      expect(d.allowed).toBe(ROLE_TABLE[role][action]);
      expect(d.reason).toBe(
        role === 'admin' ? 'ADMIN' : ROLE_TABLE[role][action] ? 'ROLE' : 'ROLE_LACKS_CAPABILITY',
      );
    });

    describe.each(PERMISSIONS)('with an explicit %s on the resource', (permission) => {
      it.each(ACTIONS)('%s is allowed iff the role and the permission both allow it', (action) => {
        for (const resource of [exp, mdl]) {
          // The default is the opposite extreme of the grant, so only the grant can explain the outcome.
          const fallback: Permission = permission === 'NO_PERMISSIONS' ? 'MANAGE' : 'NO_PERMISSIONS';
          const d = decide(who([role]), action, resource, ctx(fallback, [grant(resource, permission)]));
          const expected =
            role === 'admin' ||
            (action !== 'admin' && ROLE_TABLE[role][action] && PERMISSION_TABLE[permission][action]);
          expect(d.allowed).toBe(expected);
          if (role === 'admin') expect(d.reason).toBe('ADMIN');
          else if (!ROLE_TABLE[role][action]) expect(d.reason).toBe('ROLE_LACKS_CAPABILITY');
          else if (permission === 'NO_PERMISSIONS') expect(d).toMatchObject({ reason: 'NO_PERMISSIONS' });
          else
            expect(d).toMatchObject({
              reason: expected ? 'EXPLICIT_PERMISSION' : 'PERMISSION_INSUFFICIENT',
              permission,
            });
        }
      });
    });

    describe.each(PERMISSIONS)('with no grant and default %s', (defaultPermission) => {
      it.each(ACTIONS)('%s is decided by the default permission', (action) => {
        const d = decide(who([role]), action, exp, ctx(defaultPermission));
        const expected =
          role === 'admin' ||
          (action !== 'admin' && ROLE_TABLE[role][action] && PERMISSION_TABLE[defaultPermission][action]);
        expect(d.allowed).toBe(expected);
        if (expected && role !== 'admin') expect(d).toMatchObject({ reason: 'DEFAULT_PERMISSION' });
      });
    });
  });

  it('takes the union of several roles', () => {
    expect(decide(who(['viewer', 'approver']), 'approve', mdl).allowed).toBe(true);
    expect(decide(who(['approver', 'operator']), 'operate').allowed).toBe(true);
    expect(decide(who(['viewer', 'nonsense']), 'edit').allowed).toBe(false);
  });

  it('gives no role to unknown role names, or to none', () => {
    expect(decide(who([]), 'read')).toEqual({ allowed: false, reason: 'ROLE_LACKS_CAPABILITY' });
    expect(decide(who(['superuser', 'ADMIN']), 'read').allowed).toBe(false);
  });

  it('lets an explicit permission override the default in both directions', () => {
    const c = who(['contributor']);
    expect(decide(c, 'edit', exp, ctx('READ', [grant(exp, 'EDIT')])).allowed).toBe(true);
    expect(decide(c, 'read', exp, ctx('MANAGE', [grant(exp, 'NO_PERMISSIONS')]))).toEqual({
      allowed: false,
      reason: 'NO_PERMISSIONS',
      permission: 'NO_PERMISSIONS',
    });
  });

  it('ignores grants of other principals and other resources', () => {
    const c = who(['contributor']);
    const others = [
      grant(exp, 'MANAGE', 'user:bob'),
      grant({ kind: 'experiment', id: '43' }, 'MANAGE'),
      // Same id, other kind: an experiment named like a model is another resource.
      grant({ kind: 'registered_model', id: '42' }, 'MANAGE'),
    ];
    expect(decide(c, 'manage', exp, ctx('READ', others))).toEqual({
      allowed: false,
      reason: 'PERMISSION_INSUFFICIENT',
      permission: 'READ',
    });
  });

  it('lets admins through NO_PERMISSIONS (MLflow admins bypass permissions)', () => {
    expect(
      decide(who(['admin']), 'manage', exp, ctx('NO_PERMISSIONS', [grant(exp, 'NO_PERMISSIONS')])),
    ).toEqual({
      allowed: true,
      reason: 'ADMIN',
    });
  });

  it('caps grants by role: a viewer never writes, even with MANAGE', () => {
    const v = who(['viewer']);
    expect(decide(v, 'read', exp, ctx('NO_PERMISSIONS', [grant(exp, 'MANAGE')])).allowed).toBe(true);
    expect(decide(v, 'edit', exp, ctx('READ', [grant(exp, 'MANAGE')])).reason).toBe('ROLE_LACKS_CAPABILITY');
  });

  it('lets a contributor approve nothing, and an approver not approve what it cannot see', () => {
    expect(decide(who(['contributor']), 'approve', mdl, ctx('MANAGE')).allowed).toBe(false);
    expect(decide(who(['approver']), 'approve', mdl, ctx('READ')).allowed).toBe(true);
    expect(
      decide(who(['approver']), 'approve', mdl, ctx('READ', [grant(mdl, 'NO_PERMISSIONS')])).allowed,
    ).toBe(false);
  });

  describe('principals as targets', () => {
    const self = { kind: 'principal', id: 'user:alice' } as const;
    const other = { kind: 'principal', id: 'user:bob' } as const;

    it.each(ROLES)('%s may read, edit and manage itself (own keys and password)', (role) => {
      for (const action of ['read', 'edit', 'manage'] as const) {
        expect(decide(who([role]), action, self)).toEqual({
          allowed: true,
          reason: role === 'admin' ? 'ADMIN' : 'SELF',
        });
      }
    });

    it('holds even for a principal without roles (an OIDC user whose token names none)', () => {
      expect(decide(who([]), 'manage', self).allowed).toBe(true);
    });

    it.each(ROLES.filter((r) => r !== 'admin'))('%s may not read or manage another principal', (role) => {
      expect(decide(who([role]), 'read', other)).toEqual({ allowed: false, reason: 'NOT_SELF' });
      expect(decide(who([role]), 'manage', other).allowed).toBe(false);
      expect(decide(who([role]), 'admin', self).allowed).toBe(false);
    });

    it('lets an admin manage anyone', () => {
      expect(decide(who(['admin']), 'manage', other).allowed).toBe(true);
    });
  });
});
