import type { EntityManager } from 'typeorm';
import { AppError } from '@cairn/rpc';

export type LifecycleStageName = 'active' | 'deleted';

export interface ExperimentRecord {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: LifecycleStageName;
  creationTime: number;
  lastUpdateTime: number;
  deletedTime: number | null;
  tags: Array<{ key: string; value: string }>;
}

interface ExperimentRow {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: LifecycleStageName;
  creation_time: string;
  last_update_time: string;
  deleted_time: string | null;
}

type Queryable = Pick<EntityManager, 'query'>;

/** Reads experiments with their tags; writes stay in the service's units of work. */
export class ExperimentsRepository {
  constructor(private readonly schema: string) {}

  async findById(db: Queryable, id: string, lock = false): Promise<ExperimentRecord | undefined> {
    const [found] = await this.load(db, 'experiment_id = $1', [id], lock);
    return found;
  }

  async getById(db: Queryable, id: string, lock = false): Promise<ExperimentRecord> {
    const found = await this.findById(db, id, lock);
    if (!found) {
      throw new AppError('not_found', 'EXPERIMENT_NOT_FOUND', `No Experiment with id=${id} exists`, {
        experiment_id: id,
      });
    }
    return found;
  }

  async findByName(db: Queryable, name: string): Promise<ExperimentRecord | undefined> {
    const [found] = await this.load(db, 'name = $1', [name], false);
    return found;
  }

  /** Experiments by id, in the order of `ids`. */
  async findMany(db: Queryable, ids: string[]): Promise<ExperimentRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.load(db, 'experiment_id = ANY($1::bigint[])', [ids], false);
    const byId = new Map(found.map((e) => [e.experimentId, e]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  private async load(
    db: Queryable,
    where: string,
    params: unknown[],
    lock: boolean,
  ): Promise<ExperimentRecord[]> {
    const s = this.schema;
    const rows = await db.query<ExperimentRow[]>(
      `SELECT experiment_id::text, name, artifact_location, lifecycle_stage, creation_time, last_update_time, deleted_time
         FROM "${s}".experiments WHERE ${where}${lock ? ' FOR UPDATE' : ''}`,
      params,
    );
    if (rows.length === 0) return [];
    const tags = await db.query<Array<{ experiment_id: string; key: string; value: string }>>(
      `SELECT experiment_id::text, key, value FROM "${s}".experiment_tags
        WHERE experiment_id = ANY($1::bigint[]) ORDER BY key`,
      [rows.map((r) => r.experiment_id)],
    );
    const tagsById = new Map<string, Array<{ key: string; value: string }>>();
    for (const t of tags) {
      const list = tagsById.get(t.experiment_id) ?? [];
      list.push({ key: t.key, value: t.value });
      tagsById.set(t.experiment_id, list);
    }
    return rows.map((r) => ({
      experimentId: r.experiment_id,
      name: r.name,
      artifactLocation: r.artifact_location,
      lifecycleStage: r.lifecycle_stage,
      creationTime: Number(r.creation_time),
      lastUpdateTime: Number(r.last_update_time),
      deletedTime: r.deleted_time === null ? null : Number(r.deleted_time),
      tags: tagsById.get(r.experiment_id) ?? [],
    }));
  }
}

/** MLflow's `_check_experiment_is_active` message. */
export function assertExperimentActive(e: ExperimentRecord): void {
  if (e.lifecycleStage !== 'active') {
    throw new AppError(
      'invalid_argument',
      'EXPERIMENT_NOT_ACTIVE',
      `The experiment ${e.experimentId} must be in the 'active' state. Current state is ${e.lifecycleStage}.`,
      { experiment_id: e.experimentId },
    );
  }
}
