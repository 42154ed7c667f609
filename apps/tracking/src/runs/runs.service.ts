import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import type { ServiceSettings } from '@cairn/config';
import { createEvent } from '@cairn/contracts';
import type { OutboxRecord } from '@cairn/messaging';
import { AppError } from '@cairn/rpc';
import { MessagingRuntime, outboxRecordOf, SERVICE_SETTINGS } from '@cairn/service-runtime';
import {
  assertExperimentActive,
  ExperimentsRepository,
  type LifecycleStageName,
} from '../experiments/experiments.repository';
import { compileRunSearch, nextRunPageToken, type ViewTypeName } from '../search';
import {
  type DatasetInputCandidate,
  validateBatch,
  validateDatasetInputs,
  validateExperimentId,
  validateKey,
  validateMaxResults,
  validateMetric,
  validateParam,
  validateRunId,
  validateRunName,
  validateRunTag,
} from '../validation/mlflow-validation';
import { type MetricPoint, MetricWriter } from './metric-writer';
import { generateRunName } from './run-name.generator';
import { applyStatus, type RunStatusName } from './run-status';
import {
  assertRunActive,
  type KeyValue,
  type MetricRecord,
  type Queryable,
  type RunInfoRecord,
  type RunRecord,
  RunsRepository,
  runNotFound,
} from './runs.repository';

/** MLflow's reserved tags that mirror run attributes. */
const RUN_NAME_TAG = 'mlflow.runName';
const USER_TAG = 'mlflow.user';
const PARENT_RUN_TAG = 'mlflow.parentRunId';
/** Set by orchestrator steps: links the run to its pipeline run (lineage). */
const PIPELINE_RUN_TAG = 'cairn.pipelineRunId';
const DATASET_CONTEXT_TAG = 'mlflow.data.context';

/** A page of one metric's history as parallel columns: point i is (values[i], timestamps[i], steps[i]). */
export interface MetricHistoryPage {
  key: string;
  values: number[];
  timestamps: number[];
  steps: number[];
  nextPageToken: string;
}

export interface CreateRunInput {
  experimentId: string;
  userId: string;
  startTime?: number;
  tags: KeyValue[];
  runName?: string;
}

/** Runs and what is logged to them, with MLflow's rules; RunStarted and RunFinished via the outbox. */
@Injectable()
export class RunsService {
  readonly repository: RunsRepository;
  readonly metrics: MetricWriter;
  private readonly experiments: ExperimentsRepository;
  private readonly schema: string;

  constructor(
    @Inject(DataSource) private readonly ds: DataSource,
    @Inject(MessagingRuntime) private readonly messaging: MessagingRuntime,
    @Inject(SERVICE_SETTINGS) settings: ServiceSettings,
  ) {
    this.schema = settings.databaseSchema;
    this.repository = new RunsRepository(this.schema);
    this.experiments = new ExperimentsRepository(this.schema);
    this.metrics = new MetricWriter(this.schema);
  }

