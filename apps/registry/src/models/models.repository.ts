import type { EntityManager } from 'typeorm';
import type { Stage } from '@cairn/contracts';
import { AppError } from '@cairn/rpc';

export type ModelVersionStatusName = 'PENDING_REGISTRATION' | 'READY' | 'FAILED_REGISTRATION';

export interface TagRecord {
  key: string;
  value: string;
}

export interface SignatureRecord {
  algorithm: 'Ed25519';
  keyId: string;
  value: string;
}

export interface ModelVersionRecord {
  modelId: string;
  name: string;
  version: number;
  userId: string;
  creationTime: number;
  lastUpdatedTime: number;
  stage: Stage;
  description: string;
  source: string;
  runId: string | null;
  runLink: string;
  status: ModelVersionStatusName;
  statusMessage: string;
  storageUri: string;
  storageScope: string;
  storagePath: string;
  artifactDigest: string | null;
  signature: SignatureRecord | null;
  tags: TagRecord[];
  aliases: string[];
}

export interface RegisteredModelRow {
  modelId: string;
  name: string;
  description: string;
  createdBy: string;
  creationTime: number;
  lastUpdatedTime: number;
}

export interface RegisteredModelRecord extends RegisteredModelRow {
  tags: TagRecord[];
  aliases: Array<{ alias: string; version: number }>;
  latestVersions: ModelVersionRecord[];
}

interface ModelRow {
  model_id: string;
  name: string;
  description: string;
  created_by: string;
  creation_time: string;
  last_updated_time: string;
}

interface VersionRow {
  model_id: string;
  name: string;
  version: number;
  user_id: string;
  creation_time: string;
  last_updated_time: string;
  stage: Stage;
  description: string;
  source: string;
  run_id: string | null;
  run_link: string;
  status: ModelVersionStatusName;
  status_message: string;
  storage_uri: string;
  storage_scope: string;
  storage_path: string;
  artifact_digest: string | null;
  signature_key_id: string | null;
  signature_value: string | null;
  tags: Array<[string, string]> | null;
  aliases: string[] | null;
}

export function modelNotFound(name: string): AppError {
  return new AppError(
    'not_found',
    'REGISTERED_MODEL_NOT_FOUND',
    `Registered Model with name=${name} not found`,
    {
      name,
    },
  );
}

export function versionNotFound(name: string, version: number | string): AppError {
  return new AppError(
    'not_found',
    'MODEL_VERSION_NOT_FOUND',
    `Model Version (name=${name}, version=${version}) not found`,
    { name, version: String(version) },
  );
}

function toModel(r: ModelRow): RegisteredModelRow {
  return {
    modelId: r.model_id,
    name: r.name,
    description: r.description,
    createdBy: r.created_by,
    creationTime: Number(r.creation_time),
    lastUpdatedTime: Number(r.last_updated_time),
  };
}

function toVersion(r: VersionRow): ModelVersionRecord {
  return {
    modelId: r.model_id,
    name: r.name,
    version: r.version,
    userId: r.user_id,
    creationTime: Number(r.creation_time),
    lastUpdatedTime: Number(r.last_updated_time),
    stage: r.stage,
    description: r.description,
    source: r.source,
    runId: r.run_id,
    runLink: r.run_link,
    status: r.status,
    statusMessage: r.status_message,
    storageUri: r.storage_uri,
    storageScope: r.storage_scope,
    storagePath: r.storage_path,
    artifactDigest: r.artifact_digest,
    signature:
      r.signature_key_id !== null && r.signature_value !== null
        ? { algorithm: 'Ed25519', keyId: r.signature_key_id, value: r.signature_value }
        : null,
    tags: (r.tags ?? []).map(([key, value]) => ({ key, value })),
    aliases: r.aliases ?? [],
  };
}

/** Persistence of registered models and versions; every method runs on the caller's manager. */
export class ModelsRepository {
  constructor(private readonly schema: string) {}

  private get s(): string {
    return `"${this.schema}"`;
  }

