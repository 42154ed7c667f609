import type { EntityManager } from 'typeorm';
import type { PrincipalKind } from './principal-name';
import { knownRoles, type Role } from './roles';
import { changed } from './sql';

type Query = Pick<EntityManager, 'query'>;

/** A principal as the API shows it: never with its password hash. */
export interface PrincipalRecord {
  id: string;
  kind: PrincipalKind;
  displayName: string;
  roles: Role[];
  hasPassword: boolean;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

interface PrincipalRow {
  principal_id: string;
  kind: PrincipalKind;
  display_name: string;
  roles: string[];
  password_hash: string | null;
  disabled: boolean;
  created_ms: string;
  updated_ms: string;
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::bigint::text`;

const toPrincipal = (r: PrincipalRow): PrincipalRecord => ({
  id: r.principal_id,
  kind: r.kind,
  displayName: r.display_name,
  roles: knownRoles(r.roles),
  hasPassword: r.password_hash !== null,
  disabled: r.disabled,
  createdAt: Number(r.created_ms),
  updatedAt: Number(r.updated_ms),
});

/** SQL of the principals table; every method runs on the manager it is given. */
export class PrincipalsRepository {
  constructor(private readonly schema: string) {}

  private get s(): string {
    return `"${this.schema}"`;
  }

  private select(where: string): string {
    return `SELECT principal_id, kind, display_name, roles, password_hash, disabled,
                   ${ms('created_at')} AS created_ms, ${ms('updated_at')} AS updated_ms
              FROM ${this.s}.principals ${where}`;
  }

  async find(m: Query, id: string): Promise<PrincipalRecord | undefined> {
    const rows = await m.query<PrincipalRow[]>(this.select('WHERE principal_id = $1'), [id]);
    return rows[0] ? toPrincipal(rows[0]) : undefined;
  }

  /** The principal with its password hash: for HTTP Basic only. */
  async findWithPasswordHash(
    m: Query,
    id: string,
  ): Promise<{ principal: PrincipalRecord; passwordHash: string | null } | undefined> {
    const rows = await m.query<PrincipalRow[]>(this.select('WHERE principal_id = $1'), [id]);
    return rows[0] ? { principal: toPrincipal(rows[0]), passwordHash: rows[0].password_hash } : undefined;
  }

  /** Inserts the principal; false when one with that id exists already. */
  async insert(
    m: Query,
    p: { id: string; kind: PrincipalKind; displayName: string; roles: Role[]; passwordHash: string | null },
  ): Promise<boolean> {
    const rows = await m.query<unknown[]>(
      `INSERT INTO ${this.s}.principals (principal_id, kind, display_name, roles, password_hash)
       VALUES ($1, $2, $3, $4::text[], $5)
       ON CONFLICT (principal_id) DO NOTHING
       RETURNING principal_id`,
      [p.id, p.kind, p.displayName, p.roles, p.passwordHash],
    );
    return rows.length > 0;
  }

  async updateRoles(m: Query, id: string, roles: Role[]): Promise<boolean> {
    return (
      (await changed(
        m,
        `UPDATE ${this.s}.principals SET roles = $2::text[], updated_at = now() WHERE principal_id = $1`,
        [id, roles],
      )) > 0
    );
  }

  /**
   * Replaces the password hash, unless `expected` is given and the stored hash is no longer
   * that one (a rehash racing a password change must not undo the change).
   */
  async setPasswordHash(m: Query, id: string, hash: string, expected?: string): Promise<boolean> {
    return (
      (await changed(
        m,
        `UPDATE ${this.s}.principals SET password_hash = $2, updated_at = now()
          WHERE principal_id = $1 AND ($3::text IS NULL OR password_hash = $3)`,
        [id, hash, expected ?? null],
      )) > 0
    );
  }

  async delete(m: Query, id: string): Promise<boolean> {
    return (await changed(m, `DELETE FROM ${this.s}.principals WHERE principal_id = $1`, [id])) > 0;
  }

  /** Makes `id` an enabled admin with a new password (the bootstrap's recovery of `user:admin`). */
  async restoreAdmin(m: Query, id: string, passwordHash: string): Promise<void> {
    await changed(
      m,
      `UPDATE ${this.s}.principals
          SET roles = ARRAY['admin']::text[], disabled = false, password_hash = $2, updated_at = now()
        WHERE principal_id = $1`,
      [id, passwordHash],
    );
  }

  /** The enabled principals with the admin role (the partial index holds exactly these). */
  async activeAdmins(m: Query): Promise<string[]> {
    const rows = await m.query<Array<{ principal_id: string }>>(
      `SELECT principal_id FROM ${this.s}.principals WHERE 'admin' = ANY (roles) AND NOT disabled`,
    );
    return rows.map((r) => r.principal_id);
  }

  /**
   * Serializes, within the caller's transaction, every change to who is an admin (the
   * bootstrap, role changes, deletions), across replicas: the "no admin yet" and "not the
   * last admin" checks then see each other's commits. Keyed by schema, so gateways sharing a
   * database in separate schemas do not wait on each other.
   */
  async lockAdminSet(m: Query): Promise<void> {
    await m.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [
      `cairn:${this.schema}:admin-set`,
    ]);
  }
}