  async create(input: CreateRunInput): Promise<RunRecord> {
    validateExperimentId(input.experimentId);
    for (const [i, t] of input.tags.entries()) validateRunTag(t.key, t.value, `tags[${i}].key`);
    const tagged = input.tags.find((t) => t.key === RUN_NAME_TAG)?.value;
    if (input.runName && tagged !== undefined && tagged !== input.runName) {
      throw new AppError(
        'invalid_argument',
        'RUN_NAME_CONFLICT',
        `Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='${input.runName}', mlflow.runName='${tagged}').`,
      );
    }
    const runName = input.runName || tagged || generateRunName();
    validateRunName(runName);
    const startTime = input.startTime ?? Date.now();
    if (!Number.isSafeInteger(startTime) || startTime < 0) {
      throw new AppError('invalid_argument', 'INVALID_START_TIME', `Invalid start_time ${startTime}`);
    }
    const tags = dedupeTags([
      ...input.tags.filter((t) => t.key !== RUN_NAME_TAG),
      { key: RUN_NAME_TAG, value: runName },
    ]);
    const userId = input.userId || tags.find((t) => t.key === USER_TAG)?.value || '';
    const runId = randomUUID().replaceAll('-', '');

    return this.messaging.unitOfWork().run(async (tx) => {
      const experiment = await this.experiments.getById(tx.manager, input.experimentId);
      assertExperimentActive(experiment);
      const artifactUri = `${experiment.artifactLocation.replace(/\/+$/, '')}/${runId}/artifacts`;
      await tx.manager.query(
        `INSERT INTO "${this.schema}".runs (run_id, experiment_id, run_name, user_id, status, start_time, artifact_uri)
         VALUES ($1, $2, $3, $4, 'RUNNING', $5, $6)`,
        [runId, input.experimentId, runName, userId, startTime, artifactUri],
      );
      await this.writeTags(tx.manager, runId, tags);
      const tagMap = Object.fromEntries(tags.map((t) => [t.key, t.value]));
      const event = createEvent('cairn.tracking.run.started.v1', {
        data: {
          runId,
          experimentId: input.experimentId,
          runName,
          artifactUri,
          tags: tagMap,
          ...optional('parentRunId', tagMap[PARENT_RUN_TAG]),
          ...optional('pipelineRunId', tagMap[PIPELINE_RUN_TAG]),
          ...optional('createdBy', userId),
          startedAt: new Date(startTime).toISOString(),
        },
      });
      tx.emit(outboxRecordOf(event, 'run'));
      return this.repository.get(tx.manager, runId);
    });
  }

  get(runId: string): Promise<RunRecord> {
    validateRunId(runId);
    return this.repository.get(this.ds.manager, runId);
  }

  /** Status, end time and name. A run that ends emits RunFinished with its final state. */
  async update(
    runId: string,
    status: RunStatusName | undefined,
    endTime: number | undefined,
    runName: string | undefined,
  ): Promise<RunInfoRecord> {
    validateRunId(runId);
    if (runName !== undefined && runName !== '') validateRunName(runName);
    if (endTime !== undefined && (!Number.isSafeInteger(endTime) || endTime < 0)) {
      throw new AppError('invalid_argument', 'INVALID_END_TIME', `Invalid end_time ${endTime}`);
    }
    return this.messaging.unitOfWork().run(async (tx) => {
      const info = await this.repository.getInfo(tx.manager, runId, 'update');
      assertRunActive(info);
      const change = applyStatus(info, status ?? info.status, endTime, Date.now());
      const name = runName || info.runName;
      await tx.manager.query(
        `UPDATE "${this.schema}".runs SET status = $2, end_time = $3, run_name = $4 WHERE run_id = $1`,
        [runId, change.status, change.endTime, name],
      );
      if (name !== info.runName)
        await this.writeTags(tx.manager, runId, [{ key: RUN_NAME_TAG, value: name }]);
      if (change.finished) tx.emit(await this.finishedEvent(tx.manager, runId));
      return this.repository.getInfo(tx.manager, runId);
    });
  }

  async delete(runId: string): Promise<void> {
    validateRunId(runId);
    await this.ds.transaction(async (m) => {
      await this.repository.getInfo(m, runId, 'update');
      await m.query(
        `UPDATE "${this.schema}".runs SET lifecycle_stage = 'deleted', deleted_time = $2
          WHERE run_id = $1 AND lifecycle_stage = 'active'`,
        [runId, Date.now()],
      );
    });
  }

  async restore(runId: string): Promise<void> {
    validateRunId(runId);
    await this.ds.transaction(async (m) => {
      const info = await this.repository.getInfo(m, runId, 'update');
      const experiment = await this.experiments.getById(m, info.experimentId);
      assertExperimentActive(experiment);
      await m.query(
        `UPDATE "${this.schema}".runs SET lifecycle_stage = 'active', deleted_time = NULL WHERE run_id = $1`,
        [runId],
      );
    });
  }

  async logMetric(runId: string, metric: MetricRecord): Promise<void> {
    validateRunId(runId);
    validateMetric(metric);
    await this.writeBatch(runId, [metric], [], []);
  }

