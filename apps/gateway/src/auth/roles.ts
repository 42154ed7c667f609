/*
 * Platform roles and what each may do, regardless of any one resource. Resource permissions
 * (resource-permission.ts) then narrow what a role allows on a given experiment or model: a
 * viewer never writes, whatever its grants; a contributor writes only where it has EDIT.
 */

export const ROLES = ['viewer', 'contributor', 'approver', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * - `read`: read what resource permissions allow;
 * - `write`: create experiments and models, edit and manage what resource permissions allow;
 * - `approve`: approve or reject transition requests;
 * - `operate`: orchestration and deployment operations, platform-wide read-outs (audit chain);
 * - `administer`: users, API keys of others, permissions, platform settings.
 */
export const CAPABILITIES = ['read', 'write', 'approve', 'operate', 'administer'] as const;
export type Capability = (typeof CAPABILITIES)[number];

const ROLE_CAPABILITIES: Record<Role, readonly Capability[]> = {
  viewer: ['read'],
  contributor: ['read', 'write'],
  approver: ['read', 'write', 'approve'],
  operator: ['read', 'write', 'operate'],
  admin: CAPABILITIES,
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** The known roles among `values`, once each, in the canonical order; unknown names are dropped. */
export function knownRoles(values: Iterable<string>): Role[] {
  const given = new Set(values);
  return ROLES.filter((r) => given.has(r));
}

/** The capabilities that a set of roles grants together. */
export function capabilitiesOf(roles: Iterable<string>): Set<Capability> {
  const out = new Set<Capability>();
  for (const role of knownRoles(roles)) for (const c of ROLE_CAPABILITIES[role]) out.add(c);
  return out;
}

export function isAdmin(roles: Iterable<string>): boolean {
  for (const r of roles) if (r === 'admin') return true;
  return false;
}
