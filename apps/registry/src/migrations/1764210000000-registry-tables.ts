import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Registered models, versions, tags, aliases, the run projection, policies and transition
 * requests (MLflow's registry model plus governance).
 *
 * - Models have a surrogate id, so a rename touches one row; versions, tags, aliases,
 *   policies and requests follow it.
 * - Version numbers come from `registered_models.last_version` under the model's row lock,
 *   so a deleted version's number is never reused (MLflow's rule).
 * - Every stage or alias change locks the model row first (`SELECT ... FOR UPDATE`): two
 *   concurrent promotions with archive_existing_versions serialize there, so exactly one
 *   version ends in the target stage.
 * - `runs` is a projection of tracking's RunFinished events (the registry never reads
 *   tracking's tables): gates and lineage read it.
 */
export class RegistryTables1764210000000 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      CREATE TABLE "${s}".registered_models (
        model_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL UNIQUE,
        description text NOT NULL DEFAULT '',
        created_by text NOT NULL,
        creation_time bigint NOT NULL,
        last_updated_time bigint NOT NULL,
        last_version integer NOT NULL DEFAULT 0
      );
      CREATE INDEX registered_models_updated_idx ON "${s}".registered_models (last_updated_time, model_id);
      CREATE INDEX registered_models_created_idx ON "${s}".registered_models (creation_time, model_id);

      CREATE TABLE "${s}".registered_model_tags (
        model_id bigint NOT NULL REFERENCES "${s}".registered_models ON DELETE CASCADE,
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (model_id, key)
      );

      CREATE TABLE "${s}".model_versions (
        model_id bigint NOT NULL REFERENCES "${s}".registered_models ON DELETE CASCADE,
        version integer NOT NULL,
        user_id text NOT NULL,
        creation_time bigint NOT NULL,
        last_updated_time bigint NOT NULL,
        stage text NOT NULL DEFAULT 'None' CHECK (stage IN ('None', 'Staging', 'Production', 'Archived')),
        description text NOT NULL DEFAULT '',
        source text NOT NULL,
        run_id text,
        run_link text NOT NULL DEFAULT '',
        status text NOT NULL CHECK (status IN ('PENDING_REGISTRATION', 'READY', 'FAILED_REGISTRATION')),
        status_message text NOT NULL DEFAULT '',
        storage_uri text NOT NULL,
        storage_scope text NOT NULL,
        storage_path text NOT NULL,
        artifact_digest text,
        manifest jsonb,
        signature_algorithm text,
        signature_key_id text,
        signature_value text,
        registration_attempts integer NOT NULL DEFAULT 0,
        PRIMARY KEY (model_id, version)
      );
      CREATE INDEX model_versions_run_idx ON "${s}".model_versions (run_id) WHERE run_id IS NOT NULL;
      CREATE INDEX model_versions_stage_idx ON "${s}".model_versions (model_id, stage, version DESC);
      CREATE INDEX model_versions_pending_idx ON "${s}".model_versions (creation_time)
        WHERE status = 'PENDING_REGISTRATION';

      CREATE TABLE "${s}".model_version_tags (
        model_id bigint NOT NULL,
        version integer NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (model_id, version, key),
        FOREIGN KEY (model_id, version) REFERENCES "${s}".model_versions ON DELETE CASCADE
      );

      CREATE TABLE "${s}".model_aliases (
        model_id bigint NOT NULL,
        alias text NOT NULL,
        version integer NOT NULL,
        PRIMARY KEY (model_id, alias),
        FOREIGN KEY (model_id, version) REFERENCES "${s}".model_versions ON DELETE CASCADE
      );

      CREATE TABLE "${s}".runs (
        run_id text PRIMARY KEY,
        experiment_id text NOT NULL,
        run_name text,
        status text NOT NULL,
        metrics jsonb NOT NULL,
        params jsonb NOT NULL,
        tags jsonb NOT NULL,
        artifact_uri text NOT NULL,
        dataset_inputs jsonb NOT NULL,
        pipeline_run_id text,
        created_by text,
        started_at bigint NOT NULL,
        ended_at bigint NOT NULL,
        event_id text NOT NULL,
        projected_at bigint NOT NULL
      );

      CREATE TABLE "${s}".model_policies (
        model_id bigint PRIMARY KEY REFERENCES "${s}".registered_models ON DELETE CASCADE,
        policy jsonb NOT NULL,
        updated_by text NOT NULL,
        updated_at bigint NOT NULL
      );

      CREATE TABLE "${s}".transition_requests (
        request_id uuid PRIMARY KEY,
        model_id bigint NOT NULL REFERENCES "${s}".registered_models ON DELETE CASCADE,
        version integer NOT NULL,
        from_kind text NOT NULL CHECK (from_kind IN ('stage', 'alias')),
        from_value text NOT NULL,
        to_kind text NOT NULL CHECK (to_kind IN ('stage', 'alias')),
        to_value text NOT NULL,
        archive_existing boolean NOT NULL,
        requested_by text NOT NULL,
        comment text NOT NULL DEFAULT '',
        status text NOT NULL CHECK (status IN ('PENDING', 'APPLIED', 'REJECTED', 'GATES_FAILED', 'WITHDRAWN', 'EXPIRED')),
        approvals_required integer NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        closed_at bigint,
        closed_by text,
        close_comment text NOT NULL DEFAULT '',
        gate_results jsonb NOT NULL DEFAULT '[]',
        FOREIGN KEY (model_id, version) REFERENCES "${s}".model_versions ON DELETE CASCADE
      );
      -- One open request per version and target.
      CREATE UNIQUE INDEX transition_requests_open_idx ON "${s}".transition_requests (model_id, version, to_kind, to_value)
        WHERE status = 'PENDING';
      CREATE INDEX transition_requests_model_idx ON "${s}".transition_requests (model_id, created_at DESC, request_id);
      CREATE INDEX transition_requests_expiry_idx ON "${s}".transition_requests (expires_at) WHERE status = 'PENDING';

      CREATE TABLE "${s}".transition_approvals (
        request_id uuid NOT NULL REFERENCES "${s}".transition_requests ON DELETE CASCADE,
        approver text NOT NULL,
        comment text NOT NULL DEFAULT '',
        approved_at bigint NOT NULL,
        PRIMARY KEY (request_id, approver)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    const s = q.connection.driver.schema ?? 'registry';
    await q.query(`
      DROP TABLE "${s}".transition_approvals;
      DROP TABLE "${s}".transition_requests;
      DROP TABLE "${s}".model_policies;
      DROP TABLE "${s}".runs;
      DROP TABLE "${s}".model_aliases;
      DROP TABLE "${s}".model_version_tags;
      DROP TABLE "${s}".model_versions;
      DROP TABLE "${s}".registered_model_tags;
      DROP TABLE "${s}".registered_models;
    `);
  }
}