  async logParam(runId: string, key: string, value: string): Promise<void> {
    validateRunId(runId);
    validateParam(key, value);
    await this.writeBatch(runId, [], [{ key, value }], []);
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    validateRunId(runId);
    validateRunTag(key, value);
    await this.writeBatch(runId, [], [], [{ key, value }]);
  }

  async deleteTag(runId: string, key: string): Promise<void> {
    validateRunId(runId);
    validateKey('tag', key);
    await this.ds.transaction(async (m) => {
      assertRunActive(await this.repository.getInfo(m, runId, 'share'));
      const deleted = await m.query<Array<{ key: string }>>(
        `WITH d AS (DELETE FROM "${this.schema}".run_tags WHERE run_id = $1 AND key = $2 RETURNING key) SELECT key FROM d`,
        [runId, key],
      );
      if (deleted.length === 0) {
        throw new AppError('not_found', 'TAG_NOT_FOUND', `No tag with name: ${key} in run with id ${runId}`, {
          key,
        });
      }
    });
  }

  /** MLflow's log-batch: all of it or nothing, within its limits; params are immutable. */
  async logBatch(
    runId: string,
    metrics: MetricRecord[],
    params: KeyValue[],
    tags: KeyValue[],
  ): Promise<void> {
    validateRunId(runId);
    validateBatch({ metrics, params, tags });
    await this.writeBatch(runId, metrics, params, tags);
  }

  /** The write of a validated batch (single-item calls validate with their own field names). */
  private async writeBatch(
    runId: string,
    metrics: MetricRecord[],
    params: KeyValue[],
    tags: KeyValue[],
  ): Promise<void> {
    await this.ds.transaction(async (m) => {
      // FOR SHARE: concurrent writers to one run proceed together; a delete or update waits.
      assertRunActive(await this.repository.getInfo(m, runId, 'share'));
      await this.writeParams(m, runId, params);
      const uniqueTags = dedupeTags(tags);
      await this.writeTags(m, runId, uniqueTags);
      const runName = uniqueTags.find((t) => t.key === RUN_NAME_TAG)?.value;
      if (runName !== undefined) {
        validateRunName(runName);
        await m.query(`UPDATE "${this.schema}".runs SET run_name = $2 WHERE run_id = $1`, [runId, runName]);
      }
      await this.metrics.insert(
        m,
        metrics.map((p) => ({ runId, key: p.key, value: p.value, timestamp: p.timestamp, step: p.step })),
      );
    });
  }

