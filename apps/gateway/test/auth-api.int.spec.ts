import { status } from '@grpc/grpc-js';
import { gatewayAuthV1 as pb } from '@cairn/proto';
import type { RunningService } from '@cairn/service-runtime';
import { createTestDatabase, grpcFailure as failure, type TestDatabase } from '@cairn/testing';
import { AuthorizationService } from '../src/auth';
import { ADMIN_PASSWORD, authClient, basicValue, bootGateway } from './auth-harness';

/*
 * cairn.gateway.v1.AuthService over gRPC, with real authentication on every call: who may
 * manage users, keys and MLflow permissions, and what each refusal looks like.
 */

jest.setTimeout(60_000);

const { Role, Permission, PrincipalKind } = pb;

describe('AuthService over gRPC (Postgres)', () => {
  let db: TestDatabase;
  let svc: RunningService;
  const clients: Array<{ raw: { close(): void } }> = [];

  const as = (authorization?: string) => {
    const c = authClient(svc, authorization);
    clients.push(c);
    return c.rpc;
  };
  let admin: ReturnType<typeof as>;
  let alice: ReturnType<typeof as>;
  let bob: ReturnType<typeof as>;

  beforeAll(async () => {
    db = await createTestDatabase('gateway_auth_api');
    svc = await bootGateway(db, { CAIRN_DEFAULT_PERMISSION: 'READ' });
    admin = as(basicValue('admin', ADMIN_PASSWORD));
    await admin.createUser({
      username: 'alice',
      password: 'alice-password',
      roles: [Role.ROLE_CONTRIBUTOR],
      displayName: 'Alice',
    });
    await admin.createUser({ username: 'bob', password: 'bob-password' });
    alice = as(basicValue('alice', 'alice-password'));
    bob = as(basicValue('bob', 'bob-password'));
  });

  afterAll(async () => {
    for (const c of clients) c.raw.close();
    await svc?.stop();
    await db?.drop();
  });

  describe('authentication', () => {
    it('refuses a call without credentials (UNAUTHENTICATED) before looking at its input', async () => {
      expect(await failure(as().whoAmI({}))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'UNAUTHENTICATED',
      });
      expect(await failure(as().getUser({ username: '../../etc' }))).toMatchObject({
        code: status.UNAUTHENTICATED,
      });
    });

    it.each(Object.keys(pb.AuthServiceService))('refuses %s without credentials', async (method) => {
      const anonymous = as() as unknown as Record<string, (req: object) => Promise<unknown>>;
      expect(await failure(anonymous[method]({}))).toMatchObject({ code: status.UNAUTHENTICATED });
    });

    it('refuses bad credentials with their reason', async () => {
      expect(await failure(as(basicValue('alice', 'nope-nope')).whoAmI({}))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'CREDENTIALS_INVALID',
      });
      expect(await failure(as('Negotiate abc').whoAmI({}))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'AUTH_SCHEME_UNSUPPORTED',
      });
    });

    it('tells the caller who it is', async () => {
      const me = await admin.whoAmI({});
      expect(me).toMatchObject({ principal: 'user:admin', roles: [Role.ROLE_ADMIN], via: 'basic' });
      expect(me.user).toMatchObject({
        id: 'user:admin',
        username: 'admin',
        isAdmin: true,
        hasPassword: true,
      });
      expect(await bob.whoAmI({})).toMatchObject({ principal: 'user:bob', roles: [Role.ROLE_VIEWER] });
    });
  });

  describe('API keys', () => {
    it('lets a user create, list and revoke its own keys; the secret is shown once', async () => {
      const created = await alice.createApiKey({ name: 'laptop' });
      expect(created.token).toMatch(/^cairn_[0-9a-f]{16}_/);
      expect(created.apiKey).toMatchObject({ principal: 'user:alice', name: 'laptop' });
      const viaKey = as(`Bearer ${created.token}`);
      expect(await viaKey.whoAmI({})).toMatchObject({ principal: 'user:alice', via: 'api-key' });

      const listed = await alice.listApiKeys({});
      expect(listed.apiKeys.map((k) => k.keyId)).toContain(created.apiKey!.keyId);
      const secret = created.token.slice(`cairn_${created.apiKey!.keyId}_`.length);
      expect(JSON.stringify(listed)).not.toContain(secret);

      const revoked = await alice.revokeApiKey({ keyId: created.apiKey!.keyId });
      expect(revoked.apiKey!.revocationTimestamp).toBeGreaterThan(0);
      expect(await failure(viaKey.whoAmI({}))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'API_KEY_REVOKED',
      });
      expect((await alice.listApiKeys({})).apiKeys.map((k) => k.keyId)).not.toContain(created.apiKey!.keyId);
      expect((await alice.listApiKeys({ includeInactive: true })).apiKeys.map((k) => k.keyId)).toContain(
        created.apiKey!.keyId,
      );
    });

    it("keeps others' keys out of reach; an admin manages anyone's", async () => {
      const { apiKey } = await alice.createApiKey({ name: 'ci' });
      expect(await failure(bob.listApiKeys({ principal: 'alice' }))).toMatchObject({
        code: status.PERMISSION_DENIED,
        reason: 'PERMISSION_DENIED',
      });
      expect(await failure(bob.createApiKey({ principal: 'user:alice', name: 'stolen' }))).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      expect(await failure(bob.revokeApiKey({ keyId: apiKey!.keyId }))).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      expect((await admin.listApiKeys({ principal: 'alice' })).apiKeys.map((k) => k.keyId)).toContain(
        apiKey!.keyId,
      );
      await admin.revokeApiKey({ keyId: apiKey!.keyId });
      expect(await failure(admin.revokeApiKey({ keyId: 'ffffffffffffffff' }))).toMatchObject({
        code: status.NOT_FOUND,
        reason: 'API_KEY_NOT_FOUND',
      });
      expect(await failure(admin.revokeApiKey({ keyId: "'; drop table" }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
      });
    });

    it('lets an admin give a service principal a key, with an expiry', async () => {
      await admin.createUser({
        username: 'ci',
        kind: PrincipalKind.PRINCIPAL_KIND_SERVICE,
        roles: [Role.ROLE_OPERATOR],
      });
      const expires = Date.now() + 3_600_000;
      const { token, apiKey } = await admin.createApiKey({
        principal: 'service:ci',
        name: 'nightly',
        expirationTimestamp: expires,
      });
      expect(apiKey!.expirationTimestamp).toBe(expires);
      expect(await as(`Bearer ${token}`).whoAmI({})).toMatchObject({
        principal: 'service:ci',
        roles: [Role.ROLE_OPERATOR],
        user: { kind: PrincipalKind.PRINCIPAL_KIND_SERVICE, hasPassword: false },
      });
    });
  });

  describe('users', () => {
    it('are managed by admins only', async () => {
      expect(await failure(alice.createUser({ username: 'eve', password: 'eve-password' }))).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      expect(
        await failure(alice.updateUserRoles({ username: 'alice', roles: [Role.ROLE_ADMIN] })),
      ).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      expect(await failure(alice.deleteUser({ username: 'bob' }))).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      expect(await failure(alice.getUser({ username: 'bob' }))).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      expect((await alice.getUser({ username: 'alice' })).user).toMatchObject({
        id: 'user:alice',
        displayName: 'Alice',
      });
    });

    it('are unique, validated, and a service principal has no password', async () => {
      expect(await failure(admin.createUser({ username: 'alice', password: 'whatever-1' }))).toMatchObject({
        code: status.ALREADY_EXISTS,
        reason: 'PRINCIPAL_ALREADY_EXISTS',
      });
      expect(await failure(admin.createUser({ username: 'a/b', password: 'whatever-1' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
      });
      expect(await failure(admin.createUser({ username: 'shorty', password: 'short' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
      });
      expect(
        await failure(
          admin.createUser({
            username: 'bot',
            kind: PrincipalKind.PRINCIPAL_KIND_SERVICE,
            password: 'whatever-1',
          }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(
        await failure(admin.createUser({ username: 'user:bot', kind: PrincipalKind.PRINCIPAL_KIND_SERVICE })),
      ).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(
        await failure(admin.createUser({ username: 'x1', roles: [Role.ROLE_UNSPECIFIED] })),
      ).toMatchObject({
        code: status.INVALID_ARGUMENT,
      });
    });

    it('get new roles from an admin, effective on their next call', async () => {
      await admin.createUser({ username: 'gina', password: 'gina-password' });
      const gina = as(basicValue('gina', 'gina-password'));
      expect((await gina.whoAmI({})).roles).toEqual([Role.ROLE_VIEWER]);
      const { user } = await admin.updateUserRoles({
        username: 'gina',
        roles: [Role.ROLE_APPROVER, Role.ROLE_CONTRIBUTOR],
      });
      expect(user!.roles).toEqual([Role.ROLE_CONTRIBUTOR, Role.ROLE_APPROVER]);
      expect((await gina.whoAmI({})).roles).toEqual([Role.ROLE_CONTRIBUTOR, Role.ROLE_APPROVER]);
    });

    it('change their own password; only admins change others', async () => {
      await admin.createUser({ username: 'hank', password: 'hank-password' });
      const hank = as(basicValue('hank', 'hank-password'));
      expect(await failure(hank.setUserPassword({ username: 'bob', password: 'owned-bob!' }))).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
      await hank.setUserPassword({ username: 'hank', password: 'hank-password-2' });
      expect(await failure(hank.whoAmI({}))).toMatchObject({ reason: 'CREDENTIALS_INVALID' });
      expect(await as(basicValue('hank', 'hank-password-2')).whoAmI({})).toMatchObject({
        principal: 'user:hank',
      });
      await admin.setUserPassword({ username: 'hank', password: 'hank-password-3' });
      expect(await as(basicValue('hank', 'hank-password-3')).whoAmI({})).toMatchObject({
        principal: 'user:hank',
      });
    });

    it('are deleted with their keys and permissions', async () => {
      await admin.createUser({ username: 'ivan', password: 'ivan-password', roles: [Role.ROLE_CONTRIBUTOR] });
      const ivan = as(basicValue('ivan', 'ivan-password'));
      const { token } = await ivan.createApiKey({ name: 'k' });
      await admin.createExperimentPermission({
        experimentId: '900',
        username: 'ivan',
        permission: Permission.PERMISSION_EDIT,
      });
      await admin.deleteUser({ username: 'ivan' });
      expect(await failure(as(`Bearer ${token}`).whoAmI({}))).toMatchObject({
        reason: 'CREDENTIALS_INVALID',
      });
      expect(await failure(ivan.whoAmI({}))).toMatchObject({ reason: 'CREDENTIALS_INVALID' });
      expect(
        await failure(admin.getExperimentPermission({ experimentId: '900', username: 'ivan' })),
      ).toMatchObject({
        code: status.NOT_FOUND,
        reason: 'PERMISSION_NOT_FOUND',
      });
      expect(await failure(admin.deleteUser({ username: 'ivan' }))).toMatchObject({
        code: status.NOT_FOUND,
        reason: 'PRINCIPAL_NOT_FOUND',
      });
    });

    it('always keep one admin', async () => {
      expect(
        await failure(admin.updateUserRoles({ username: 'admin', roles: [Role.ROLE_VIEWER] })),
      ).toMatchObject({
        code: status.FAILED_PRECONDITION,
        reason: 'LAST_ADMIN',
      });
      expect(await failure(admin.deleteUser({ username: 'admin' }))).toMatchObject({
        code: status.FAILED_PRECONDITION,
        reason: 'LAST_ADMIN',
      });
      await admin.createUser({ username: 'root2', password: 'root2-password', roles: [Role.ROLE_ADMIN] });
      const root2 = as(basicValue('root2', 'root2-password'));
      // Two admins demoting each other at once: one of them stays admin.
      const outcomes = await Promise.allSettled([
        admin.updateUserRoles({ username: 'root2', roles: [Role.ROLE_VIEWER] }),
        root2.updateUserRoles({ username: 'admin', roles: [Role.ROLE_VIEWER] }),
      ]);
      expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBeLessThanOrEqual(1);
      const admins = [];
      for (const name of ['admin', 'root2']) {
        const { user } = await as(
          basicValue(name, name === 'admin' ? ADMIN_PASSWORD : 'root2-password'),
        ).getUser({
          username: name,
        });
        if (user!.isAdmin) admins.push(name);
      }
      expect(admins.length).toBe(1);
      if (admins[0] === 'root2') {
        // Restore the bootstrap admin for the tests that follow.
        await root2.updateUserRoles({ username: 'admin', roles: [Role.ROLE_ADMIN] });
      }
    });
  });

  describe("MLflow's permission endpoints", () => {
    it('let an admin grant, read, update and delete a permission on an experiment', async () => {
      const created = await admin.createExperimentPermission({
        experimentId: '1',
        username: 'alice',
        permission: Permission.PERMISSION_MANAGE,
      });
      expect(created.experimentPermission).toEqual({
        experimentId: '1',
        userId: 'user:alice',
        permission: Permission.PERMISSION_MANAGE,
      });
      expect(
        await failure(
          admin.createExperimentPermission({
            experimentId: '1',
            username: 'alice',
            permission: Permission.PERMISSION_READ,
          }),
        ),
      ).toMatchObject({ code: status.ALREADY_EXISTS, reason: 'PERMISSION_ALREADY_EXISTS' });
      expect((await alice.getUser({ username: 'alice' })).user!.experimentPermissions).toEqual([
        created.experimentPermission,
      ]);
    });

    it('let a principal with MANAGE on a resource manage its permissions, as MLflow does', async () => {
      await alice.createExperimentPermission({
        experimentId: '1',
        username: 'bob',
        permission: Permission.PERMISSION_READ,
      });
      await alice.updateExperimentPermission({
        experimentId: '1',
        username: 'bob',
        permission: Permission.PERMISSION_NO_PERMISSIONS,
      });
      expect(
        (await alice.getExperimentPermission({ experimentId: '1', username: 'bob' })).experimentPermission,
      ).toEqual({
        experimentId: '1',
        userId: 'user:bob',
        permission: Permission.PERMISSION_NO_PERMISSIONS,
      });
      await alice.deleteExperimentPermission({ experimentId: '1', username: 'bob' });
      expect(
        await failure(alice.getExperimentPermission({ experimentId: '1', username: 'bob' })),
      ).toMatchObject({
        code: status.NOT_FOUND,
      });
      expect(
        await failure(alice.deleteExperimentPermission({ experimentId: '1', username: 'bob' })),
      ).toMatchObject({
        code: status.NOT_FOUND,
      });
    });

    it('refuse those without MANAGE on the resource, and viewers whatever they hold', async () => {
      // Alice has only the default READ on experiment 2.
      expect(
        await failure(
          alice.createExperimentPermission({
            experimentId: '2',
            username: 'alice',
            permission: Permission.PERMISSION_MANAGE,
          }),
        ),
      ).toMatchObject({ code: status.PERMISSION_DENIED, reason: 'PERMISSION_DENIED' });
      await admin.createExperimentPermission({
        experimentId: '3',
        username: 'bob',
        permission: Permission.PERMISSION_MANAGE,
      });
      expect(
        await failure(
          bob.createExperimentPermission({
            experimentId: '3',
            username: 'alice',
            permission: Permission.PERMISSION_READ,
          }),
        ),
      ).toMatchObject({ code: status.PERMISSION_DENIED });
      // Reading one's own permission needs only READ on the resource.
      expect(
        (await bob.getExperimentPermission({ experimentId: '3', username: 'bob' })).experimentPermission,
      ).toMatchObject({
        permission: Permission.PERMISSION_MANAGE,
      });
      expect(
        await failure(bob.getExperimentPermission({ experimentId: '1', username: 'alice' })),
      ).toMatchObject({
        code: status.PERMISSION_DENIED,
      });
    });

    it('validate their input', async () => {
      expect(
        await failure(
          admin.createExperimentPermission({
            experimentId: '5',
            username: 'alice',
            permission: Permission.PERMISSION_UNSPECIFIED,
          }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_PARAMETER_VALUE' });
      expect(
        await failure(
          admin.createExperimentPermission({
            experimentId: '',
            username: 'alice',
            permission: Permission.PERMISSION_READ,
          }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(
        await failure(
          admin.createExperimentPermission({
            experimentId: '5',
            username: 'no spaces',
            permission: Permission.PERMISSION_READ,
          }),
        ),
      ).toMatchObject({ code: status.INVALID_ARGUMENT });
    });

    it('work the same on registered models', async () => {
      const { registeredModelPermission } = await admin.createRegisteredModelPermission({
        name: 'churn',
        username: 'alice',
        permission: Permission.PERMISSION_MANAGE,
      });
      expect(registeredModelPermission).toEqual({
        name: 'churn',
        userId: 'user:alice',
        permission: Permission.PERMISSION_MANAGE,
      });
      await alice.createRegisteredModelPermission({
        name: 'churn',
        username: 'service:ci',
        permission: Permission.PERMISSION_EDIT,
      });
      await alice.updateRegisteredModelPermission({
        name: 'churn',
        username: 'service:ci',
        permission: Permission.PERMISSION_READ,
      });
      expect(
        (await alice.getRegisteredModelPermission({ name: 'churn', username: 'service:ci' }))
          .registeredModelPermission,
      ).toEqual({ name: 'churn', userId: 'service:ci', permission: Permission.PERMISSION_READ });
      await alice.deleteRegisteredModelPermission({ name: 'churn', username: 'service:ci' });
      expect(
        await failure(
          alice.createRegisteredModelPermission({
            name: 'fraud',
            username: 'alice',
            permission: Permission.PERMISSION_MANAGE,
          }),
        ),
      ).toMatchObject({ code: status.PERMISSION_DENIED });
      expect((await alice.getUser({ username: 'alice' })).user!.registeredModelPermissions).toEqual([
        registeredModelPermission,
      ]);
    });

    it('drive the authorization decisions of the rest of the gateway, in one query per call', async () => {
      const authz = svc.app.get(AuthorizationService);
      const aliceId = { principal: 'user:alice', roles: ['contributor'], via: 'basic' };
      const decisions = await authz.decideEach(aliceId, 'edit', [
        { kind: 'experiment', id: '1' },
        { kind: 'experiment', id: '2' },
        { kind: 'registered_model', id: 'churn' },
        { kind: 'registered_model', id: '1' },
      ]);
      expect(decisions.map((d) => [d.allowed, d.reason])).toEqual([
        [true, 'EXPLICIT_PERMISSION'],
        [false, 'PERMISSION_INSUFFICIENT'],
        [true, 'EXPLICIT_PERMISSION'],
        [false, 'PERMISSION_INSUFFICIENT'],
      ]);
      await authz.renameRegisteredModel('churn', 'churn-v2');
      expect(
        (await authz.decide(aliceId, 'manage', { kind: 'registered_model', id: 'churn-v2' })).allowed,
      ).toBe(true);
      expect((await authz.decide(aliceId, 'manage', { kind: 'registered_model', id: 'churn' })).allowed).toBe(
        false,
      );
      await authz.grantCreator('user:alice', { kind: 'experiment', id: '77' });
      expect((await authz.decide(aliceId, 'manage', { kind: 'experiment', id: '77' })).reason).toBe(
        'EXPLICIT_PERMISSION',
      );
      await authz.forgetResource({ kind: 'experiment', id: '77' });
      expect((await authz.decide(aliceId, 'manage', { kind: 'experiment', id: '77' })).allowed).toBe(false);
      await expect(authz.authorize(aliceId, 'edit', { kind: 'experiment', id: '2' })).rejects.toMatchObject({
        kind: 'permission_denied',
        reason: 'PERMISSION_DENIED',
        details: { principal: 'user:alice', resource_kind: 'experiment', resource_id: '2' },
      });
    });
  });
});