  private versionSelect(where: string): string {
    const s = this.s;
    return `SELECT v.model_id::text, m.name, v.version, v.user_id, v.creation_time, v.last_updated_time, v.stage,
                   v.description, v.source, v.run_id, v.run_link, v.status, v.status_message, v.storage_uri,
                   v.storage_scope, v.storage_path, v.artifact_digest, v.signature_key_id, v.signature_value,
                   (SELECT json_agg(json_build_array(t.key, t.value) ORDER BY t.key) FROM ${s}.model_version_tags t
                     WHERE t.model_id = v.model_id AND t.version = v.version) AS tags,
                   (SELECT json_agg(a.alias ORDER BY a.alias) FROM ${s}.model_aliases a
                     WHERE a.model_id = v.model_id AND a.version = v.version) AS aliases
              FROM ${s}.model_versions v JOIN ${s}.registered_models m USING (model_id)
             WHERE ${where}`;
  }

  async findModel(m: EntityManager, name: string, lock = false): Promise<RegisteredModelRow | undefined> {
    const [row] = await m.query<ModelRow[]>(
      `SELECT model_id::text, name, description, created_by, creation_time, last_updated_time
         FROM ${this.s}.registered_models WHERE name = $1 ${lock ? 'FOR UPDATE' : ''}`,
      [name],
    );
    return row ? toModel(row) : undefined;
  }

  /** The model row by id, locked for the rest of the transaction (its name may have changed meanwhile). */
  async lockModelById(m: EntityManager, modelId: string): Promise<RegisteredModelRow | undefined> {
    const [row] = await m.query<ModelRow[]>(
      `SELECT model_id::text, name, description, created_by, creation_time, last_updated_time
         FROM ${this.s}.registered_models WHERE model_id = $1 FOR UPDATE`,
      [modelId],
    );
    return row ? toModel(row) : undefined;
  }

  /** The model row, locked for the rest of the transaction when `lock`: stage and alias changes serialize here. */
  async getModel(m: EntityManager, name: string, lock = false): Promise<RegisteredModelRow> {
    const found = await this.findModel(m, name, lock);
    if (!found) throw modelNotFound(name);
    return found;
  }

  async loadModel(m: EntityManager, name: string): Promise<RegisteredModelRecord> {
    const model = await this.getModel(m, name);
    // One after the other: the queries share the caller's connection (often a transaction's).
    const tags = await m.query<TagRecord[]>(
      `SELECT key, value FROM ${this.s}.registered_model_tags WHERE model_id = $1 ORDER BY key`,
      [model.modelId],
    );
    const aliases = await m.query<Array<{ alias: string; version: number }>>(
      `SELECT alias, version FROM ${this.s}.model_aliases WHERE model_id = $1 ORDER BY alias`,
      [model.modelId],
    );
    const latest = await this.latestVersions(m, model.modelId, []);
    return { ...model, tags, aliases, latestVersions: latest };
  }

  /**
   * The full records of the models `modelIds`, in that order, as loadModel builds them, in four
   * queries whatever their number (ids no longer there are left out).
   */
  async loadModels(m: EntityManager, modelIds: readonly string[]): Promise<RegisteredModelRecord[]> {
    if (modelIds.length === 0) return [];
    const ids = [...modelIds];
    // One after the other: the queries share the caller's connection (often a transaction's).
    const rows = await m.query<ModelRow[]>(
      `SELECT model_id::text, name, description, created_by, creation_time, last_updated_time
         FROM ${this.s}.registered_models WHERE model_id = ANY($1::bigint[])`,
      [ids],
    );
    const tags = await m.query<Array<TagRecord & { model_id: string }>>(
      `SELECT model_id::text, key, value FROM ${this.s}.registered_model_tags
        WHERE model_id = ANY($1::bigint[]) ORDER BY model_id, key`,
      [ids],
    );
    const aliases = await m.query<Array<{ model_id: string; alias: string; version: number }>>(
      `SELECT model_id::text, alias, version FROM ${this.s}.model_aliases
        WHERE model_id = ANY($1::bigint[]) ORDER BY model_id, alias`,
      [ids],
    );
    const latest = await m.query<VersionRow[]>(
      `${this.versionSelect(`v.model_id = ANY($1::bigint[])
          AND v.version = (SELECT max(w.version) FROM ${this.s}.model_versions w
                            WHERE w.model_id = v.model_id AND w.stage = v.stage)`)}
       ORDER BY v.model_id, v.version`,
      [ids],
    );
    const records = new Map<string, RegisteredModelRecord>(
      rows.map((r) => [r.model_id, { ...toModel(r), tags: [], aliases: [], latestVersions: [] }]),
    );
    for (const t of tags) records.get(t.model_id)?.tags.push({ key: t.key, value: t.value });
    for (const a of aliases) records.get(a.model_id)?.aliases.push({ alias: a.alias, version: a.version });
    for (const v of latest) records.get(v.model_id)?.latestVersions.push(toVersion(v));
    return modelIds.flatMap((id) => records.get(id) ?? []);
  }

