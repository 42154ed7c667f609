import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { isUniqueViolation } from '@cairn/persistence';
import { AppError, type CallerIdentity } from '@cairn/rpc';
import { SERVICE_SETTINGS } from '@cairn/service-runtime';
import { ApiKeyCache } from './api-key-cache';
import { hashApiKeySecret, isKeyId, newApiKeyToken } from './api-key-token';
import { type ApiKeyRecord, ApiKeysRepository } from './api-keys.repository';
import { hashPassword, PASSWORD_MAX_BYTES, PASSWORD_MIN_LENGTH } from './password-hash';
import { PermissionsRepository } from './permissions.repository';
import { splitPrincipalId } from './principal-name';
import { type PrincipalRecord, PrincipalsRepository } from './principals.repository';
import type { Permission, PermissionGrant, ProtectedResource } from './resource-permission';
import { knownRoles, type Role } from './roles';

/** A principal with its explicit permissions, as GetUser returns it. */
export interface UserView {
  principal: PrincipalRecord;
  permissions: PermissionGrant[];
}

/** The admin the bootstrap created, with its secrets: shown once, then forgotten. */
export interface BootstrappedAdmin {
  principal: string;
  /** Undefined when CAIRN_ADMIN_PASSWORD set it (the operator knows it). */
  generatedPassword: string | undefined;
  apiKey: string;
  apiKeyId: string;
}

export const BOOTSTRAP_ADMIN = 'user:admin';
/** Active (not revoked, not expired) keys one principal may hold. */
export const MAX_ACTIVE_API_KEYS = 100;
const MAX_LISTED_API_KEYS = 1000;
const MAX_NAME = 128;
const MAX_DISPLAY_NAME = 256;
const MAX_RESOURCE_ID = 512;

const invalidParameter = (message: string, details: Record<string, string> = {}) =>
  new AppError('invalid_argument', 'INVALID_PARAMETER_VALUE', message, details);

const principalNotFound = (id: string) =>
  new AppError('not_found', 'PRINCIPAL_NOT_FOUND', `Principal ${id} does not exist.`, { principal: id });

function validatePassword(password: string): void {
  if (password.length < PASSWORD_MIN_LENGTH) {
    throw invalidParameter(`A password must be at least ${PASSWORD_MIN_LENGTH} characters.`);
  }
  if (Buffer.byteLength(password) > PASSWORD_MAX_BYTES) {
    throw invalidParameter(`A password must be at most ${PASSWORD_MAX_BYTES} bytes.`);
  }
}

function validateResource(resource: ProtectedResource): void {
  const field = resource.kind === 'experiment' ? 'experiment_id' : 'name';
  if (resource.id === '' || resource.id.length > MAX_RESOURCE_ID) {
    throw invalidParameter(`Missing or too long ${field} (at most ${MAX_RESOURCE_ID} characters).`, {
      [field]: resource.id.slice(0, 200),
    });
  }
}

/**
 * Users and service principals, their API keys and passwords, MLflow's per-resource
 * permissions, and the first admin. Who may call what is the transport's check (auth.grpc.ts,
 * with `decide`); this class enforces what holds whoever calls: valid input, no duplicate
 * principal, service principals without passwords, at least one admin left.
 */
