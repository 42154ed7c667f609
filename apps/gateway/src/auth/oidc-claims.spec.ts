import { claimAt, rolesFromClaim } from './oidc-verifier';

describe('OIDC claims', () => {
  it('finds a claim by exact name first (namespaced URL claims have dots), then by dotted path', () => {
    const payload = {
      sub: 'alice',
      'https://cairn.example/roles': ['admin'],
      realm_access: { roles: ['viewer', 'approver'] },
    };
    expect(claimAt(payload, 'sub')).toBe('alice');
    expect(claimAt(payload, 'https://cairn.example/roles')).toEqual(['admin']);
    expect(claimAt(payload, 'realm_access.roles')).toEqual(['viewer', 'approver']);
    expect(claimAt(payload, 'realm_access.missing')).toBeUndefined();
    expect(claimAt(payload, 'sub.length')).toBeUndefined();
    expect(claimAt(payload, 'constructor')).toBeUndefined();
  });

  it("keeps only Cairn's role names, from an array or a space- or comma-separated string", () => {
    expect(rolesFromClaim(['admin', 'offline_access', 'viewer', 7])).toEqual(['viewer', 'admin']);
    expect(rolesFromClaim('contributor approver,unknown')).toEqual(['contributor', 'approver']);
    expect(rolesFromClaim({ roles: ['admin'] })).toEqual([]);
    expect(rolesFromClaim(undefined)).toEqual([]);
    expect(rolesFromClaim(['Admin', 'ADMIN'])).toEqual([]);
  });
});
