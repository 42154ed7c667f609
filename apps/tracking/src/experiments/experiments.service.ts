import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ArtifactStore } from '@cairn/artifacts';
import type { ServiceSettings } from '@cairn/config';
import { createEvent } from '@cairn/contracts';
import { AppError } from '@cairn/rpc';
import { MessagingRuntime, outboxRecordOf, SERVICE_SETTINGS } from '@cairn/service-runtime';
import { ARTIFACT_STORE } from '../artifacts/artifact-store.token';
import { isUniqueViolation } from '@cairn/persistence';
import { compileExperimentSearch, nextExperimentPageToken, type ViewTypeName } from '../search';
import {
  validateArtifactLocation,
  validateExperimentId,
  validateExperimentName,
  validateExperimentTag,
  validateKey,
  validateMaxResults,
} from '../validation/mlflow-validation';
import {
  assertExperimentActive,
  type ExperimentRecord,
  ExperimentsRepository,
} from './experiments.repository';

export const DEFAULT_EXPERIMENT_ID = '0';
export const DEFAULT_EXPERIMENT_NAME = 'Default';

/** Experiments: MLflow's semantics (unique names, soft delete with restore, tags). */
@Injectable()
export class ExperimentsService implements OnApplicationBootstrap {
  readonly repository: ExperimentsRepository;
  private readonly schema: string;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(MessagingRuntime) private readonly messaging: MessagingRuntime,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
    @Inject(ARTIFACT_STORE) private readonly store: ArtifactStore,
  ) {
    this.schema = settings.databaseSchema;
    this.repository = new ExperimentsRepository(this.schema);
  }

  /** MLflow servers always have experiment 0, "Default"; clients log there without choosing. */
  async onApplicationBootstrap(): Promise<void> {
    const now = Date.now();
    const location = this.store.uriFor(DEFAULT_EXPERIMENT_ID);
    await this.messaging.unitOfWork().run(async (tx) => {
      const inserted = await tx.manager.query<Array<{ experiment_id: string }>>(
        `INSERT INTO "${this.schema}".experiments (experiment_id, name, artifact_location, creation_time, last_update_time)
         VALUES (0, $1, $2, $3, $3) ON CONFLICT DO NOTHING RETURNING experiment_id::text`,
        [DEFAULT_EXPERIMENT_NAME, location, now],
      );
      if (inserted.length > 0) {
        tx.emit(this.createdEvent(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, location, [], now));
      }
    });
  }

  async create(
    name: string,
    artifactLocation: string | undefined,
    tags: Array<{ key: string; value: string }>,
    createdBy?: string,
  ): Promise<string> {
    validateExperimentName(name);
    if (artifactLocation !== undefined && artifactLocation !== '') validateArtifactLocation(artifactLocation);
    for (const t of tags) validateExperimentTag(t.key, t.value);
    const now = Date.now();
    try {
      return await this.messaging.unitOfWork().run(async (tx) => {
        const [{ id }] = await tx.manager.query<Array<{ id: string }>>(
          `SELECT nextval(pg_get_serial_sequence('"${this.schema}".experiments', 'experiment_id'))::text AS id`,
        );
        const location = artifactLocation || this.store.uriFor(id);
        await tx.manager.query(
          `INSERT INTO "${this.schema}".experiments (experiment_id, name, artifact_location, creation_time, last_update_time)
           VALUES ($1, $2, $3, $4, $4)`,
          [id, name, location, now],
        );
        await this.writeTags(tx.manager, id, tags);
        tx.emit(this.createdEvent(id, name, location, tags, now, createdBy));
        return id;
      });
    } catch (err) {
      if (isUniqueViolation(err, 'experiments_name_key')) {
        throw new AppError(
          'already_exists',
          'EXPERIMENT_ALREADY_EXISTS',
          `Experiment(name=${name}) already exists.`,
          {
            name,
          },
        );
      }
      throw err;
    }
  }

  get(id: string): Promise<ExperimentRecord> {
    validateExperimentId(id);
    return this.repository.getById(this.ds.manager, id);
  }

  async getByName(name: string): Promise<ExperimentRecord> {
    if (name === '') {
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "Missing value for required parameter 'experiment_name'.",
      );
    }
    const found = await this.repository.findByName(this.ds.manager, name);
    if (!found) {
      throw new AppError(
        'not_found',
        'EXPERIMENT_NOT_FOUND',
        `Could not find experiment with name '${name}'`,
        {
          name,
        },
      );
    }
    return found;
  }

  async search(req: {
    filter: string;
    orderBy: string[];
    viewType: ViewTypeName;
    maxResults: number | undefined;
    pageToken: string;
  }): Promise<{ experiments: ExperimentRecord[]; nextPageToken: string }> {
    const maxResults = validateMaxResults(req.maxResults, 1000);
    const compiled = compileExperimentSearch({
      schema: this.schema,
      filter: req.filter,
      orderBy: req.orderBy,
      viewType: req.viewType,
      maxResults,
      pageToken: req.pageToken || undefined,
    });
    const rows = await this.ds.query<Array<Record<string, unknown> & { experiment_id: string }>>(
      compiled.sql,
      compiled.params,
    );
    const page = rows.slice(0, maxResults);
    const experiments = await this.repository.findMany(
      this.ds.manager,
      page.map((r) => String(r.experiment_id)),
    );
    const nextPageToken =
      rows.length > maxResults ? nextExperimentPageToken(compiled, page[page.length - 1]) : '';
    return { experiments, nextPageToken };
  }

  async rename(id: string, newName: string): Promise<void> {
    validateExperimentId(id);
    validateExperimentName(newName);
    try {
      await this.ds.transaction(async (m) => {
        const e = await this.repository.getById(m, id, true);
        if (e.lifecycleStage !== 'active') {
          throw new AppError(
            'failed_precondition',
            'EXPERIMENT_NOT_ACTIVE',
            'Cannot rename a non-active experiment.',
            {
              experiment_id: id,
            },
          );
        }
        await m.query(
          `UPDATE "${this.schema}".experiments SET name = $2, last_update_time = $3 WHERE experiment_id = $1`,
          [id, newName, Date.now()],
        );
      });
    } catch (err) {
      if (isUniqueViolation(err, 'experiments_name_key')) {
        throw new AppError(
          'already_exists',
          'EXPERIMENT_ALREADY_EXISTS',
          `Experiment(name=${newName}) already exists.`,
          {
            name: newName,
          },
        );
      }
      throw err;
    }
  }

  /** Soft delete: the experiment and its active runs become `deleted`, at one deletion time. */
  async delete(id: string): Promise<void> {
    validateExperimentId(id);
    if (id === DEFAULT_EXPERIMENT_ID) {
      throw new AppError(
        'invalid_argument',
        'DEFAULT_EXPERIMENT_UNDELETABLE',
        `Cannot delete the default experiment '${DEFAULT_EXPERIMENT_ID}'. This is an internally reserved experiment.`,
      );
    }
    await this.ds.transaction(async (m) => {
      await this.repository.getById(m, id, true);
      const now = Date.now();
      await m.query(
        `UPDATE "${this.schema}".experiments SET lifecycle_stage = 'deleted', deleted_time = $2, last_update_time = $2
          WHERE experiment_id = $1 AND lifecycle_stage = 'active'`,
        [id, now],
      );
      await m.query(
        `UPDATE "${this.schema}".runs SET lifecycle_stage = 'deleted', deleted_time = $2
          WHERE experiment_id = $1 AND lifecycle_stage = 'active'`,
        [id, now],
      );
    });
  }

  /** Restores the experiment and the runs that were deleted with it (not those deleted before). */
  async restore(id: string): Promise<void> {
    validateExperimentId(id);
    await this.ds.transaction(async (m) => {
      const e = await this.repository.getById(m, id, true);
      if (e.lifecycleStage === 'active') return;
      await m.query(
        `UPDATE "${this.schema}".runs SET lifecycle_stage = 'active', deleted_time = NULL
          WHERE experiment_id = $1 AND lifecycle_stage = 'deleted' AND deleted_time = $2`,
        [id, e.deletedTime],
      );
      await m.query(
        `UPDATE "${this.schema}".experiments SET lifecycle_stage = 'active', deleted_time = NULL, last_update_time = $2
          WHERE experiment_id = $1`,
        [id, Date.now()],
      );
    });
  }

  async setTag(id: string, key: string, value: string): Promise<void> {
    validateExperimentId(id);
    validateExperimentTag(key, value);
    await this.ds.transaction(async (m) => {
      assertExperimentActive(await this.repository.getById(m, id, true));
      await this.writeTags(m, id, [{ key, value }]);
      await this.touch(m, id);
    });
  }

  async deleteTag(id: string, key: string): Promise<void> {
    validateExperimentId(id);
    validateKey('tag', key);
    await this.ds.transaction(async (m) => {
      assertExperimentActive(await this.repository.getById(m, id, true));
      const deleted = await m.query<Array<{ key: string }>>(
        `WITH d AS (DELETE FROM "${this.schema}".experiment_tags WHERE experiment_id = $1 AND key = $2 RETURNING key)
         SELECT key FROM d`,
        [id, key],
      );
      if (deleted.length === 0) {
        throw new AppError(
          'not_found',
          'TAG_NOT_FOUND',
          `No tag with name: ${key} in experiment with id ${id}`,
          {
            key,
          },
        );
      }
      await this.touch(m, id);
    });
  }

  private async writeTags(
    m: Pick<DataSource['manager'], 'query'>,
    id: string,
    tags: Array<{ key: string; value: string }>,
  ): Promise<void> {
    if (tags.length === 0) return;
    // Last value wins for a key repeated in one request; sorted keys keep lock order stable.
    const byKey = new Map(tags.map((t) => [t.key, t.value]));
    const keys = [...byKey.keys()].sort();
    await m.query(
      `INSERT INTO "${this.schema}".experiment_tags (experiment_id, key, value)
       SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
       ON CONFLICT (experiment_id, key) DO UPDATE SET value = EXCLUDED.value`,
      [id, keys, keys.map((k) => byKey.get(k))],
    );
  }

  private async touch(m: Pick<DataSource['manager'], 'query'>, id: string): Promise<void> {
    await m.query(`UPDATE "${this.schema}".experiments SET last_update_time = $2 WHERE experiment_id = $1`, [
      id,
      Date.now(),
    ]);
  }

  private createdEvent(
    id: string,
    name: string,
    location: string,
    tags: Array<{ key: string; value: string }>,
    at: number,
    createdBy?: string,
  ) {
    const event = createEvent('cairn.tracking.experiment.created.v1', {
      data: {
        experimentId: id,
        name,
        artifactLocation: location,
        tags: Object.fromEntries(tags.map((t) => [t.key, t.value])),
        ...(createdBy ? { createdBy } : {}),
        createdAt: new Date(at).toISOString(),
      },
      time: new Date(at),
    });
    return outboxRecordOf(event, 'experiment');
  }
}