@Injectable()
export class AuthService {
  readonly principals: PrincipalsRepository;
  readonly apiKeys: ApiKeysRepository;
  readonly permissions: PermissionsRepository;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(ApiKeyCache) private readonly verifiedKeys: ApiKeyCache,
  ) {
    this.principals = new PrincipalsRepository(settings.databaseSchema);
    this.apiKeys = new ApiKeysRepository(settings.databaseSchema);
    this.permissions = new PermissionsRepository(settings.databaseSchema);
  }

  /** The caller's stored principal, when it has one (an OIDC user may not). */
  async whoAmI(identity: CallerIdentity): Promise<UserView | undefined> {
    return this.findUser(identity.principal);
  }

  async getUser(id: string): Promise<UserView> {
    const view = await this.findUser(id);
    if (!view) throw principalNotFound(id);
    return view;
  }

  private async findUser(id: string): Promise<UserView | undefined> {
    const principal = await this.principals.find(this.ds.manager, id);
    if (!principal) return undefined;
    return { principal, permissions: await this.permissions.listByPrincipal(this.ds.manager, id) };
  }

  async createUser(req: {
    id: string;
    displayName: string;
    /** Viewer when empty. */
    roles: Role[];
    /** Empty: no password (OIDC or API keys only). */
    password: string;
  }): Promise<UserView> {
    const { kind } = splitPrincipalId(req.id)!;
    if (req.displayName.length > MAX_DISPLAY_NAME) {
      throw invalidParameter(`display_name must be at most ${MAX_DISPLAY_NAME} characters.`);
    }
    if (req.password !== '') {
      if (kind === 'service') {
        throw invalidParameter('Service principals have no password: they authenticate with API keys.', {
          principal: req.id,
        });
      }
      validatePassword(req.password);
    }
    const passwordHash = req.password === '' ? null : await hashPassword(req.password);
    const inserted = await this.principals.insert(this.ds.manager, {
      id: req.id,
      kind,
      displayName: req.displayName,
      roles: req.roles.length > 0 ? knownRoles(req.roles) : ['viewer'],
      passwordHash,
    });
    if (!inserted) {
      throw new AppError(
        'already_exists',
        'PRINCIPAL_ALREADY_EXISTS',
        `Principal ${req.id} already exists.`,
        {
          principal: req.id,
        },
      );
    }
    return this.getUser(req.id);
  }

  /** Replaces the roles; refuses to take the admin role from the last enabled admin. */
  async updateUserRoles(id: string, roles: Role[]): Promise<UserView> {
    if (roles.length === 0) throw invalidParameter('A principal needs at least one role.');
    await this.ds.transaction(async (m) => {
      await this.principals.lockAdminSet(m);
      if (!roles.includes('admin')) await this.refuseLastAdmin(m, id, 'take the admin role from');
      if (!(await this.principals.updateRoles(m, id, knownRoles(roles)))) throw principalNotFound(id);
    });
    this.verifiedKeys.forgetPrincipal(id);
    return this.getUser(id);
  }

  async setUserPassword(id: string, password: string): Promise<void> {
    validatePassword(password);
    const principal = await this.principals.find(this.ds.manager, id);
    if (!principal) throw principalNotFound(id);
    if (principal.kind !== 'user') {
      throw invalidParameter('Service principals have no password: they authenticate with API keys.', {
        principal: id,
      });
    }
    if (!(await this.principals.setPasswordHash(this.ds.manager, id, await hashPassword(password)))) {
      throw principalNotFound(id);
    }
  }

  /** Deletes the principal, its API keys and its permissions; never the last enabled admin. */
  async deleteUser(id: string): Promise<void> {
    await this.ds.transaction(async (m) => {
      await this.principals.lockAdminSet(m);
      await this.refuseLastAdmin(m, id, 'delete');
      await this.permissions.deleteByPrincipal(m, id);
      if (!(await this.principals.delete(m, id))) throw principalNotFound(id);
    });
    this.verifiedKeys.forgetPrincipal(id);
  }

  private async refuseLastAdmin(m: EntityManager, id: string, what: string): Promise<void> {
    const admins = await this.principals.activeAdmins(m);
    if (admins.length === 1 && admins[0] === id) {
      throw new AppError(
        'failed_precondition',
        'LAST_ADMIN',
        `Cannot ${what} ${id}: it is the only admin. Make another principal admin first.`,
        { principal: id },
      );
    }
  }

  /** A new key for `principal`; the token (with its secret) is returned here and never again. */
  async createApiKey(req: {
    principal: string;
    name: string;
    expiresAt: number | undefined;
  }): Promise<{ key: ApiKeyRecord; token: string }> {
    const name = req.name.trim() === '' ? 'default' : req.name.trim();
    if (name.length > MAX_NAME)
      throw invalidParameter(`An API key name must be at most ${MAX_NAME} characters.`);
    if (req.expiresAt !== undefined && !(req.expiresAt > Date.now())) {
      throw invalidParameter('expiration_timestamp must be in the future.', {
        expiration_timestamp: String(req.expiresAt),
      });
    }
    const principal = await this.principals.find(this.ds.manager, req.principal);
    if (!principal) {
      // An OIDC user has no row until an admin creates one: its key's roles would come from nowhere.
      throw new AppError(
        'failed_precondition',
        'PRINCIPAL_NOT_REGISTERED',
        `Principal ${req.principal} is not registered: an admin must create it (CreateUser) before it can hold API keys.`,
        { principal: req.principal },
      );
    }
    if (principal.disabled) {
      throw new AppError(
        'failed_precondition',
        'PRINCIPAL_DISABLED',
        `Principal ${req.principal} is disabled.`,
        {
          principal: req.principal,
        },
      );
    }
    if ((await this.apiKeys.countActive(this.ds.manager, req.principal)) >= MAX_ACTIVE_API_KEYS) {
      throw new AppError(
        'failed_precondition',
        'API_KEY_LIMIT_REACHED',
        `Principal ${req.principal} already has ${MAX_ACTIVE_API_KEYS} active API keys: revoke some first.`,
        { principal: req.principal },
      );
    }
    return this.insertApiKey(this.ds.manager, req.principal, name, req.expiresAt ?? null);
  }

  private async insertApiKey(
    m: EntityManager,
    principal: string,
    name: string,
    expiresAt: number | null,
  ): Promise<{ key: ApiKeyRecord; token: string }> {
    // 64-bit key ids: a collision is astronomically unlikely, but cheap to retry.
    for (let attempt = 0; ; attempt++) {
      const t = newApiKeyToken();
      try {
        const key = await this.apiKeys.insert(m, {
          keyId: t.keyId,
          secretSha256: hashApiKeySecret(t.secret),
          principal,
          name,
          expiresAt,
        });
        return { key, token: t.token };
      } catch (err) {
        if (attempt < 2 && isUniqueViolation(err, 'api_keys_pkey')) continue;
        throw err;
      }
    }
  }

  async listApiKeys(principal: string, includeInactive: boolean): Promise<ApiKeyRecord[]> {
    return this.apiKeys.listByPrincipal(this.ds.manager, principal, includeInactive, MAX_LISTED_API_KEYS);
  }

  async getApiKey(keyId: string): Promise<ApiKeyRecord> {
    if (!isKeyId(keyId))
      throw invalidParameter(`Invalid API key id '${keyId.slice(0, 64)}'.`, { key_id: keyId.slice(0, 64) });
    const key = await this.apiKeys.find(this.ds.manager, keyId);
    if (!key)
      throw new AppError('not_found', 'API_KEY_NOT_FOUND', `API key ${keyId} does not exist.`, {
        key_id: keyId,
      });
    return key;
  }

  async revokeApiKey(keyId: string): Promise<ApiKeyRecord> {
    const key = await this.apiKeys.revoke(this.ds.manager, keyId);
    this.verifiedKeys.forgetKey(keyId);
    if (!key)
      throw new AppError('not_found', 'API_KEY_NOT_FOUND', `API key ${keyId} does not exist.`, {
        key_id: keyId,
      });
    return key;
  }

  /**
   * MLflow's create: refused when the principal already has a permission on the resource.
   * The principal need not be registered: an OIDC user may be granted access before its
   * first call.
   */
  async createPermission(
    principal: string,
    resource: ProtectedResource,
    permission: Permission,
  ): Promise<PermissionGrant> {
    validateResource(resource);
    const grant = { principal, resourceKind: resource.kind, resourceId: resource.id, permission };
    if (!(await this.permissions.insert(this.ds.manager, grant))) {
      throw new AppError(
        'already_exists',
        'PERMISSION_ALREADY_EXISTS',
        `${principal} already has a permission on ${resource.kind} '${resource.id}': update it instead.`,
        { principal, resource_kind: resource.kind, resource_id: resource.id },
      );
    }
    return grant;
  }

  async getPermission(principal: string, resource: ProtectedResource): Promise<PermissionGrant> {
    validateResource(resource);
    const grant = await this.permissions.find(this.ds.manager, principal, resource);
    if (!grant) throw permissionNotFound(principal, resource);
    return grant;
  }

  async updatePermission(
    principal: string,
    resource: ProtectedResource,
    permission: Permission,
  ): Promise<void> {
    validateResource(resource);
    const grant = { principal, resourceKind: resource.kind, resourceId: resource.id, permission };
    if (!(await this.permissions.update(this.ds.manager, grant)))
      throw permissionNotFound(principal, resource);
  }

  async deletePermission(principal: string, resource: ProtectedResource): Promise<void> {
    validateResource(resource);
    if (!(await this.permissions.delete(this.ds.manager, principal, resource))) {
      throw permissionNotFound(principal, resource);
    }
  }

  /**
   * Makes sure an admin exists: when none does (first start), creates `user:admin` with the
   * given password or a random one, and an API key. Replicas starting together serialize on
   * the admin-set lock, so exactly one of them creates it. Returns the secrets to show once,
   * or undefined when an admin already existed.
   */
  async ensureAdmin(password: string | undefined): Promise<BootstrappedAdmin | undefined> {
    const generatedPassword = password === undefined ? randomBytes(24).toString('base64url') : undefined;
    const passwordHash = await hashPassword(password ?? generatedPassword!);
    return this.ds.transaction(async (m) => {
      await this.principals.lockAdminSet(m);
      if ((await this.principals.activeAdmins(m)).length > 0) return undefined;
      const created = await this.principals.insert(m, {
        id: BOOTSTRAP_ADMIN,
        kind: 'user',
        displayName: 'Administrator',
        roles: ['admin'],
        passwordHash,
      });
      if (!created) {
        // `user:admin` exists but is no longer an enabled admin, and nobody else is one: the
        // database was edited by hand. Restore it, with new credentials, rather than lock
        // everyone out.
        await this.principals.restoreAdmin(m, BOOTSTRAP_ADMIN, passwordHash);
      }
      const { key, token } = await this.insertApiKey(m, BOOTSTRAP_ADMIN, 'bootstrap', null);
      return { principal: BOOTSTRAP_ADMIN, generatedPassword, apiKey: token, apiKeyId: key.keyId };
    });
  }
}

function permissionNotFound(principal: string, resource: ProtectedResource): AppError {
  return new AppError(
    'not_found',
    'PERMISSION_NOT_FOUND',
    `${principal} has no permission on ${resource.kind} '${resource.id}'.`,
    { principal, resource_kind: resource.kind, resource_id: resource.id },
  );
}