  /**
   * The full records of the versions `keys`, in that order, in one query (versions no longer
   * there are left out).
   */
  async loadVersions(
    m: EntityManager,
    keys: ReadonlyArray<{ modelId: string; version: number }>,
  ): Promise<ModelVersionRecord[]> {
    if (keys.length === 0) return [];
    const rows = await m.query<VersionRow[]>(
      this.versionSelect('(v.model_id, v.version) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))'),
      [keys.map((k) => k.modelId), keys.map((k) => k.version)],
    );
    const byKey = new Map(rows.map((r) => [`${r.model_id}/${r.version}`, toVersion(r)]));
    return keys.flatMap((k) => byKey.get(`${k.modelId}/${k.version}`) ?? []);
  }

  async findVersion(
    m: EntityManager,
    modelId: string,
    version: number,
  ): Promise<ModelVersionRecord | undefined> {
    const [row] = await m.query<VersionRow[]>(this.versionSelect('v.model_id = $1 AND v.version = $2'), [
      modelId,
      version,
    ]);
    return row ? toVersion(row) : undefined;
  }

  async getVersion(
    m: EntityManager,
    model: RegisteredModelRow,
    version: number,
  ): Promise<ModelVersionRecord> {
    const found = await this.findVersion(m, model.modelId, version);
    if (!found) throw versionNotFound(model.name, version);
    return found;
  }

  /** The newest version in each of `stages` (all stages when empty), as MLflow's get_latest_versions. */
  async latestVersions(
    m: EntityManager,
    modelId: string,
    stages: readonly Stage[],
    readyOnly = false,
  ): Promise<ModelVersionRecord[]> {
    const rows = await m.query<VersionRow[]>(
      `${this.versionSelect(`v.model_id = $1 ${readyOnly ? `AND v.status = 'READY'` : ''}
          AND ($2::text[] IS NULL OR v.stage = ANY($2))
          AND v.version = (SELECT max(w.version) FROM ${this.s}.model_versions w
                            WHERE w.model_id = v.model_id AND w.stage = v.stage
                            ${readyOnly ? `AND w.status = 'READY'` : ''})`)}
       ORDER BY v.version`,
      [modelId, stages.length === 0 ? null : stages],
    );
    return rows.map(toVersion);
  }

  async versionsInStage(m: EntityManager, modelId: string, stage: Stage): Promise<number[]> {
    const rows = await m.query<Array<{ version: number }>>(
      `SELECT version FROM ${this.s}.model_versions WHERE model_id = $1 AND stage = $2 ORDER BY version`,
      [modelId, stage],
    );
    return rows.map((r) => r.version);
  }

  async aliasTarget(m: EntityManager, modelId: string, alias: string): Promise<number | undefined> {
    const [row] = await m.query<Array<{ version: number }>>(
      `SELECT version FROM ${this.s}.model_aliases WHERE model_id = $1 AND alias = $2`,
      [modelId, alias],
    );
    return row?.version;
  }

  async touchModel(m: EntityManager, modelId: string, now: number): Promise<void> {
    await m.query(`UPDATE ${this.s}.registered_models SET last_updated_time = $2 WHERE model_id = $1`, [
      modelId,
      now,
    ]);
  }

  async touchVersion(m: EntityManager, modelId: string, version: number, now: number): Promise<void> {
    await m.query(
      `UPDATE ${this.s}.model_versions SET last_updated_time = $3 WHERE model_id = $1 AND version = $2`,
      [modelId, version, now],
    );
  }
}