  /** Dataset inputs: datasets are shared within an experiment by (name, digest). */
  async logInputs(runId: string, inputs: DatasetInputCandidate[]): Promise<void> {
    validateRunId(runId);
    validateDatasetInputs(inputs);
    await this.ds.transaction(async (m) => {
      const info = await this.repository.getInfo(m, runId, 'share');
      assertRunActive(info);
      // Sorted by identity: two runs logging the same datasets lock them in the same order.
      const sorted = [...inputs].sort((a, b) => {
        const ka = `${a.dataset!.name}\u0000${a.dataset!.digest}`;
        const kb = `${b.dataset!.name}\u0000${b.dataset!.digest}`;
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
      for (const input of sorted) {
        const d = input.dataset!;
        const [{ dataset_id: datasetId }] = await m.query<Array<{ dataset_id: string }>>(
          `WITH ins AS (
             INSERT INTO "${this.schema}".datasets (dataset_id, experiment_id, name, digest, source_type, source, schema, profile)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (experiment_id, name, digest) DO NOTHING RETURNING dataset_id)
           SELECT dataset_id FROM ins
           UNION ALL
           SELECT dataset_id FROM "${this.schema}".datasets WHERE experiment_id = $2 AND name = $3 AND digest = $4
           LIMIT 1`,
          [
            randomUUID(),
            info.experimentId,
            d.name,
            d.digest,
            d.sourceType,
            d.source,
            d.schema ?? null,
            d.profile ?? null,
          ],
        );
        const tags = Object.fromEntries(input.tags.map((t) => [t.key, t.value]));
        await m.query(
          `INSERT INTO "${this.schema}".run_inputs (run_id, dataset_id, context, tags) VALUES ($1, $2, $3, $4)
           ON CONFLICT (run_id, dataset_id) DO UPDATE SET context = EXCLUDED.context, tags = EXCLUDED.tags`,
          [runId, datasetId, tags[DATASET_CONTEXT_TAG] ?? null, JSON.stringify(tags)],
        );
      }
    });
  }

  async search(req: {
    experimentIds: string[];
    filter: string;
    viewType: ViewTypeName;
    maxResults: number | undefined;
    orderBy: string[];
    pageToken: string;
  }): Promise<{ runs: RunRecord[]; nextPageToken: string }> {
    const maxResults = validateMaxResults(req.maxResults, 1000);
    for (const id of req.experimentIds) validateExperimentId(id);
    const compiled = compileRunSearch({
      schema: this.schema,
      experimentIds: req.experimentIds,
      viewType: req.viewType,
      filter: req.filter,
      orderBy: req.orderBy,
      maxResults,
      pageToken: req.pageToken || undefined,
    });
    const rows = await this.ds.query<Array<Record<string, unknown> & { run_id: string }>>(
      compiled.sql,
      compiled.params,
    );
    const page = rows.slice(0, maxResults);
    const runs = await this.repository.loadMany(
      this.ds.manager,
      page.map((r) => r.run_id),
    );
    const nextPageToken = rows.length > maxResults ? nextRunPageToken(compiled, page[page.length - 1]) : '';
    return { runs, nextPageToken };
  }

  /**
   * A metric's history ordered by step, then timestamp. Everything when `maxResults` is
   * absent; otherwise a page, with an offset token (history is append-only, so a page
   * boundary moves only if points with smaller steps arrive meanwhile).
   */
  async metricHistory(
    runId: string,
    key: string,
    maxResults: number | undefined,
    pageToken: string,
  ): Promise<MetricHistoryPage> {
    validateRunId(runId);
    if (key === '') {
      throw new AppError(
        'invalid_argument',
        'MISSING_PARAMETER',
        "Missing value for required parameter 'metric_key'.",
      );
    }
    const limit = maxResults === undefined ? undefined : validateMaxResults(maxResults, 25000);
    const offset = decodeOffsetToken(pageToken);
    await this.repository.getInfo(this.ds.manager, runId);
    // One text value instead of 100,000 rows (or three arrays): node-pg decodes rows and
    // arrays value by value, which costs more than the query itself. float8::text prints the
    // shortest exact representation (and NaN, Infinity, -Infinity, which Number() reads back).
    const [row] = await this.ds.query<Array<{ h: string | null }>>(
      // The aggregate reads the ordered subquery in order (Postgres documents this for a
      // sorted subquery); an ORDER BY inside string_agg would sort all the rows a second time.
      `SELECT string_agg(value::text || ',' || timestamp || ',' || step, ';') AS h
         FROM (SELECT value, timestamp, step FROM "${this.schema}".metrics WHERE run_id = $1 AND key = $2
                ORDER BY step, timestamp, value OFFSET $3 ${limit === undefined ? '' : 'LIMIT $4'}) page`,
      limit === undefined ? [runId, key, offset] : [runId, key, offset, limit + 1],
    );
    const points = row.h === null ? [] : row.h.split(';');
    const n = limit === undefined ? points.length : Math.min(points.length, limit);
    const values = new Array<number>(n);
    const timestamps = new Array<number>(n);
    const steps = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const p = points[i];
      const a = p.indexOf(',');
      const b = p.indexOf(',', a + 1);
      values[i] = Number(p.slice(0, a));
      timestamps[i] = Number(p.slice(a + 1, b));
      steps[i] = Number(p.slice(b + 1));
    }
    const more = limit !== undefined && points.length > limit;
    return { key, values, timestamps, steps, nextPageToken: more ? encodeOffsetToken(offset + n) : '' };
  }

  /**
   * Ingests a stream of metric batches: points are validated as they arrive and written in
   * large transactions (COPY), one in flight while the next batch fills, so reading the
   * stream and writing to Postgres overlap. Resolves with the number of points written, once
   * all of them are durable; a failure rejects, and batches committed before it stay.
   */
  async ingestStream(
    messages: AsyncIterable<{ runId: string; metrics: MetricRecord[] }>,
    signal: AbortSignal,
    opts: { batchPoints?: number; lingerMs?: number } = {},
  ): Promise<number> {
    const batchPoints = opts.batchPoints ?? 20_000;
    const lingerMs = opts.lingerMs ?? 100;
    const validKeys = new Set<string>();
    const validRuns = new Set<string>();
    let buffer: MetricPoint[] = [];
    let inFlight: Promise<void> = Promise.resolve();
    let failure: unknown;
    let written = 0;
    let timer: NodeJS.Timeout | undefined;

    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      if (buffer.length === 0) return;
      const batch = buffer;
      buffer = [];
      inFlight = inFlight.then(async () => {
        if (failure !== undefined) return;
        try {
          await this.writeStreamBatch(batch);
          written += batch.length;
        } catch (err) {
          failure = err;
        }
      });
    };

    try {
      for await (const msg of messages) {
        if (failure !== undefined) break;
        if (signal.aborted) throw signal.reason;
        if (!validRuns.has(msg.runId)) {
          validateRunId(msg.runId);
          validRuns.add(msg.runId);
        }
        for (const m of msg.metrics) {
          if (!validKeys.has(m.key)) {
            validateKey('metric', m.key);
            validKeys.add(m.key);
          }
          if (!Number.isSafeInteger(m.timestamp) || m.timestamp < 0 || !Number.isSafeInteger(m.step)) {
            validateMetric(m);
          }
          buffer.push({ runId: msg.runId, key: m.key, value: m.value, timestamp: m.timestamp, step: m.step });
        }
        if (buffer.length >= batchPoints) {
          // At most one batch waits behind the one being written: the stream is paused
          // (backpressure reaches the client) rather than buffering without bound.
          const previous = inFlight;
          flush();
          await previous;
        } else if (buffer.length > 0 && timer === undefined) {
          timer = setTimeout(flush, lingerMs);
        }
      }
      flush();
    } catch (err) {
      failure ??= err;
    } finally {
      clearTimeout(timer);
      // Never leave a write running behind the response.
      await inFlight;
    }
    if (failure !== undefined) {
      if (failure instanceof AppError) {
        throw new AppError(
          failure.kind,
          failure.reason,
          `${failure.message} (${written} points were written before)`,
          {
            ...failure.details,
            points_written: String(written),
          },
        );
      }
      throw failure instanceof Error ? failure : new Error('metric stream failed', { cause: failure });
    }
    return written;
  }

