import type { EntityManager } from 'typeorm';
import { knownRoles, type Role } from './roles';

type Query = Pick<EntityManager, 'query'>;

/** An API key as the API shows it: never its secret or hash. */
export interface ApiKeyRecord {
  keyId: string;
  principal: string;
  name: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** What authenticating with a key needs: the hash, the key's state and its principal's. */
export interface ApiKeyCredential {
  key: ApiKeyRecord;
  secretSha256: Buffer;
  principalRoles: Role[];
  principalDisabled: boolean;
}

interface ApiKeyRow {
  key_id: string;
  principal_id: string;
  name: string;
  created_ms: string;
  expires_ms: string | null;
  last_used_ms: string | null;
  revoked_ms: string | null;
}

const ms = (column: string) => `(extract(epoch FROM ${column}) * 1000)::bigint::text`;
const num = (v: string | null) => (v === null ? null : Number(v));

const toKey = (r: ApiKeyRow): ApiKeyRecord => ({
  keyId: r.key_id,
  principal: r.principal_id,
  name: r.name,
  createdAt: Number(r.created_ms),
  expiresAt: num(r.expires_ms),
  lastUsedAt: num(r.last_used_ms),
  revokedAt: num(r.revoked_ms),
});

const COLUMNS = `k.key_id, k.principal_id, k.name, ${ms('k.created_at')} AS created_ms,
  ${ms('k.expires_at')} AS expires_ms, ${ms('k.last_used_at')} AS last_used_ms, ${ms('k.revoked_at')} AS revoked_ms`;

/** SQL of the api_keys table; every method runs on the manager it is given. */
export class ApiKeysRepository {
  constructor(private readonly schema: string) {}

  private get s(): string {
    return `"${this.schema}"`;
  }

  async insert(
    m: Query,
    k: { keyId: string; secretSha256: Buffer; principal: string; name: string; expiresAt: number | null },
  ): Promise<ApiKeyRecord> {
    const rows = await m.query<ApiKeyRow[]>(
      `WITH k AS (
         INSERT INTO ${this.s}.api_keys (key_id, secret_sha256, principal_id, name, expires_at)
         VALUES ($1, $2, $3, $4, CASE WHEN $5::bigint IS NULL THEN NULL ELSE to_timestamp($5::bigint / 1000.0) END)
         RETURNING *)
       SELECT ${COLUMNS} FROM k`,
      [k.keyId, k.secretSha256, k.principal, k.name, k.expiresAt],
    );
    return toKey(rows[0]);
  }

  /** The key with its hash and its principal's roles and state, in one read. */
  async findCredential(m: Query, keyId: string): Promise<ApiKeyCredential | undefined> {
    const rows = await m.query<
      Array<ApiKeyRow & { secret_sha256: Buffer; roles: string[]; disabled: boolean }>
    >(
      `SELECT ${COLUMNS}, k.secret_sha256, p.roles, p.disabled
         FROM ${this.s}.api_keys k JOIN ${this.s}.principals p USING (principal_id)
        WHERE k.key_id = $1`,
      [keyId],
    );
    const r = rows[0];
    return r
      ? {
          key: toKey(r),
          secretSha256: r.secret_sha256,
          principalRoles: knownRoles(r.roles),
          principalDisabled: r.disabled,
        }
      : undefined;
  }

  async find(m: Query, keyId: string): Promise<ApiKeyRecord | undefined> {
    const rows = await m.query<ApiKeyRow[]>(
      `SELECT ${COLUMNS} FROM ${this.s}.api_keys k WHERE k.key_id = $1`,
      [keyId],
    );
    return rows[0] ? toKey(rows[0]) : undefined;
  }

  /** A principal's keys, newest first; without inactive ones (revoked or expired) unless asked. */
  async listByPrincipal(
    m: Query,
    principal: string,
    includeInactive: boolean,
    limit: number,
  ): Promise<ApiKeyRecord[]> {
    const rows = await m.query<ApiKeyRow[]>(
      `SELECT ${COLUMNS} FROM ${this.s}.api_keys k
        WHERE k.principal_id = $1
          AND ($2::boolean OR (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())))
        ORDER BY k.created_at DESC, k.key_id DESC
        LIMIT $3`,
      [principal, includeInactive, limit],
    );
    return rows.map(toKey);
  }

  async countActive(m: Query, principal: string): Promise<number> {
    const rows = await m.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM ${this.s}.api_keys
        WHERE principal_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
      [principal],
    );
    return rows[0].n;
  }

  /** Revokes the key (a second revocation keeps the first time); undefined when unknown. */
  async revoke(m: Query, keyId: string): Promise<ApiKeyRecord | undefined> {
    const rows = await m.query<ApiKeyRow[]>(
      `WITH k AS (
         UPDATE ${this.s}.api_keys SET revoked_at = COALESCE(revoked_at, now())
          WHERE key_id = $1 RETURNING *)
       SELECT ${COLUMNS} FROM k`,
      [keyId],
    );
    return rows[0] ? toKey(rows[0]) : undefined;
  }

  /** Records last-used times for many keys in one statement; never moves a time backwards. */
  async recordUsage(m: Query, usage: ReadonlyMap<string, number>): Promise<void> {
    if (usage.size === 0) return;
    await m.query(
      `UPDATE ${this.s}.api_keys k SET last_used_at = u.at
         FROM (SELECT id, to_timestamp(t / 1000.0) AS at
                 FROM unnest($1::text[], $2::bigint[]) AS x(id, t)) u
        WHERE k.key_id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`,
      [[...usage.keys()], [...usage.values()]],
    );
  }
}
