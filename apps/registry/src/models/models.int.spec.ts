import type { DataSource } from 'typeorm';
import type { AuditLog } from '../audit/audit-log';
import type { RunProjection } from '../runs/run-projection';
import { appFailure as failure, type ModelsFixture, modelsFixture } from '../../test/models-fixture';
import type { ModelsService } from './models.service';

jest.setTimeout(120_000);

let fx: ModelsFixture;
let ds: DataSource;
let audit: AuditLog;
let models: ModelsService;
let runs: RunProjection;

/** A READY version, as registration leaves it (registration itself is tested on its own). */
async function readyVersion(name: string, version: number, runId: string | null = null): Promise<void> {
  await ds.query(
    `INSERT INTO registry.model_versions (model_id, version, user_id, creation_time, last_updated_time, source, run_id,
                                          status, storage_uri, storage_scope, storage_path, artifact_digest)
     SELECT model_id, $2::int, 'alice', 1, 1, 'runs:/r/model', $3, 'READY', 'file:///a/' || $2::text, 'scope', 'model', $4
       FROM registry.registered_models WHERE name = $1`,
    [name, version, runId, `sha256:${String(version).padStart(64, '0')}`],
  );
  await ds.query(`UPDATE registry.registered_models SET last_version = $2 WHERE name = $1`, [name, version]);
}

async function eventsOf(type: string): Promise<Array<Record<string, unknown>>> {
  const rows = await ds.query<Array<{ payload: string }>>(
    `SELECT payload FROM registry.outbox WHERE type = $1 ORDER BY seq`,
    [type],
  );
  return rows.map((r) => (JSON.parse(r.payload) as { data: Record<string, unknown> }).data);
}

beforeAll(async () => {
  fx = await modelsFixture('registry_models');
  ({ ds, audit, runs, models } = fx);
});

afterAll(async () => {
  await fx?.close();
});

describe('registered models', () => {
  it('creates, refuses a duplicate with MLflow’s message, renames and deletes', async () => {
    const created = await models.createModel('alice', 'churn', [{ key: 'team', value: 'growth' }], 'first');
    expect(created).toMatchObject({ name: 'churn', description: 'first', createdBy: 'alice' });
    expect(created.tags).toEqual([{ key: 'team', value: 'growth' }]);

    const dup = await failure(models.createModel('bob', 'churn', [], ''));
    expect([dup.kind, dup.reason, dup.message]).toEqual([
      'already_exists',
      'REGISTERED_MODEL_ALREADY_EXISTS',
      'Registered Model (name=churn) already exists.',
    ]);

    await readyVersion('churn', 1);
    const renamed = await models.renameModel('alice', 'churn', 'churn-v2');
    expect(renamed.name).toBe('churn-v2');
    expect((await models.getVersion(ds.manager, 'churn-v2', '1')).name).toBe('churn-v2');
    const gone = await failure(models.getModel('churn', ds.manager));
    expect([gone.reason, gone.message]).toEqual([
      'REGISTERED_MODEL_NOT_FOUND',
      'Registered Model with name=churn not found',
    ]);

    await models.deleteModel('alice', 'churn-v2');
    expect((await failure(models.getVersion(ds.manager, 'churn-v2', '1'))).reason).toBe(
      'REGISTERED_MODEL_NOT_FOUND',
    );
  });

  it('validates names, versions and aliases with MLflow’s rules', async () => {
    expect((await failure(models.createModel('a', '', [], ''))).reason).toBe('MISSING_PARAMETER');
    expect((await failure(models.createModel('a', 'x/y', [], ''))).reason).toBe('INVALID_PARAMETER_VALUE');
    await models.createModel('alice', 'aliases', [], '');
    await readyVersion('aliases', 1);
    expect((await failure(models.getVersion(ds.manager, 'aliases', 'one'))).reason).toBe(
      'INVALID_PARAMETER_VALUE',
    );
    for (const [alias, message] of [
      ['latest', "'latest' alias name (case insensitive) is reserved."],
      ['LATEST', "'latest' alias name (case insensitive) is reserved."],
      ['v12', "Version alias name 'v12' is reserved."],
      ['bad alias', expect.stringContaining('Invalid alias name') as unknown as string],
    ] as const) {
      const err = await failure(models.setAlias('alice', 'aliases', alias, '1'));
      expect([err.kind, err.message]).toEqual(['invalid_argument', message]);
    }
    expect((await failure(models.setAlias('alice', 'aliases', 'champion', '9'))).reason).toBe(
      'MODEL_VERSION_NOT_FOUND',
    );
  });

  it('deletes tags, and reports a missing one as not found', async () => {
    await models.createModel('alice', 'tagged', [{ key: 'team', value: 'a' }], '');
    await readyVersion('tagged', 1);
    await models.setVersionTag('alice', 'tagged', '1', 'stage', 'qa');
    await models.deleteModelTag('alice', 'tagged', 'team');
    await models.deleteVersionTag('alice', 'tagged', '1', 'stage');
    expect((await models.getModel('tagged', ds.manager)).tags).toEqual([]);
    expect((await models.getVersion(ds.manager, 'tagged', '1')).tags).toEqual([]);
    expect(
      (await eventsOf('cairn.registry.registered-model.created.v1')).find((e) => e.model === 'tagged'),
    ).toMatchObject({
      tags: { team: 'a' },
      createdBy: 'alice',
    });
    const tagEvents = [
      ...(await eventsOf('cairn.registry.model-version-tag.set.v1')),
      ...(await eventsOf('cairn.registry.model-version-tag.deleted.v1')),
    ].filter((e) => e.model === 'tagged');
    expect(tagEvents.map((e) => [e.key, e.value])).toEqual([
      ['stage', 'qa'],
      ['stage', undefined],
    ]);
    expect((await failure(models.deleteModelTag('alice', 'tagged', 'team'))).reason).toBe('TAG_NOT_FOUND');
    expect((await failure(models.deleteVersionTag('alice', 'tagged', '1', 'stage'))).reason).toBe(
      'TAG_NOT_FOUND',
    );
    // Deleting an alias that is not there is done already, as in MLflow: no event.
    const before = (await eventsOf('cairn.registry.alias.deleted.v1')).length;
    await models.deleteAlias('alice', 'tagged', 'nobody');
    expect(await eventsOf('cairn.registry.alias.deleted.v1')).toHaveLength(before);
  });
});

