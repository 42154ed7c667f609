import type { EntityManager } from 'typeorm';
import type { Permission, PermissionGrant, ProtectedResource, ResourceKind } from './resource-permission';
import { changed } from './sql';

type Query = Pick<EntityManager, 'query'>;

interface GrantRow {
  principal_id: string;
  resource_kind: ResourceKind;
  resource_id: string;
  permission: Permission;
}

const toGrant = (r: GrantRow): PermissionGrant => ({
  principal: r.principal_id,
  resourceKind: r.resource_kind,
  resourceId: r.resource_id,
  permission: r.permission,
});

/** SQL of the permissions table; every method runs on the manager it is given. */
export class PermissionsRepository {
  constructor(private readonly schema: string) {}

  private get s(): string {
    return `"${this.schema}"`;
  }

  /**
   * The explicit permissions of `principal` on any of `resources`, in one query (a call
   * touching a run's experiment and a model, or a page of search results, is one round trip).
   */
  async grantsFor(
    m: Query,
    principal: string,
    resources: readonly ProtectedResource[],
  ): Promise<PermissionGrant[]> {
    if (resources.length === 0) return [];
    const rows = await m.query<GrantRow[]>(
      `SELECT p.principal_id, p.resource_kind, p.resource_id, p.permission
         FROM ${this.s}.permissions p
         JOIN unnest($2::text[], $3::text[]) AS r(kind, id)
           ON p.resource_kind = r.kind AND p.resource_id = r.id
        WHERE p.principal_id = $1`,
      [principal, resources.map((r) => r.kind), resources.map((r) => r.id)],
    );
    return rows.map(toGrant);
  }

  async find(m: Query, principal: string, resource: ProtectedResource): Promise<PermissionGrant | undefined> {
    const rows = await m.query<GrantRow[]>(
      `SELECT principal_id, resource_kind, resource_id, permission FROM ${this.s}.permissions
        WHERE principal_id = $1 AND resource_kind = $2 AND resource_id = $3`,
      [principal, resource.kind, resource.id],
    );
    return rows[0] ? toGrant(rows[0]) : undefined;
  }

  async listByPrincipal(m: Query, principal: string): Promise<PermissionGrant[]> {
    const rows = await m.query<GrantRow[]>(
      `SELECT principal_id, resource_kind, resource_id, permission FROM ${this.s}.permissions
        WHERE principal_id = $1 ORDER BY resource_kind, resource_id`,
      [principal],
    );
    return rows.map(toGrant);
  }

  /** Inserts the grant; false when the principal already has one on the resource. */
  async insert(m: Query, g: PermissionGrant): Promise<boolean> {
    const rows = await m.query<unknown[]>(
      `INSERT INTO ${this.s}.permissions (principal_id, resource_kind, resource_id, permission)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (principal_id, resource_kind, resource_id) DO NOTHING
       RETURNING principal_id`,
      [g.principal, g.resourceKind, g.resourceId, g.permission],
    );
    return rows.length > 0;
  }

  /** Inserts or replaces the grant (the creator's MANAGE). */
  async upsert(m: Query, g: PermissionGrant): Promise<void> {
    await m.query(
      `INSERT INTO ${this.s}.permissions (principal_id, resource_kind, resource_id, permission)
       VALUES ($1, $2, $3, $4)
       ON CONFLICT (principal_id, resource_kind, resource_id)
       DO UPDATE SET permission = EXCLUDED.permission, updated_at = now()`,
      [g.principal, g.resourceKind, g.resourceId, g.permission],
    );
  }

  async update(m: Query, g: PermissionGrant): Promise<boolean> {
    const n = await changed(
      m,
      `UPDATE ${this.s}.permissions SET permission = $4, updated_at = now()
        WHERE principal_id = $1 AND resource_kind = $2 AND resource_id = $3`,
      [g.principal, g.resourceKind, g.resourceId, g.permission],
    );
    return n > 0;
  }

  async delete(m: Query, principal: string, resource: ProtectedResource): Promise<boolean> {
    const n = await changed(
      m,
      `DELETE FROM ${this.s}.permissions WHERE principal_id = $1 AND resource_kind = $2 AND resource_id = $3`,
      [principal, resource.kind, resource.id],
    );
    return n > 0;
  }

  async deleteByPrincipal(m: Query, principal: string): Promise<void> {
    await m.query(`DELETE FROM ${this.s}.permissions WHERE principal_id = $1`, [principal]);
  }

  /** Removes every grant on a resource (after the resource is deleted, as MLflow does). */
  async deleteByResource(m: Query, resource: ProtectedResource): Promise<number> {
    return changed(m, `DELETE FROM ${this.s}.permissions WHERE resource_kind = $1 AND resource_id = $2`, [
      resource.kind,
      resource.id,
    ]);
  }

  /** Moves every grant on a resource to its new id (a registered model's rename). */
  async renameResource(m: Query, kind: ResourceKind, from: string, to: string): Promise<number> {
    return changed(
      m,
      `UPDATE ${this.s}.permissions SET resource_id = $3, updated_at = now()
        WHERE resource_kind = $1 AND resource_id = $2`,
      [kind, from, to],
    );
  }
}
