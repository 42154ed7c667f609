import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Principals, API keys and MLflow-style per-resource permissions.
 *
 * - `principals`: `user:<name>` or `service:<name>` (the prefix must agree with `kind`), with
 *   roles from a closed list. `password_hash` is the self-describing scrypt string of
 *   apps/gateway/src/auth/password-hash.ts, for HTTP Basic; service principals never have one.
 *   The partial index on admins serves the bootstrap's "is there an admin?" and the last-admin
 *   guard; concurrent bootstraps are serialized by an advisory lock, and the primary key
 *   catches any race the lock would miss.
 * - `api_keys`: only the SHA-256 of the secret is kept (the secret has 256 random bits, so a
 *   slow hash adds nothing); the key id is public and is the lookup key. `last_used_at` is
 *   written in batches, not per call. A principal's keys go with it.
 * - `permissions`: one row per (principal, resource), MLflow's READ / EDIT / MANAGE /
 *   NO_PERMISSIONS. No foreign key to `principals`: an OIDC user is known only to its issuer
 *   until it first needs a row, and may be granted permissions before that; deleting a
 *   principal deletes its grants in the same transaction. Registered models are keyed by name
 *   (as in MLflow), so a rename moves their rows.
 */
export class AuthTables1764400000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'gateway';
    await q.query(`
      CREATE TABLE "${s}".principals (
        principal_id text PRIMARY KEY
          CHECK (principal_id ~ '^(user|service):[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$'),
        kind text NOT NULL CHECK (kind IN ('user', 'service')),
        display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 256),
        roles text[] NOT NULL DEFAULT '{}'
          CHECK (roles <@ ARRAY['viewer', 'contributor', 'approver', 'operator', 'admin']::text[]),
        password_hash text,
        disabled boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT principals_kind_prefix CHECK (split_part(principal_id, ':', 1) = kind),
        CONSTRAINT principals_service_no_password CHECK (kind = 'user' OR password_hash IS NULL)
      );
      CREATE INDEX principals_admins_idx ON "${s}".principals (principal_id)
        WHERE 'admin' = ANY (roles) AND NOT disabled;

      CREATE TABLE "${s}".api_keys (
        key_id text PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{16}$'),
        secret_sha256 bytea NOT NULL CHECK (length(secret_sha256) = 32),
        principal_id text NOT NULL REFERENCES "${s}".principals ON DELETE CASCADE,
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz,
        last_used_at timestamptz,
        revoked_at timestamptz
      );
      CREATE INDEX api_keys_principal_idx ON "${s}".api_keys (principal_id, created_at DESC);

      CREATE TABLE "${s}".permissions (
        principal_id text NOT NULL
          CHECK (principal_id ~ '^(user|service):[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$'),
        resource_kind text NOT NULL CHECK (resource_kind IN ('experiment', 'registered_model')),
        resource_id text NOT NULL CHECK (length(resource_id) BETWEEN 1 AND 512),
        permission text NOT NULL CHECK (permission IN ('READ', 'EDIT', 'MANAGE', 'NO_PERMISSIONS')),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT permissions_pkey PRIMARY KEY (principal_id, resource_kind, resource_id)
      );
      CREATE INDEX permissions_resource_idx ON "${s}".permissions (resource_kind, resource_id);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'gateway';
    await q.query(`
      DROP TABLE "${s}".permissions;
      DROP TABLE "${s}".api_keys;
      DROP TABLE "${s}".principals;
    `);
  }
}
