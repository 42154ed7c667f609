import type { EntityManager } from 'typeorm';
import { createEvent, type DatasetInput, type Stage } from '@cairn/contracts';
import type { Transaction } from '@cairn/messaging';
import { AppError } from '@cairn/rpc';
import { outboxRecordOf } from '@cairn/service-runtime';
import { describeTarget, isProtected, type ModelPolicy, type Target } from '../governance/model-policy';
import type { AuditTrail } from '../persistence/audit-trail.port';
import type { ProjectedRun } from '../runs/run-projection';
import { isUniqueViolation } from '@cairn/persistence';
import {
  parseVersion,
  validateAlias,
  validateComment,
  validateDescription,
  validateModelName,
  validateTag,
} from '../validation/registry-validation';
import {
  type ModelsRepository,
  type ModelVersionRecord,
  type RegisteredModelRecord,
  type RegisteredModelRow,
  type TagRecord,
} from './models.repository';

/** What a stage or alias change did, for events and for the governance flow. */
export interface TransitionOutcome {
  version: ModelVersionRecord;
  /** Versions archived because the promotion superseded them. */
  archived: number[];
  /** The version that held the alias before, for an alias move. */
  previousAliasVersion?: number;
}

export interface TransitionActors {
  actor: string;
  approvers: string[];
  requestId?: string;
  comment?: string;
}

/** What the models service needs from its surroundings; wired by the Nest module. */
export interface ModelsServiceDeps {
  repository: ModelsRepository;
  schema: string;
  audit: AuditTrail;
  /** Runs `work` in one transaction whose emitted events go through the outbox. */
  unitOfWork: <T>(work: (tx: Transaction) => Promise<T>) => Promise<T>;
  policyOf: (m: EntityManager, modelId: string) => Promise<ModelPolicy>;
  /** The source run's dataset inputs, for ModelPromoted (from the run projection). */
  runInputsOf: (m: EntityManager, runId: string) => Promise<DatasetInput[] | undefined>;
  /** The source run as the run projection knows it, for lineage. */
  runOf: (m: EntityManager, runId: string) => Promise<ProjectedRun | undefined>;
  now?: () => number;
}

/** Where a version is deployed (from the orchestrator's deployment events). */
export interface DeploymentLineageRecord {
  deploymentId: string;
  target: string;
  status: string;
  updatedAt: number;
}

/** Deployment → model version → run → dataset inputs → pipeline run, as far as the registry knows. */
export interface VersionLineage {
  version: ModelVersionRecord;
  /** Undefined for a version registered from a source URI, or whose RunFinished has not arrived. */
  run?: ProjectedRun;
  datasetInputs: DatasetInput[];
  pipelineRunId: string | null;
  deployments: DeploymentLineageRecord[];
}

const ACTIVE_STAGES: readonly Stage[] = ['Staging', 'Production'];

function modelAlreadyExists(name: string): AppError {
  return new AppError(
    'already_exists',
    'REGISTERED_MODEL_ALREADY_EXISTS',
    `Registered Model (name=${name}) already exists.`,
    { name },
  );
}

function snapshot(v: ModelVersionRecord): Record<string, unknown> {
  return { stage: v.stage, aliases: v.aliases, status: v.status, artifactDigest: v.artifactDigest };
}

/**
 * Registered models and versions with MLflow's semantics. Stage and alias changes go through
 * `applyTransition`, which the governance flow also uses once a request is approved; a direct
 * call for a protected target is refused with TRANSITION_REQUIRES_APPROVAL.
 */
export class ModelsService {
  private readonly now: () => number;

  constructor(private readonly d: ModelsServiceDeps) {
    this.now = d.now ?? Date.now;
  }

  private get s(): string {
    return `"${this.d.schema}"`;
  }

