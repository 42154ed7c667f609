import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { AppError, type CallerIdentity } from '@cairn/rpc';
import { SERVICE_SETTINGS } from '@cairn/service-runtime';
import type { AuthConfig } from './auth.settings';
import { AUTH_CONFIG } from './auth.tokens';
import { type AccessTarget, type Action, type Decision, decide } from './decide';
import { PermissionsRepository } from './permissions.repository';
import type { Permission, ProtectedResource } from './resource-permission';
import { isAdmin } from './roles';

const isProtected = (t: AccessTarget): t is ProtectedResource => t.kind !== 'principal';

const describe = (t: AccessTarget) => `${t.kind} '${t.id}'`;

/** The error for a refused decision: UNAUTHENTICATED without a caller, PERMISSION_DENIED with one. */
export function denial(
  identity: CallerIdentity | undefined,
  action: Action,
  target: AccessTarget | undefined,
  decision: Decision,
): AppError {
  if (!identity) {
    return new AppError('unauthenticated', 'UNAUTHENTICATED', 'This call needs credentials.');
  }
  const what = target ? `${action} ${describe(target)}` : action;
  return new AppError(
    'permission_denied',
    'PERMISSION_DENIED',
    `Permission denied: ${identity.principal} may not ${what} (${decision.reason}).`,
    {
      principal: identity.principal,
      action,
      decision: decision.reason,
      ...(target ? { resource_kind: target.kind, resource_id: target.id } : {}),
    },
  );
}

/**
 * `decide` with the caller's permission rows read from the database (one query per decision,
 * none for admins or role-only decisions) and the configured default permission.
 */
@Injectable()
export class AuthorizationService {
  readonly permissions: PermissionsRepository;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {
    this.permissions = new PermissionsRepository(settings.databaseSchema);
  }

  get defaultPermission(): Permission {
    return this.config.defaultPermission;
  }

  async decide(
    identity: CallerIdentity | undefined,
    action: Action,
    target?: AccessTarget,
  ): Promise<Decision> {
    return (await this.decideEach(identity, action, target ? [target] : []))[0] ?? decide(identity, action);
  }

  /**
   * One decision per target, with one query for all their permission rows (a search page, or
   * a call touching several resources). With no targets, the role-only decision alone.
   */
  async decideEach(
    identity: CallerIdentity | undefined,
    action: Action,
    targets: readonly AccessTarget[],
  ): Promise<Decision[]> {
    if (targets.length === 0) return [decide(identity, action)];
    const resources = targets.filter(isProtected);
    const grants =
      identity && !isAdmin(identity.roles) && resources.length > 0
        ? await this.permissions.grantsFor(this.ds.manager, identity.principal, resources)
        : [];
    const context = { defaultPermission: this.config.defaultPermission, grants };
    return targets.map((t) => decide(identity, action, t, context));
  }

  /** Returns the caller when every target allows `action`; throws the first refusal otherwise. */
  async authorize(
    identity: CallerIdentity | undefined,
    action: Action,
    ...targets: AccessTarget[]
  ): Promise<CallerIdentity> {
    const decisions = await this.decideEach(identity, action, targets);
    decisions.forEach((d, i) => {
      if (!d.allowed) throw denial(identity, action, targets[i], d);
    });
    return identity!;
  }

  /** The creator of an experiment or model gets MANAGE on it (MLflow's auth app does the same). */
  async grantCreator(principal: string, resource: ProtectedResource): Promise<void> {
    await this.permissions.upsert(this.ds.manager, {
      principal,
      resourceKind: resource.kind,
      resourceId: resource.id,
      permission: 'MANAGE',
    });
  }

  /** Drops every grant on a deleted resource. */
  async forgetResource(resource: ProtectedResource): Promise<void> {
    await this.permissions.deleteByResource(this.ds.manager, resource);
  }

  /** Moves every grant of a renamed registered model to its new name. */
  async renameRegisteredModel(from: string, to: string): Promise<void> {
    await this.permissions.renameResource(this.ds.manager, 'registered_model', from, to);
  }
}