describe('stages and aliases', () => {
  it('moves an alias, reports the previous version, and deletes aliases with their version', async () => {
    await models.createModel('alice', 'alias-moves', [], '');
    await readyVersion('alias-moves', 1);
    await readyVersion('alias-moves', 2);
    await models.setAlias('alice', 'alias-moves', 'champion', '1');
    await models.setAlias('bob', 'alias-moves', 'champion', '2');
    expect((await models.getVersionByAlias(ds.manager, 'alias-moves', 'champion')).version).toBe(2);
    const sets = (await eventsOf('cairn.registry.alias.set.v1')).filter((e) => e.model === 'alias-moves');
    expect(sets.map((e) => [e.version, e.previousVersion, e.actor])).toEqual([
      ['1', undefined, 'alice'],
      ['2', '1', 'bob'],
    ]);

    const promoted = (await eventsOf('cairn.registry.model.promoted.v1')).filter(
      (e) => e.model === 'alias-moves',
    );
    expect(promoted.map((e) => [e.version, e.from, e.to, e.replacedVersion])).toEqual([
      ['1', { kind: 'stage', stage: 'None' }, { kind: 'alias', alias: 'champion' }, undefined],
      ['2', { kind: 'stage', stage: 'None' }, { kind: 'alias', alias: 'champion' }, '1'],
    ]);

    await models.deleteVersion('carol', 'alias-moves', '2');
    expect((await failure(models.getVersionByAlias(ds.manager, 'alias-moves', 'champion'))).reason).toBe(
      'ALIAS_NOT_FOUND',
    );
    const deleted = (await eventsOf('cairn.registry.alias.deleted.v1')).filter(
      (e) => e.model === 'alias-moves',
    );
    expect(deleted).toEqual([expect.objectContaining({ alias: 'champion', version: '2', actor: 'carol' })]);
  });

  it('refuses a direct move to a protected stage (Production by default)', async () => {
    await models.createModel('alice', 'guarded', [], '');
    await readyVersion('guarded', 1);
    const err = await failure(models.transitionStage('alice', 'guarded', '1', 'Production', true, ''));
    expect([err.kind, err.reason]).toEqual(['failed_precondition', 'TRANSITION_REQUIRES_APPROVAL']);
    expect((await models.getVersion(ds.manager, 'guarded', '1')).stage).toBe('None');
  });

  it('refuses archive_existing_versions for an inactive stage, with MLflow’s message', async () => {
    await models.createModel('alice', 'inactive', [], '');
    await readyVersion('inactive', 1);
    const err = await failure(models.transitionStage('alice', 'inactive', '1', 'Archived', true, ''));
    expect(err.message).toBe(
      "Model version transition cannot archive existing model versions because 'Archived' is not an Active stage. Valid stages are Staging, Production",
    );
  });

  it('leaves exactly one version in the stage when promotions with archive_existing_versions race', async () => {
    await models.createModel('alice', 'race', [], '');
    for (let v = 1; v <= 6; v++) await readyVersion('race', v);
    // Unprotected Staging through the public call, protected Production through the path an
    // approved request takes: both serialize on the model row.
    await Promise.all(
      [1, 2, 3].map((v) => models.transitionStage('alice', 'race', String(v), 'Staging', true, 'go')),
    );
    const { uow, repository: repo } = fx;
    await Promise.all(
      [4, 5, 6].map((v) =>
        uow.run(async (tx) => {
          const model = await repo.getModel(tx.manager, 'race', true);
          await models.applyTransition(tx, model, v, { kind: 'stage', stage: 'Production' }, true, {
            actor: 'alice',
            approvers: ['bob'],
          });
        }),
      ),
    );
    const rows = await ds.query<Array<{ version: number; stage: string }>>(
      `SELECT v.version, v.stage FROM registry.model_versions v JOIN registry.registered_models m USING (model_id)
        WHERE m.name = 'race' ORDER BY v.version`,
    );
    expect(rows.filter((r) => r.stage === 'Staging')).toHaveLength(1);
    expect(rows.filter((r) => r.stage === 'Production')).toHaveLength(1);
    expect(rows.filter((r) => r.stage === 'Archived')).toHaveLength(4);

    const promoted = (await eventsOf('cairn.registry.model.promoted.v1')).filter((e) => e.model === 'race');
    const archived = (await eventsOf('cairn.registry.model.archived.v1')).filter((e) => e.model === 'race');
    expect(promoted).toHaveLength(6);
    // Each promotion after the first in a stage archived exactly the version before it.
    expect(archived).toHaveLength(4);
    expect(archived.every((e) => e.reason === 'SUPERSEDED')).toBe(true);
    const latest = await models.latestVersions(ds.manager, 'race', ['Production', 'Staging']);
    expect(latest.map((v) => v.stage).sort()).toEqual(['Production', 'Staging']);
  });

  it('carries the source run’s dataset inputs on ModelPromoted, from the run projection', async () => {
    const run = {
      runId: 'a'.repeat(32),
      experimentId: '1',
      status: 'FINISHED' as const,
      metrics: { auc: 0.93 },
      params: { depth: '6' },
      tags: {},
      artifactUri: 'file:///artifacts/1/run',
      datasetInputs: [{ name: 'train', digest: 'd1', source: 's3://b/train.parquet', context: 'training' }],
      startedAt: '2026-01-01T00:00:00.000Z',
      endedAt: '2026-01-01T01:00:00.000Z',
    };
    await runs.apply(ds.manager, 'e1', run);
    // An older RunFinished arriving late changes nothing.
    await runs.apply(ds.manager, 'e0', {
      ...run,
      metrics: { auc: 0.5 },
      endedAt: '2026-01-01T00:30:00.000Z',
    });
    expect((await runs.find(ds.manager, run.runId))?.metrics).toEqual({ auc: 0.93 });

    await models.createModel('alice', 'lineage', [], '');
    await readyVersion('lineage', 1, run.runId);
    await models.transitionStage('alice', 'lineage', '1', 'Staging', false, '');
    const [event] = (await eventsOf('cairn.registry.model.promoted.v1')).filter((e) => e.model === 'lineage');
    expect(event).toMatchObject({
      version: '1',
      to: { kind: 'stage', stage: 'Staging' },
      runId: run.runId,
      datasetInputs: run.datasetInputs,
      artifactDigest: `sha256:${'1'.padStart(64, '0')}`,
    });
  });

  it('writes one chained audit entry per change, in the same transaction', async () => {
    const before = (await audit.list({ model: 'audited', maxResults: 100 })).entries.length;
    await models.createModel('alice', 'audited', [], '');
    await readyVersion('audited', 1);
    await models.setVersionTag('bob', 'audited', '1', 'validated', 'yes');
    await failure(models.transitionStage('bob', 'audited', '1', 'Production', false, ''));
    const entries = (await audit.list({ model: 'audited', maxResults: 100 })).entries;
    expect(entries.length - before).toBe(2); // the refused transition left nothing
    expect(entries.map((e) => [e.actor, e.action])).toEqual([
      ['bob', 'model_version_tag.set'],
      ['alice', 'registered_model.create'],
    ]);
    expect((await audit.verify()).ok).toBe(true);
  });
});