  async createModel(
    actor: string,
    name: string,
    tags: TagRecord[],
    description: string,
  ): Promise<RegisteredModelRecord> {
    validateModelName(name);
    for (const t of tags) validateTag(t.key, t.value);
    validateDescription(description);
    const now = this.now();
    try {
      return await this.d.unitOfWork(async (tx) => {
        const [{ model_id: modelId }] = await tx.manager.query<Array<{ model_id: string }>>(
          `INSERT INTO ${this.s}.registered_models (name, description, created_by, creation_time, last_updated_time)
           VALUES ($1, $2, $3, $4, $4) RETURNING model_id::text`,
          [name, description, actor, now],
        );
        await this.writeModelTags(tx.manager, modelId, tags);
        await this.d.audit.append(tx.manager, {
          actor,
          action: 'registered_model.create',
          objectType: 'registered_model',
          objectId: name,
          model: name,
          after: { description, tags: Object.fromEntries(tags.map((t) => [t.key, t.value])) },
          occurredAt: now,
        });
        tx.emit(
          outboxRecordOf(
            createEvent('cairn.registry.registered-model.created.v1', {
              data: {
                model: name,
                ...(description ? { description } : {}),
                tags: Object.fromEntries(tags.map((t) => [t.key, t.value])),
                createdBy: actor,
                createdAt: new Date(now).toISOString(),
              },
            }),
            'registered_model',
          ),
        );
        return this.d.repository.loadModel(tx.manager, name);
      });
    } catch (err) {
      if (isUniqueViolation(err, 'registered_models_name_key')) throw modelAlreadyExists(name);
      throw err;
    }
  }

  getModel(name: string, m: EntityManager): Promise<RegisteredModelRecord> {
    validateModelName(name);
    return this.d.repository.loadModel(m, name);
  }

  async renameModel(actor: string, name: string, newName: string): Promise<RegisteredModelRecord> {
    validateModelName(name);
    validateModelName(newName, 'new_name');
    try {
      return await this.d.unitOfWork(async (tx) => {
        const model = await this.d.repository.getModel(tx.manager, name, true);
        const now = this.now();
        await tx.manager.query(
          `UPDATE ${this.s}.registered_models SET name = $2, last_updated_time = $3 WHERE model_id = $1`,
          [model.modelId, newName, now],
        );
        await this.d.audit.append(tx.manager, {
          actor,
          action: 'registered_model.rename',
          objectType: 'registered_model',
          objectId: newName,
          model: newName,
          before: { name },
          after: { name: newName },
          occurredAt: now,
        });
        return this.d.repository.loadModel(tx.manager, newName);
      });
    } catch (err) {
      if (isUniqueViolation(err, 'registered_models_name_key')) throw modelAlreadyExists(newName);
      throw err;
    }
  }

