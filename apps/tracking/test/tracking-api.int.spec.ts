import { status } from '@grpc/grpc-js';
import { trackingV1 } from '@cairn/proto';
import { waitFor } from '@cairn/testing';
import { eventsOf, failure, startTracking, type TrackingHarness } from './tracking-harness';

const { RunStatus, ViewType, LifecycleStage } = trackingV1;

jest.setTimeout(120_000);

describe('tracking API (gRPC, real Postgres)', () => {
  let h: TrackingHarness;

  beforeAll(async () => {
    h = await startTracking();
  });
  afterAll(async () => {
    await h?.stop();
  });

  describe('experiments', () => {
    it('has the Default experiment 0, as an MLflow server does', async () => {
      const { experiment } = await h.experiments.getExperiment({ experimentId: '0' });
      expect(experiment).toMatchObject({ experimentId: '0', name: 'Default' });
      expect(experiment!.artifactLocation).toMatch(/^file:\/\/.+\/0$/);
    });

    it('creates with a unique name, reads by id and name, and emits ExperimentCreated', async () => {
      const { experimentId } = await h.experiments.createExperiment({
        name: 'churn',
        tags: [{ key: 'team', value: 'growth' }],
      });
      expect(experimentId).toMatch(/^[1-9][0-9]*$/);
      const byName = await h.experiments.getExperimentByName({ experimentName: 'churn' });
      expect(byName.experiment).toMatchObject({
        experimentId,
        lifecycleStage: LifecycleStage.LIFECYCLE_STAGE_ACTIVE,
        tags: [{ key: 'team', value: 'growth' }],
      });
      expect(byName.experiment!.artifactLocation.endsWith(`/${experimentId}`)).toBe(true);

      const dup = await failure(h.experiments.createExperiment({ name: 'churn' }));
      expect(dup).toMatchObject({ code: status.ALREADY_EXISTS, reason: 'EXPERIMENT_ALREADY_EXISTS' });
      expect(dup.message).toBe('Experiment(name=churn) already exists.');

      await waitFor('ExperimentCreated', () =>
        eventsOf(h.events, 'cairn.tracking.experiment.created.v1').find(
          (e) => e.data.experimentId === experimentId,
        ),
      );
    });

    it('refuses bad names, ids and artifact locations with MLflow messages', async () => {
      expect(await failure(h.experiments.createExperiment({ name: '' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        message: "Invalid experiment name: ''",
      });
      expect(await failure(h.experiments.getExperiment({ experimentId: 'abc' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'INVALID_EXPERIMENT_ID',
      });
      expect(await failure(h.experiments.getExperiment({ experimentId: '987654' }))).toMatchObject({
        code: status.NOT_FOUND,
        message: 'No Experiment with id=987654 exists',
      });
      expect(await failure(h.experiments.getExperimentByName({ experimentName: 'nope' }))).toMatchObject({
        code: status.NOT_FOUND,
        message: "Could not find experiment with name 'nope'",
      });
      for (const loc of [
        's3://b/x?a=../..',
        'file:///tmp/x#/../../etc',
        's3://b/%2e%2e/x',
        'file:///a\\..\\b',
      ]) {
        expect(
          await failure(h.experiments.createExperiment({ name: `bad-${loc}`, artifactLocation: loc })),
        ).toMatchObject({
          code: status.INVALID_ARGUMENT,
          reason: 'INVALID_ARTIFACT_LOCATION',
        });
      }
    });

    it('renames, tags, soft-deletes with its runs and restores', async () => {
      const { experimentId } = await h.experiments.createExperiment({ name: 'to-rename' });
      await h.experiments.updateExperiment({ experimentId, newName: 'renamed' });
      expect((await h.experiments.getExperiment({ experimentId })).experiment!.name).toBe('renamed');

      await h.experiments.setExperimentTag({ experimentId, key: 'k', value: 'v1' });
      await h.experiments.setExperimentTag({ experimentId, key: 'k', value: 'v2' });
      expect((await h.experiments.getExperiment({ experimentId })).experiment!.tags).toEqual([
        { key: 'k', value: 'v2' },
      ]);
      await h.experiments.deleteExperimentTag({ experimentId, key: 'k' });
      expect((await h.experiments.getExperiment({ experimentId })).experiment!.tags).toEqual([]);
      expect(await failure(h.experiments.deleteExperimentTag({ experimentId, key: 'k' }))).toMatchObject({
        code: status.NOT_FOUND,
      });

      const deletedEarlier = (await h.runs.createRun({ experimentId })).run!.info!.runId;
      await h.runs.deleteRun({ runId: deletedEarlier });
      const live = (await h.runs.createRun({ experimentId })).run!.info!.runId;

      await h.experiments.deleteExperiment({ experimentId });
      const deleted = (await h.experiments.getExperiment({ experimentId })).experiment!;
      expect(deleted.lifecycleStage).toBe(LifecycleStage.LIFECYCLE_STAGE_DELETED);
      expect((await h.runs.getRun({ runId: live })).run!.info!.lifecycleStage).toBe(
        LifecycleStage.LIFECYCLE_STAGE_DELETED,
      );
      expect(await failure(h.runs.createRun({ experimentId }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        message: `The experiment ${experimentId} must be in the 'active' state. Current state is deleted.`,
      });
      expect(await failure(h.experiments.createExperiment({ name: 'renamed' }))).toMatchObject({
        code: status.ALREADY_EXISTS,
      });

      await h.experiments.restoreExperiment({ experimentId });
      expect((await h.runs.getRun({ runId: live })).run!.info!.lifecycleStage).toBe(
        LifecycleStage.LIFECYCLE_STAGE_ACTIVE,
      );
      // A run deleted before the experiment stays deleted.
      expect((await h.runs.getRun({ runId: deletedEarlier })).run!.info!.lifecycleStage).toBe(
        LifecycleStage.LIFECYCLE_STAGE_DELETED,
      );
      expect(await failure(h.experiments.deleteExperiment({ experimentId: '0' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'DEFAULT_EXPERIMENT_UNDELETABLE',
      });
    });

    it('searches by name, tags and times with order and pages', async () => {
      const prefix = `search-${Date.now()}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { experimentId } = await h.experiments.createExperiment({
          name: `${prefix}-${i}`,
          tags: [{ key: 'parity', value: i % 2 === 0 ? 'even' : 'odd' }],
        });
        ids.push(experimentId);
      }
      const even = await h.experiments.searchExperiments({
        filter: `name LIKE '${prefix}-%' AND tags.parity = 'even'`,
        orderBy: ['name DESC'],
      });
      expect(even.experiments.map((e) => e.name)).toEqual([`${prefix}-4`, `${prefix}-2`, `${prefix}-0`]);

      const seen: string[] = [];
      let pageToken = '';
      do {
        const page = await h.experiments.searchExperiments({
          filter: `name LIKE '${prefix}%'`,
          maxResults: 2,
          pageToken,
          orderBy: ['name ASC'],
        });
        expect(page.experiments.length).toBeLessThanOrEqual(2);
        seen.push(...page.experiments.map((e) => e.experimentId));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(seen).toEqual(ids);

      await h.experiments.deleteExperiment({ experimentId: ids[0] });
      const deletedOnly = await h.experiments.searchExperiments({
        filter: `name LIKE '${prefix}%'`,
        viewType: ViewType.VIEW_TYPE_DELETED_ONLY,
      });
      expect(deletedOnly.experiments.map((e) => e.experimentId)).toEqual([ids[0]]);

      expect(await failure(h.experiments.searchExperiments({ filter: 'name = ' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'INVALID_FILTER',
      });
    });
  });

  describe('runs', () => {
    let experimentId: string;
    beforeAll(async () => {
      experimentId = (await h.experiments.createExperiment({ name: 'runs' })).experimentId;
    });

    it('creates a run with a generated name, MLflow attributes and RunStarted', async () => {
      const { run } = await h.runs.createRun({ experimentId, userId: 'alice', startTime: 1_700_000_000_000 });
      const info = run!.info!;
      expect(info.runId).toMatch(/^[0-9a-f]{32}$/);
      expect(info.runName).toMatch(/^[a-z]+-[a-z]+-\d{1,3}$/);
      expect(info).toMatchObject({
        experimentId,
        userId: 'alice',
        status: RunStatus.RUN_STATUS_RUNNING,
        startTime: 1_700_000_000_000,
        lifecycleStage: LifecycleStage.LIFECYCLE_STAGE_ACTIVE,
      });
      expect(info.endTime).toBeUndefined();
      expect(info.artifactUri.endsWith(`/${experimentId}/${info.runId}/artifacts`)).toBe(true);
      expect(run!.data!.tags).toContainEqual({ key: 'mlflow.runName', value: info.runName });
      const started = await waitFor('RunStarted', () =>
        eventsOf(h.events, 'cairn.tracking.run.started.v1').find((e) => e.data.runId === info.runId),
      );
      expect(started.data).toMatchObject({ experimentId, runName: info.runName, createdBy: 'alice' });

      const conflict = await failure(
        h.runs.createRun({ experimentId, runName: 'a', tags: [{ key: 'mlflow.runName', value: 'b' }] }),
      );
      expect(conflict).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'RUN_NAME_CONFLICT' });
      expect(await failure(h.runs.getRun({ runId: 'f'.repeat(32) }))).toMatchObject({
        code: status.NOT_FOUND,
        message: `Run with id=${'f'.repeat(32)} not found`,
      });
      expect(await failure(h.runs.getRun({ runId: '../etc' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        message: "Invalid run ID: '../etc'",
      });
    });

    it('keeps params immutable, overwrites tags, appends metrics and tracks the latest value', async () => {
      const runId = (await h.runs.createRun({ experimentId, runName: 'logging' })).run!.info!.runId;
      await h.runs.logParam({ runId, key: 'lr', value: '0.1' });
      await h.runs.logParam({ runId, key: 'lr', value: '0.1' });
      const changed = await failure(h.runs.logParam({ runId, key: 'lr', value: '0.2' }));
      expect(changed).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'PARAM_VALUE_CHANGED' });
      expect(changed.message).toBe(
        `Changing param values is not allowed. Param with key='lr' was already logged with value='0.1' for run ID='${runId}'. Attempted logging new value '0.2'.`,
      );

      await h.runs.setTag({ runId, key: 'stage', value: 'a' });
      await h.runs.setTag({ runId, key: 'stage', value: 'b' });
      await h.runs.setTag({ runId, key: 'mlflow.runName', value: 'renamed-by-tag' });
      await h.runs.deleteTag({ runId, key: 'stage' });
      expect(await failure(h.runs.deleteTag({ runId, key: 'stage' }))).toMatchObject({
        code: status.NOT_FOUND,
      });

      await h.runs.logMetric({ runId, metric: { key: 'loss', value: 0.9, timestamp: 10, step: 0 } });
      await h.runs.logMetric({ runId, metric: { key: 'loss', value: 0.5, timestamp: 20, step: 2 } });
      await h.runs.logMetric({ runId, metric: { key: 'loss', value: 0.7, timestamp: 30, step: 1 } });
      await h.runs.logMetric({ runId, metric: { key: 'nan', value: Number.NaN, timestamp: 1, step: 0 } });
      await h.runs.logMetric({
        runId,
        metric: { key: 'inf', value: Number.POSITIVE_INFINITY, timestamp: 1, step: 0 },
      });

      const { run } = await h.runs.getRun({ runId });
      expect(run!.info!.runName).toBe('renamed-by-tag');
      expect(run!.data!.params).toEqual([{ key: 'lr', value: '0.1' }]);
      expect(run!.data!.tags).toEqual([{ key: 'mlflow.runName', value: 'renamed-by-tag' }]);
      const latest = Object.fromEntries(run!.data!.metrics.map((m) => [m.key, m]));
      expect(latest.loss).toMatchObject({ value: 0.5, step: 2 }); // greatest step wins, not last logged
      expect(latest.nan.value).toBeNaN();
      expect(latest.inf.value).toBe(Number.POSITIVE_INFINITY);

      const history = await h.runs.getMetricHistory({ runId, metricKey: 'loss' });
      expect(history.metrics.map((m) => [m.step, m.value])).toEqual([
        [0, 0.9],
        [1, 0.7],
        [2, 0.5],
      ]);
      const columns = await h.runs.getMetricHistory({ runId, metricKey: 'loss', columnar: true });
      expect(columns.metrics).toEqual([]);
      expect(columns.series).toEqual({
        key: 'loss',
        values: [0.9, 0.7, 0.5],
        timestamps: [10, 30, 20],
        steps: [0, 1, 2],
      });
      const nan = await h.runs.getMetricHistory({ runId, metricKey: 'nan', columnar: true });
      expect(nan.series!.values[0]).toBeNaN();
      const page1 = await h.runs.getMetricHistory({ runId, metricKey: 'loss', maxResults: 2 });
      expect(page1.metrics).toHaveLength(2);
      const page2 = await h.runs.getMetricHistory({
        runId,
        metricKey: 'loss',
        pageToken: page1.nextPageToken,
        maxResults: 2,
      });
      expect(page2.metrics.map((m) => m.step)).toEqual([2]);
      expect(page2.nextPageToken).toBe('');
    });

    it('validates keys, values and batch limits with MLflow messages, writing nothing on failure', async () => {
      const runId = (await h.runs.createRun({ experimentId })).run!.info!.runId;
      const badKey = await failure(h.runs.logParam({ runId, key: 'a$b', value: 'x' }));
      expect(badKey.message).toBe(
        `Invalid value "a$b" for parameter 'key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).`,
      );
      const pathKey = await failure(h.runs.setTag({ runId, key: 'a/../b', value: 'x' }));
      expect(pathKey.message).toContain("This name would resolve to 'b'");
      const longValue = await failure(h.runs.logParam({ runId, key: 'p', value: 'x'.repeat(6001) }));
      expect(longValue.message).toMatch(
        /^Param value 'x{250}' had length 6001, which exceeded length limit of 6000$/,
      );
      expect(await failure(h.runs.setTag({ runId, key: 't', value: 'x'.repeat(5001) }))).toMatchObject({
        reason: 'VALUE_TOO_LONG',
      });
      const negative = await failure(
        h.runs.logMetric({ runId, metric: { key: 'm', value: 1, timestamp: -1, step: 0 } }),
      );
      expect(negative.reason).toBe('INVALID_METRIC_TIMESTAMP');

      const tooMany = await failure(
        h.runs.logBatch({
          runId,
          metrics: Array.from({ length: 1001 }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i })),
        }),
      );
      expect(tooMany.message).toBe(
        'A batch logging request can contain at most 1000 metrics. Got 1001 metrics. Please split up metrics across multiple requests and try again.',
      );
      expect(
        (
          await failure(
            h.runs.logBatch({
              runId,
              params: Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: 'v' })),
            }),
          )
        ).message,
      ).toContain('at most 100 params');
      expect(
        (
          await failure(
            h.runs.logBatch({
              runId,
              metrics: Array.from({ length: 950 }, (_, i) => ({ key: 'm', value: i, timestamp: i, step: i })),
              tags: Array.from({ length: 60 }, (_, i) => ({ key: `t${i}`, value: 'v' })),
            }),
          )
        ).message,
      ).toContain('at most 1000 metrics, params, and tags');
      const dupes = await failure(
        h.runs.logBatch({
          runId,
          params: [
            { key: 'a', value: '1' },
            { key: 'a', value: '2' },
          ],
        }),
      );
      expect(dupes.reason).toBe('DUPLICATE_PARAM_KEYS');

      // A batch whose param conflicts writes none of its metrics or tags.
      await h.runs.logParam({ runId, key: 'fixed', value: '1' });
      await failure(
        h.runs.logBatch({
          runId,
          metrics: [{ key: 'acc', value: 1, timestamp: 1, step: 0 }],
          params: [{ key: 'fixed', value: '2' }],
          tags: [{ key: 'x', value: 'y' }],
        }),
      );
      const { run } = await h.runs.getRun({ runId });
      expect(run!.data!.metrics).toEqual([]);
      expect(run!.data!.tags.map((t) => t.key)).toEqual(['mlflow.runName']);
    });

    it('follows the status machine and emits RunFinished with the final state', async () => {
      const runId = (await h.runs.createRun({ experimentId, tags: [{ key: 'team', value: 'ml' }] })).run!
        .info!.runId;
      await h.runs.logBatch({
        runId,
        metrics: [
          { key: 'auc', value: 0.91, timestamp: 1, step: 0 },
          { key: 'nan', value: Number.NaN, timestamp: 1, step: 0 },
        ],
        params: [{ key: 'depth', value: '6' }],
      });
      await h.runs.logInputs({
        runId,
        datasets: [
          {
            tags: [{ key: 'mlflow.data.context', value: 'training' }],
            dataset: {
              name: 'iris',
              digest: 'abc123',
              sourceType: 'local',
              source: '{"uri":"/data/iris.csv"}',
            },
          },
        ],
      });
      const { runInfo } = await h.runs.updateRun({ runId, status: RunStatus.RUN_STATUS_FINISHED });
      expect(runInfo!.status).toBe(RunStatus.RUN_STATUS_FINISHED);
      expect(runInfo!.endTime).toBeGreaterThan(0);

      const finished = await waitFor('RunFinished', () =>
        eventsOf(h.events, 'cairn.tracking.run.finished.v1').find((e) => e.data.runId === runId),
      );
      expect(finished.data).toMatchObject({
        status: 'FINISHED',
        metrics: { auc: 0.91 },
        params: { depth: '6' },
        tags: { team: 'ml' },
        datasetInputs: [{ name: 'iris', digest: 'abc123', sourceType: 'local', context: 'training' }],
      });
      expect(finished.data.metrics).not.toHaveProperty('nan');

      // Retried update: no change, no second event. Another terminal status: refused.
      await h.runs.updateRun({ runId, status: RunStatus.RUN_STATUS_FINISHED, endTime: runInfo!.endTime });
      expect(await failure(h.runs.updateRun({ runId, status: RunStatus.RUN_STATUS_KILLED }))).toMatchObject({
        code: status.FAILED_PRECONDITION,
        reason: 'INVALID_RUN_STATUS_TRANSITION',
      });
      expect(
        await failure(h.runs.updateRun({ runId, status: RunStatus.RUN_STATUS_SCHEDULED })),
      ).toMatchObject({
        code: status.FAILED_PRECONDITION,
      });
      // Resumed (MLflow's start_run(run_id=...)), then failed: a second RunFinished.
      const resumed = await h.runs.updateRun({ runId, status: RunStatus.RUN_STATUS_RUNNING });
      expect(resumed.runInfo!.endTime).toBeUndefined();
      await h.runs.updateRun({ runId, status: RunStatus.RUN_STATUS_FAILED, endTime: 123 });
      await waitFor('second RunFinished', () => {
        const all = eventsOf(h.events, 'cairn.tracking.run.finished.v1').filter(
          (e) => e.data.runId === runId,
        );
        return all.length === 2 ? all : undefined;
      });
      const { run } = await h.runs.getRun({ runId });
      expect(run!.info).toMatchObject({ status: RunStatus.RUN_STATUS_FAILED, endTime: 123 });
      expect(run!.inputs!.datasetInputs).toEqual([
        {
          tags: [{ key: 'mlflow.data.context', value: 'training' }],
          dataset: {
            name: 'iris',
            digest: 'abc123',
            sourceType: 'local',
            source: '{"uri":"/data/iris.csv"}',
          },
        },
      ]);
    });

    it('deletes and restores runs; a deleted run takes no writes', async () => {
      const runId = (await h.runs.createRun({ experimentId })).run!.info!.runId;
      await h.runs.deleteRun({ runId });
      expect(await failure(h.runs.logParam({ runId, key: 'a', value: 'b' }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        message: `The run ${runId} must be in the 'active' state. Current state is deleted.`,
      });
      const visible = await h.runs.searchRuns({
        experimentIds: [experimentId],
        filter: `attributes.run_id = '${runId}'`,
      });
      expect(visible.runs).toHaveLength(0);
      const deleted = await h.runs.searchRuns({
        experimentIds: [experimentId],
        filter: `attributes.run_id = '${runId}'`,
        runViewType: ViewType.VIEW_TYPE_DELETED_ONLY,
      });
      expect(deleted.runs.map((r) => r.info!.runId)).toEqual([runId]);
      await h.runs.restoreRun({ runId });
      await h.runs.logParam({ runId, key: 'a', value: 'b' });
    });

    it('searches with filters, order_by and tie-breaks, and reports a malformed filter with its position', async () => {
      const exp = (await h.experiments.createExperiment({ name: 'search-runs' })).experimentId;
      const made: Array<{ runId: string; acc: number }> = [];
      for (let i = 0; i < 6; i++) {
        const runId = (
          await h.runs.createRun({ experimentId: exp, runName: `r${i}`, startTime: 1000 + (i % 3) })
        ).run!.info!.runId;
        await h.runs.logBatch({
          runId,
          metrics: [{ key: 'acc', value: i / 10, timestamp: 1, step: 0 }],
          params: [{ key: 'model', value: i % 2 === 0 ? 'xgb' : 'rf' }],
          tags: [{ key: 'user-name', value: `u${i}` }],
        });
        made.push({ runId, acc: i / 10 });
      }
      const r = await h.runs.searchRuns({
        experimentIds: [exp],
        filter: `metrics.acc >= 0.2 AND params.model = 'xgb' AND tags."user-name" LIKE 'u%'`,
        orderBy: ['metrics.acc DESC'],
      });
      expect(r.runs.map((x) => x.data!.metrics[0].value)).toEqual([0.4, 0.2]);

      const byStart = await h.runs.searchRuns({ experimentIds: [exp] });
      const expected = [...made]
        .map((m, i) => ({ ...m, start: 1000 + (i % 3) }))
        .sort((a, b) => b.start - a.start || (a.runId < b.runId ? -1 : 1))
        .map((m) => m.runId);
      expect(byStart.runs.map((x) => x.info!.runId)).toEqual(expected);

      const bad = await failure(
        h.runs.searchRuns({ experimentIds: [exp], filter: 'metrics.acc > 0.5 OR params.x = 1' }),
      );
      expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'INVALID_FILTER' });
      expect(bad.message).toMatch(/position \d+/);
      expect(await failure(h.runs.searchRuns({ experimentIds: [exp], maxResults: 50001 }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        message:
          'Invalid value for request parameter max_results. It must be at most 50000, but got value 50001',
      });
    });
  });
});