  private async writeStreamBatch(batch: MetricPoint[]): Promise<void> {
    const runIds = [...new Set(batch.map((p) => p.runId))].sort();
    const qr = this.ds.createQueryRunner();
    const client = (await qr.connect()) as PoolClient;
    try {
      await client.query('BEGIN');
      try {
        const rows = await client.query<{ run_id: string; lifecycle_stage: LifecycleStageName }>(
          `SELECT run_id, lifecycle_stage FROM "${this.schema}".runs WHERE run_id = ANY($1) ORDER BY run_id FOR SHARE`,
          [runIds],
        );
        const found = new Map(rows.rows.map((r) => [r.run_id, r.lifecycle_stage]));
        for (const id of runIds) {
          const stage = found.get(id);
          if (stage === undefined) throw runNotFound(id);
          assertRunActive({ runId: id, lifecycleStage: stage });
        }
        await this.metrics.copy(client, batch);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      await qr.release();
    }
  }

  /** Param values never change: a different value for a logged key fails the whole batch. */
  private async writeParams(m: Queryable, runId: string, params: KeyValue[]): Promise<void> {
    if (params.length === 0) return;
    const byKey = new Map(params.map((p) => [p.key, p.value]));
    const keys = [...byKey.keys()].sort();
    const values = keys.map((k) => byKey.get(k)!);
    // The insert waits for a concurrent insert of the same key to commit, so the comparison
    // below sees every value that won.
    await m.query(
      `INSERT INTO "${this.schema}".params (run_id, key, value)
       SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v) ON CONFLICT (run_id, key) DO NOTHING`,
      [runId, keys, values],
    );
    const conflicts = await m.query<Array<{ key: string; old: string; new: string }>>(
      `SELECT p.key, p.value AS old, t.v AS new FROM "${this.schema}".params p
         JOIN unnest($2::text[], $3::text[]) AS t(k, v) ON p.key = t.k
        WHERE p.run_id = $1 AND p.value <> t.v ORDER BY p.key LIMIT 1`,
      [runId, keys, values],
    );
    if (conflicts.length > 0) {
      const c = conflicts[0];
      throw new AppError(
        'invalid_argument',
        'PARAM_VALUE_CHANGED',
        `Changing param values is not allowed. Param with key='${c.key}' was already logged with value='${c.old}' for run ID='${runId}'. Attempted logging new value '${c.new}'.`,
        { key: c.key },
      );
    }
  }

  private async writeTags(m: Queryable, runId: string, tags: KeyValue[]): Promise<void> {
    if (tags.length === 0) return;
    const sorted = [...tags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await m.query(
      `INSERT INTO "${this.schema}".run_tags (run_id, key, value)
       SELECT $1, k, v FROM unnest($2::text[], $3::text[]) AS t(k, v)
       ON CONFLICT (run_id, key) DO UPDATE SET value = EXCLUDED.value`,
      [runId, sorted.map((t) => t.key), sorted.map((t) => t.value)],
    );
  }

  /** RunFinished with the run's final state, read inside the transaction that ends it. */
  private async finishedEvent(m: EntityManager, runId: string): Promise<OutboxRecord> {
    const run = await this.repository.get(m, runId);
    const tags = Object.fromEntries(run.tags.map((t) => [t.key, t.value]));
    const event = createEvent('cairn.tracking.run.finished.v1', {
      data: {
        runId,
        experimentId: run.info.experimentId,
        runName: run.info.runName,
        status: run.info.status as 'FINISHED' | 'FAILED' | 'KILLED',
        metrics: Object.fromEntries(
          run.metrics.filter((x) => Number.isFinite(x.value)).map((x) => [x.key, x.value]),
        ),
        params: Object.fromEntries(run.params.map((p) => [p.key, p.value])),
        tags,
        artifactUri: run.info.artifactUri,
        datasetInputs: run.inputs.map((i) => ({
          name: i.dataset.name,
          digest: i.dataset.digest,
          source: i.dataset.source,
          ...optional('sourceType', i.dataset.sourceType),
          ...optional('context', i.tags.find((t) => t.key === DATASET_CONTEXT_TAG)?.value),
        })),
        ...optional('parentRunId', tags[PARENT_RUN_TAG]),
        ...optional('pipelineRunId', tags[PIPELINE_RUN_TAG]),
        ...optional('createdBy', run.info.userId),
        startedAt: new Date(run.info.startTime).toISOString(),
        endedAt: new Date(run.info.endTime ?? Date.now()).toISOString(),
      },
    });
    return outboxRecordOf(event, 'run');
  }
}

/** `{ [name]: value }` when value is a non-empty string, else `{}`: optional event fields. */
function optional<K extends string>(name: K, value: string | undefined): Partial<Record<K, string>> {
  return value ? ({ [name]: value } as Record<K, string>) : {};
}

/** The last value of each key wins, as with MLflow's tag upserts. */
function dedupeTags(tags: KeyValue[]): KeyValue[] {
  return [...new Map(tags.map((t) => [t.key, t.value])).entries()].map(([key, value]) => ({ key, value }));
}

function encodeOffsetToken(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeOffsetToken(token: string): number {
  if (token === '') return 0;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof parsed.o === 'number' && Number.isSafeInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch {
    // fall through to the error below
  }
  throw new AppError('invalid_argument', 'INVALID_PAGE_TOKEN', `Invalid page token '${token}'`);
}