  async updateModel(actor: string, name: string, description: string): Promise<RegisteredModelRecord> {
    validateModelName(name);
    validateDescription(description);
    return this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const now = this.now();
      await tx.manager.query(
        `UPDATE ${this.s}.registered_models SET description = $2, last_updated_time = $3 WHERE model_id = $1`,
        [model.modelId, description, now],
      );
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'registered_model.update',
        objectType: 'registered_model',
        objectId: name,
        model: name,
        before: { description: model.description },
        after: { description },
        occurredAt: now,
      });
      return this.d.repository.loadModel(tx.manager, name);
    });
  }

  async deleteModel(actor: string, name: string): Promise<void> {
    validateModelName(name);
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const versions = await tx.manager.query<Array<{ version: number; stage: Stage }>>(
        `SELECT version, stage FROM ${this.s}.model_versions WHERE model_id = $1 ORDER BY version`,
        [model.modelId],
      );
      await tx.manager.query(`DELETE FROM ${this.s}.registered_models WHERE model_id = $1`, [model.modelId]);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'registered_model.delete',
        objectType: 'registered_model',
        objectId: name,
        model: name,
        before: { description: model.description, versions },
        occurredAt: this.now(),
      });
    });
  }

  async setModelTag(actor: string, name: string, key: string, value: string): Promise<void> {
    validateModelName(name);
    validateTag(key, value);
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const [old] = await tx.manager.query<Array<{ value: string }>>(
        `SELECT value FROM ${this.s}.registered_model_tags WHERE model_id = $1 AND key = $2`,
        [model.modelId, key],
      );
      await this.writeModelTags(tx.manager, model.modelId, [{ key, value }]);
      const now = this.now();
      await this.d.repository.touchModel(tx.manager, model.modelId, now);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'registered_model_tag.set',
        objectType: 'registered_model',
        objectId: name,
        model: name,
        before: old ? { [key]: old.value } : null,
        after: { [key]: value },
        occurredAt: now,
      });
    });
  }

  async deleteModelTag(actor: string, name: string, key: string): Promise<void> {
    validateModelName(name);
    if (key === '')
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "Missing value for required parameter 'key'.",
      );
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const deleted = await tx.manager.query<Array<{ value: string }>>(
        `WITH d AS (DELETE FROM ${this.s}.registered_model_tags WHERE model_id = $1 AND key = $2 RETURNING value) SELECT value FROM d`,
        [model.modelId, key],
      );
      if (deleted.length === 0) {
        throw new AppError(
          'not_found',
          'TAG_NOT_FOUND',
          `No tag with name: ${key} in registered model with name ${name}`,
          { name, key },
        );
      }
      const now = this.now();
      await this.d.repository.touchModel(tx.manager, model.modelId, now);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'registered_model_tag.delete',
        objectType: 'registered_model',
        objectId: name,
        model: name,
        before: { [key]: deleted[0].value },
        occurredAt: now,
      });
    });
  }

  async getVersion(m: EntityManager, name: string, version: string): Promise<ModelVersionRecord> {
    validateModelName(name);
    const n = parseVersion(version);
    const model = await this.d.repository.getModel(m, name);
    return this.d.repository.getVersion(m, model, n);
  }

  async lineage(m: EntityManager, name: string, version: string): Promise<VersionLineage> {
    const v = await this.getVersion(m, name, version);
    const run = v.runId ? await this.d.runOf(m, v.runId) : undefined;
    return {
      version: v,
      run,
      datasetInputs: run?.datasetInputs ?? [],
      pipelineRunId: run?.pipelineRunId ?? null,
      // Deployments come from the orchestrator's DeploymentSucceeded/Failed events, which the
      // registry does not consume yet (a later issue projects them); until then there are none.
      deployments: [],
    };
  }

  async latestVersions(m: EntityManager, name: string, stages: Stage[]): Promise<ModelVersionRecord[]> {
    validateModelName(name);
    const model = await this.d.repository.getModel(m, name);
    return this.d.repository.latestVersions(m, model.modelId, stages, true);
  }

  async updateVersion(
    actor: string,
    name: string,
    version: string,
    description: string,
  ): Promise<ModelVersionRecord> {
    validateModelName(name);
    const n = parseVersion(version);
    validateDescription(description);
    return this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const before = await this.d.repository.getVersion(tx.manager, model, n);
      const now = this.now();
      await tx.manager.query(
        `UPDATE ${this.s}.model_versions SET description = $3, last_updated_time = $4 WHERE model_id = $1 AND version = $2`,
        [model.modelId, n, description, now],
      );
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'model_version.update',
        objectType: 'model_version',
        objectId: `${name}/${n}`,
        model: name,
        before: { description: before.description },
        after: { description },
        occurredAt: now,
      });
      return this.d.repository.getVersion(tx.manager, model, n);
    });
  }

  async deleteVersion(actor: string, name: string, version: string): Promise<void> {
    validateModelName(name);
    const n = parseVersion(version);
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const before = await this.d.repository.getVersion(tx.manager, model, n);
      await tx.manager.query(`DELETE FROM ${this.s}.model_versions WHERE model_id = $1 AND version = $2`, [
        model.modelId,
        n,
      ]);
      const now = this.now();
      await this.d.repository.touchModel(tx.manager, model.modelId, now);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'model_version.delete',
        objectType: 'model_version',
        objectId: `${name}/${n}`,
        model: name,
        before: snapshot(before),
        occurredAt: now,
      });
      // MLflow deletes the aliases with the version; consumers hear of each.
      for (const alias of before.aliases) {
        tx.emit(
          outboxRecordOf(
            createEvent('cairn.registry.alias.deleted.v1', {
              data: { model: name, alias, version: String(n), actor, deletedAt: new Date(now).toISOString() },
            }),
            'registered_model',
          ),
        );
      }
    });
  }

  async setVersionTag(
    actor: string,
    name: string,
    version: string,
    key: string,
    value: string,
  ): Promise<void> {
    validateModelName(name);
    const n = parseVersion(version);
    validateTag(key, value);
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const v = await this.d.repository.getVersion(tx.manager, model, n);
      const old = v.tags.find((t) => t.key === key);
      await tx.manager.query(
        `INSERT INTO ${this.s}.model_version_tags (model_id, version, key, value) VALUES ($1, $2, $3, $4)
         ON CONFLICT (model_id, version, key) DO UPDATE SET value = EXCLUDED.value`,
        [model.modelId, n, key, value],
      );
      const now = this.now();
      await this.d.repository.touchVersion(tx.manager, model.modelId, n, now);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'model_version_tag.set',
        objectType: 'model_version',
        objectId: `${name}/${n}`,
        model: name,
        before: old ? { [key]: old.value } : null,
        after: { [key]: value },
        occurredAt: now,
      });
      tx.emit(
        outboxRecordOf(
          createEvent('cairn.registry.model-version-tag.set.v1', {
            data: { model: name, version: String(n), key, value, actor, setAt: new Date(now).toISOString() },
          }),
          'registered_model',
        ),
      );
    });
  }

  async deleteVersionTag(actor: string, name: string, version: string, key: string): Promise<void> {
    validateModelName(name);
    const n = parseVersion(version);
    if (key === '')
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "Missing value for required parameter 'key'.",
      );
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      await this.d.repository.getVersion(tx.manager, model, n);
      const deleted = await tx.manager.query<Array<{ value: string }>>(
        `WITH d AS (DELETE FROM ${this.s}.model_version_tags WHERE model_id = $1 AND version = $2 AND key = $3 RETURNING value) SELECT value FROM d`,
        [model.modelId, n, key],
      );
      if (deleted.length === 0) {
        throw new AppError(
          'not_found',
          'TAG_NOT_FOUND',
          `No tag with name: ${key} for model version ${n} of registered model ${name}`,
          { name, version: String(n), key },
        );
      }
      const now = this.now();
      await this.d.repository.touchVersion(tx.manager, model.modelId, n, now);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'model_version_tag.delete',
        objectType: 'model_version',
        objectId: `${name}/${n}`,
        model: name,
        before: { [key]: deleted[0].value },
        occurredAt: now,
      });
      tx.emit(
        outboxRecordOf(
          createEvent('cairn.registry.model-version-tag.deleted.v1', {
            data: { model: name, version: String(n), key, actor, deletedAt: new Date(now).toISOString() },
          }),
          'registered_model',
        ),
      );
    });
  }

  async getVersionByAlias(m: EntityManager, name: string, alias: string): Promise<ModelVersionRecord> {
    validateModelName(name);
    validateAlias(alias);
    const model = await this.d.repository.getModel(m, name);
    const version = await this.d.repository.aliasTarget(m, model.modelId, alias);
    if (version === undefined) {
      throw new AppError('not_found', 'ALIAS_NOT_FOUND', `Registered model alias ${alias} not found.`, {
        name,
        alias,
      });
    }
    return this.d.repository.getVersion(m, model, version);
  }

  async deleteAlias(actor: string, name: string, alias: string): Promise<void> {
    validateModelName(name);
    validateAlias(alias);
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const policy = await this.d.policyOf(tx.manager, model.modelId);
      this.refuseProtected(policy, { kind: 'alias', alias });
      const deleted = await tx.manager.query<Array<{ version: number }>>(
        `WITH d AS (DELETE FROM ${this.s}.model_aliases WHERE model_id = $1 AND alias = $2 RETURNING version) SELECT version FROM d`,
        [model.modelId, alias],
      );
      // MLflow treats deleting a missing alias as done.
      if (deleted.length === 0) return;
      const now = this.now();
      await this.d.repository.touchModel(tx.manager, model.modelId, now);
      await this.d.audit.append(tx.manager, {
        actor,
        action: 'alias.delete',
        objectType: 'alias',
        objectId: `${name}@${alias}`,
        model: name,
        before: { version: deleted[0].version },
        occurredAt: now,
      });
      tx.emit(
        outboxRecordOf(
          createEvent('cairn.registry.alias.deleted.v1', {
            data: {
              model: name,
              alias,
              version: String(deleted[0].version),
              actor,
              deletedAt: new Date(now).toISOString(),
            },
          }),
          'registered_model',
        ),
      );
    });
  }

  /** MLflow's transition_model_version_stage, for unprotected stages. */
  async transitionStage(
    actor: string,
    name: string,
    version: string,
    stage: Stage,
    archiveExisting: boolean,
    comment: string,
  ): Promise<ModelVersionRecord> {
    validateModelName(name);
    const n = parseVersion(version);
    validateComment(comment);
    return this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const policy = await this.d.policyOf(tx.manager, model.modelId);
      this.refuseProtected(policy, { kind: 'stage', stage });
      const outcome = await this.applyTransition(tx, model, n, { kind: 'stage', stage }, archiveExisting, {
        actor,
        approvers: [],
        comment,
      });
      return outcome.version;
    });
  }

  /** MLflow's set_registered_model_alias, for unprotected aliases. */
  async setAlias(actor: string, name: string, alias: string, version: string): Promise<void> {
    validateModelName(name);
    validateAlias(alias);
    const n = parseVersion(version);
    await this.d.unitOfWork(async (tx) => {
      const model = await this.d.repository.getModel(tx.manager, name, true);
      const policy = await this.d.policyOf(tx.manager, model.modelId);
      this.refuseProtected(policy, { kind: 'alias', alias });
      await this.applyTransition(tx, model, n, { kind: 'alias', alias }, false, { actor, approvers: [] });
    });
  }

  private refuseProtected(policy: ModelPolicy, target: Target): void {
    if (isProtected(policy, target)) {
      throw new AppError(
        'failed_precondition',
        'TRANSITION_REQUIRES_APPROVAL',
        `Moving a version to ${describeTarget(target)} needs an approved transition request (GovernanceService.RequestTransition).`,
        target.kind === 'stage' ? { stage: target.stage } : { alias: target.alias },
      );
    }
  }

  /**
   * Moves version `n` of `model` (whose row the caller has locked in `tx`) to `target`,
   * archiving the other versions of an active stage when asked, with the audit entries and
   * events, all in the caller's transaction. Policy checks are the caller's.
   */
  async applyTransition(
    tx: Transaction,
    model: RegisteredModelRow,
    n: number,
    target: Target,
    archiveExisting: boolean,
    who: TransitionActors,
  ): Promise<TransitionOutcome> {
    const m = tx.manager;
    const before = await this.d.repository.getVersion(m, model, n);
    const now = this.now();
    const at = new Date(now).toISOString();
    const archived: number[] = [];
    let previousAliasVersion: number | undefined;

    if (target.kind === 'stage') {
      if (archiveExisting && !ACTIVE_STAGES.includes(target.stage)) {
        throw new AppError(
          'invalid_argument',
          'INVALID_PARAMETER_VALUE',
          `Model version transition cannot archive existing model versions because '${target.stage}' is not an Active stage. Valid stages are ${ACTIVE_STAGES.join(', ')}`,
        );
      }
      if (ACTIVE_STAGES.includes(target.stage) && before.status !== 'READY') {
        throw new AppError(
          'failed_precondition',
          'MODEL_VERSION_NOT_READY',
          `Model version ${model.name}/${n} is ${before.status}; only READY versions can move to ${target.stage}.`,
          { name: model.name, version: String(n) },
        );
      }
      const replaced = ACTIVE_STAGES.includes(target.stage)
        ? (await this.d.repository.versionsInStage(m, model.modelId, target.stage)).filter((v) => v !== n)
        : [];
      await m.query(
        `UPDATE ${this.s}.model_versions SET stage = $3, last_updated_time = $4 WHERE model_id = $1 AND version = $2`,
        [model.modelId, n, target.stage, now],
      );
      if (archiveExisting && replaced.length > 0) {
        await m.query(
          `UPDATE ${this.s}.model_versions SET stage = 'Archived', last_updated_time = $3
            WHERE model_id = $1 AND version = ANY($2::int[])`,
          [model.modelId, replaced, now],
        );
        archived.push(...replaced);
      }
      await this.d.audit.append(m, {
        actor: who.actor,
        action: 'model_version.transition',
        objectType: 'model_version',
        objectId: `${model.name}/${n}`,
        model: model.name,
        before: { stage: before.stage },
        after: { stage: target.stage, archived, approvers: who.approvers, requestId: who.requestId ?? null },
        reason: who.comment || null,
        occurredAt: now,
      });
      for (const v of archived) {
        tx.emit(
          outboxRecordOf(
            createEvent('cairn.registry.model.archived.v1', {
              data: {
                model: model.name,
                version: String(v),
                fromStage: target.stage,
                reason: 'SUPERSEDED',
                supersededBy: String(n),
                actor: who.actor,
                archivedAt: at,
              },
            }),
            'registered_model',
          ),
        );
      }
      if (target.stage === 'Archived' && before.stage !== 'Archived') {
        tx.emit(
          outboxRecordOf(
            createEvent('cairn.registry.model.archived.v1', {
              data: {
                model: model.name,
                version: String(n),
                fromStage: before.stage,
                reason: 'MANUAL',
                actor: who.actor,
                archivedAt: at,
              },
            }),
            'registered_model',
          ),
        );
      }
      if (ACTIVE_STAGES.includes(target.stage)) {
        tx.emit(
          await this.promotedEvent(
            m,
            before,
            { kind: 'stage', stage: before.stage },
            target,
            who,
            at,
            replaced[replaced.length - 1],
          ),
        );
      }
    } else {
      previousAliasVersion = await this.d.repository.aliasTarget(m, model.modelId, target.alias);
      await m.query(
        `INSERT INTO ${this.s}.model_aliases (model_id, alias, version) VALUES ($1, $2, $3)
         ON CONFLICT (model_id, alias) DO UPDATE SET version = EXCLUDED.version`,
        [model.modelId, target.alias, n],
      );
      await this.d.repository.touchModel(m, model.modelId, now);
      await this.d.audit.append(m, {
        actor: who.actor,
        action: 'alias.set',
        objectType: 'alias',
        objectId: `${model.name}@${target.alias}`,
        model: model.name,
        before: previousAliasVersion === undefined ? null : { version: previousAliasVersion },
        after: { version: n, approvers: who.approvers, requestId: who.requestId ?? null },
        reason: who.comment || null,
        occurredAt: now,
      });
      tx.emit(
        outboxRecordOf(
          createEvent('cairn.registry.alias.set.v1', {
            data: {
              model: model.name,
              alias: target.alias,
              version: String(n),
              ...(previousAliasVersion === undefined
                ? {}
                : { previousVersion: String(previousAliasVersion) }),
              actor: who.actor,
              setAt: at,
            },
          }),
          'registered_model',
        ),
      );
      if (before.status === 'READY') {
        // Where the version stands is its stage; the alias it takes is the move.
        tx.emit(
          await this.promotedEvent(
            m,
            before,
            { kind: 'stage', stage: before.stage },
            target,
            who,
            at,
            previousAliasVersion,
          ),
        );
      }
    }
    const version = await this.d.repository.getVersion(m, model, n);
    return { version, archived, previousAliasVersion };
  }

  private async promotedEvent(
    m: EntityManager,
    v: ModelVersionRecord,
    from: Target,
    to: Target,
    who: TransitionActors,
    at: string,
    replaced: number | undefined,
  ) {
    const inputs = v.runId ? await this.d.runInputsOf(m, v.runId) : undefined;
    return outboxRecordOf(
      createEvent('cairn.registry.model.promoted.v1', {
        data: {
          model: v.name,
          version: String(v.version),
          from,
          to,
          actor: who.actor,
          approvers: who.approvers,
          ...(who.requestId ? { requestId: who.requestId } : {}),
          ...(replaced !== undefined && replaced !== v.version ? { replacedVersion: String(replaced) } : {}),
          artifactUri: v.storageUri,
          artifactDigest: v.artifactDigest ?? '',
          ...(v.signature ? { signature: v.signature } : {}),
          ...(v.runId ? { runId: v.runId } : {}),
          ...(inputs ? { datasetInputs: inputs } : {}),
          promotedAt: at,
        },
      }),
      'registered_model',
    );
  }

  private async writeModelTags(m: EntityManager, modelId: string, tags: TagRecord[]): Promise<void> {
    if (tags.length === 0) return;
    await m.query(
      `INSERT INTO ${this.s}.registered_model_tags (model_id, key, value)
       SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
       ON CONFLICT (model_id, key) DO UPDATE SET value = EXCLUDED.value`,
      [modelId, tags.map((t) => t.key), tags.map((t) => t.value)],
    );
  }
}
