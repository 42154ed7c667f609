import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The tamper-evident audit log (ARCHITECTURE.md, Governance) and its signed checkpoints.
 *
 * - `audit_log` rows are hash-chained (apps/registry/src/audit/audit-chain.ts defines the hash).
 *   `seq` is assigned by the writer while it holds the lock on `audit_head`, never by a
 *   sequence: a sequence leaves gaps on rollback, and the verifier treats a gap as a deleted
 *   entry. `before_json`/`after_json` hold the RFC 8785 canonical JSON text that was hashed
 *   (text, not jsonb: jsonb would re-serialize it, and jsonb cannot hold every string JSON can);
 *   query them with `before_json::jsonb`.
 * - `audit_head` is one row (seq, hash) of the last entry: appends lock it, so they serialize and
 *   seq stays contiguous. It may only move forward, to an existing entry.
 * - Triggers refuse UPDATE, DELETE and TRUNCATE of `audit_log` and `audit_checkpoints`, and
 *   refuse inserting an entry that does not link to its predecessor. Migrations run as the
 *   tables' owner, so the triggers are what applies in embedded mode; an owner can still
 *   disable them, which is what the signed checkpoints are for (a rewound tail no longer
 *   matches the last checkpoint).
 *
 * Production hardening (docs/database-roles.md, "Audit table"): an owner can grant privileges
 * back to itself and disable triggers, so have a separate NOLOGIN role own the audit tables and
 * give the service's role only what appending needs, e.g. as the DBA:
 *
 *   CREATE ROLE cairn_registry_audit NOLOGIN;
 *   ALTER TABLE registry.audit_log OWNER TO cairn_registry_audit;
 *   ALTER TABLE registry.audit_head OWNER TO cairn_registry_audit;
 *   ALTER TABLE registry.audit_checkpoints OWNER TO cairn_registry_audit;
 *   REVOKE ALL ON registry.audit_log, registry.audit_head, registry.audit_checkpoints FROM cairn_registry;
 *   GRANT SELECT, INSERT ON registry.audit_log, registry.audit_checkpoints TO cairn_registry;
 *   GRANT SELECT, UPDATE ON registry.audit_head TO cairn_registry;
 *
 * (the schema's owner can still DROP the tables; the checkpoints, exported elsewhere, are the
 * evidence that survives that).
 */
export class AuditLog1764220000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      CREATE TABLE "${s}".audit_log (
        seq bigint PRIMARY KEY CHECK (seq > 0),
        entry_id uuid NOT NULL,
        occurred_at bigint NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        object_type text NOT NULL,
        object_id text NOT NULL,
        model text,
        before_json text,
        after_json text,
        reason text,
        prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
        hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT audit_log_entry_id_key UNIQUE (entry_id)
      );
      CREATE INDEX audit_log_model_idx ON "${s}".audit_log (model, seq DESC) WHERE model IS NOT NULL;
      CREATE INDEX audit_log_actor_idx ON "${s}".audit_log (actor, seq DESC);
      CREATE INDEX audit_log_time_idx ON "${s}".audit_log (occurred_at DESC, seq DESC);
      CREATE INDEX audit_log_object_idx ON "${s}".audit_log (object_type, object_id, seq DESC);

      CREATE TABLE "${s}".audit_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        seq bigint NOT NULL CHECK (seq >= 0),
        hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
      );
      INSERT INTO "${s}".audit_head (singleton, seq, hash) VALUES (true, 0, repeat('0', 64));

      CREATE TABLE "${s}".audit_checkpoints (
        seq bigint PRIMARY KEY CHECK (seq > 0),
        head_hash text NOT NULL CHECK (head_hash ~ '^[0-9a-f]{64}$'),
        created_at bigint NOT NULL,
        key_id text NOT NULL,
        signature text NOT NULL
      );

      CREATE FUNCTION "${s}".audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        RAISE EXCEPTION 'audit table %.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'audit entries and checkpoints are never changed or removed';
      END
      $fn$;

      -- Statement-level, so even an UPDATE or DELETE matching no row is refused.
      CREATE TRIGGER audit_log_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON "${s}".audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION "${s}".audit_refuse_change();
      CREATE TRIGGER audit_checkpoints_append_only
        BEFORE UPDATE OR DELETE OR TRUNCATE ON "${s}".audit_checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION "${s}".audit_refuse_change();
      CREATE TRIGGER audit_head_keep
        BEFORE DELETE OR TRUNCATE ON "${s}".audit_head
        FOR EACH STATEMENT EXECUTE FUNCTION "${s}".audit_refuse_change();

      -- An entry must link to the entry before it, so seq is contiguous and a writer that
      -- skipped the head lock fails instead of forking the chain.
      CREATE FUNCTION "${s}".audit_log_check_link() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        expected text;
      BEGIN
        IF NEW.seq = 1 THEN
          expected := repeat('0', 64);
        ELSE
          SELECT hash INTO expected FROM "${s}".audit_log WHERE seq = NEW.seq - 1;
        END IF;
        IF expected IS DISTINCT FROM NEW.prev_hash THEN
          RAISE EXCEPTION 'audit entry % does not link to entry %', NEW.seq, NEW.seq - 1
            USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
      END
      $fn$;
      CREATE TRIGGER audit_log_link
        BEFORE INSERT ON "${s}".audit_log
        FOR EACH ROW EXECUTE FUNCTION "${s}".audit_log_check_link();

      -- The head only moves forward, and only to an entry that exists with that hash.
      CREATE FUNCTION "${s}".audit_head_check_advance() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF NEW.singleton IS DISTINCT FROM OLD.singleton
           OR NEW.seq <= OLD.seq
           OR NOT EXISTS (SELECT 1 FROM "${s}".audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
          RAISE EXCEPTION 'audit head may only advance to an existing entry (from % to %)', OLD.seq, NEW.seq
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END
      $fn$;
      CREATE TRIGGER audit_head_advance
        BEFORE UPDATE ON "${s}".audit_head
        FOR EACH ROW EXECUTE FUNCTION "${s}".audit_head_check_advance();

      -- A checkpoint names an entry that exists with that hash.
      CREATE FUNCTION "${s}".audit_checkpoint_check_entry() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM "${s}".audit_log WHERE seq = NEW.seq AND hash = NEW.head_hash) THEN
          RAISE EXCEPTION 'audit checkpoint names no entry % with that hash', NEW.seq
            USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
      END
      $fn$;
      CREATE TRIGGER audit_checkpoints_entry
        BEFORE INSERT ON "${s}".audit_checkpoints
        FOR EACH ROW EXECUTE FUNCTION "${s}".audit_checkpoint_check_entry();
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      DROP TABLE "${s}".audit_checkpoints;
      DROP TABLE "${s}".audit_head;
      DROP TABLE "${s}".audit_log;
      DROP FUNCTION "${s}".audit_checkpoint_check_entry();
      DROP FUNCTION "${s}".audit_head_check_advance();
      DROP FUNCTION "${s}".audit_log_check_link();
      DROP FUNCTION "${s}".audit_refuse_change();
    `);
  }
}
