import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { FilesystemArtifactStore } from '@cairn/artifacts';
import { appFailure as failure, type ModelsFixture, modelsFixture, SCHEMA } from '../../test/models-fixture';
import { createSigningKeyring } from '../signing/signing-keyring';
import type { ModelsService } from './models.service';
import { RegistrationService } from './registration.service';

jest.setTimeout(120_000);

const RUN_ID = 'b'.repeat(32);
let fx: ModelsFixture;
let ds: DataSource;
let root: string;
let models: ModelsService;
let registration: RegistrationService;
const client = generateKeyPairSync('ed25519');
const registryKey = generateKeyPairSync('ed25519');

async function registered(name: string, version: number) {
  const model = await fx.repository.getModel(ds.manager, name);
  await registration.settled(model.modelId, version);
  return models.getVersion(ds.manager, name, String(version));
}

beforeAll(async () => {
  fx = await modelsFixture('registry_registration');
  ({ ds, models } = fx);
  root = await mkdtemp(path.join(os.tmpdir(), 'cairn-registration-'));
  // A run's model as tracking leaves it: <experiment>/<run>/artifacts/model/...
  const model = path.join(root, '1', RUN_ID, 'artifacts', 'model');
  await mkdir(model, { recursive: true });
  await writeFile(path.join(model, 'MLmodel'), 'flavors:\n  sklearn: {}\n');
  await writeFile(path.join(model, 'model.pkl'), Buffer.alloc(4096, 7));
  await mkdir(path.join(root, '1', RUN_ID, 'artifacts', 'empty'), { recursive: true });

  const store = new FilesystemArtifactStore(root);
  const { audit, runs, uow, repository } = fx;
  await runs.apply(ds.manager, 'e1', {
    runId: RUN_ID,
    experimentId: '1',
    status: 'FINISHED',
    metrics: {},
    params: {},
    tags: {},
    artifactUri: store.uriFor(`1/${RUN_ID}/artifacts`),
    datasetInputs: [],
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T01:00:00.000Z',
  });
  registration = new RegistrationService({
    ds,
    schema: SCHEMA,
    repository,
    audit,
    unitOfWork: (work) => uow.run(work),
    store,
    keyring: createSigningKeyring({
      CAIRN_REGISTRY_SIGNING_KEY: registryKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      CAIRN_REGISTRY_SIGNING_KEY_ID: 'registry-test',
      CAIRN_REGISTRY_SIGNING_PUBLIC_KEYS: JSON.stringify({
        'ci-key': client.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      }),
    }),
    runArtifactUri: async (m, runId) => (await runs.find(m, runId))?.artifactUri,
    logger: pino({ level: 'silent' }),
  });
  await models.createModel('alice', 'clf', [], '');
});

afterAll(async () => {
  await registration?.stop();
  await fx?.close();
  await rm(root, { recursive: true, force: true });
});

describe('model version registration', () => {
  it('registers a run’s model: PENDING, then READY with its manifest digest, signed, and ModelVersionCreated', async () => {
    const pending = await registration.create('alice', {
      name: 'clf',
      source: `runs:/${RUN_ID}/model`,
      runId: RUN_ID,
      tags: [{ key: 'framework', value: 'sklearn' }],
      runLink: '',
      description: 'first',
    });
    expect([pending.version, pending.status]).toEqual([1, 'PENDING_REGISTRATION']);
    const ready = await registered('clf', 1);
    expect(ready.status).toBe('READY');
    expect(ready.artifactDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ready.signature?.keyId).toBe('registry-test');
    expect(ready.storageUri).toBe(
      new FilesystemArtifactStore(root).uriFor(`1/${RUN_ID}/artifacts`) + '/model',
    );

    const [event] = await ds.query<Array<{ payload: string }>>(
      `SELECT payload FROM registry.outbox WHERE type = 'cairn.registry.model-version.created.v1'`,
    );
    expect(JSON.parse(event.payload)).toMatchObject({
      subject: 'clf',
      data: {
        model: 'clf',
        version: '1',
        runId: RUN_ID,
        artifactDigest: ready.artifactDigest,
        tags: { framework: 'sklearn' },
      },
    });
  });

  it('keeps a client’s signature when it verifies, and fails registration when it does not', async () => {
    const first = await registered('clf', 1);
    const good = {
      algorithm: 'Ed25519',
      keyId: 'ci-key',
      value: sign(null, Buffer.from(first.artifactDigest!, 'utf8'), client.privateKey).toString('base64'),
    };
    await registration.create('bob', {
      name: 'clf',
      source: `runs:/${RUN_ID}/model`,
      runId: RUN_ID,
      tags: [],
      runLink: '',
      description: '',
      signature: good,
    });
    expect((await registered('clf', 2)).signature?.keyId).toBe('ci-key');

    const forged = {
      ...good,
      value: sign(null, Buffer.from('sha256:' + '0'.repeat(64)), client.privateKey).toString('base64'),
    };
    await registration.create('bob', {
      name: 'clf',
      source: `runs:/${RUN_ID}/model`,
      runId: RUN_ID,
      tags: [],
      runLink: '',
      description: '',
      signature: forged,
    });
    const failed = await registered('clf', 3);
    expect(failed.status).toBe('FAILED_REGISTRATION');
    expect(failed.statusMessage).toMatch(/does not verify/);
  });

  it('fails registration of an empty location and never reuses a version number', async () => {
    await registration.create('alice', {
      name: 'clf',
      source: `runs:/${RUN_ID}/empty`,
      runId: RUN_ID,
      tags: [],
      runLink: '',
      description: '',
    });
    const empty = await registered('clf', 4);
    expect(empty.status).toBe('FAILED_REGISTRATION');
    await models.deleteVersion('alice', 'clf', '4');
    const next = await registration.create('alice', {
      name: 'clf',
      source: `runs:/${RUN_ID}/model`,
      runId: RUN_ID,
      tags: [],
      runLink: '',
      description: '',
    });
    expect(next.version).toBe(5);
  });

  it('refuses hostile sources before writing anything', async () => {
    const before = await ds.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM registry.model_versions`,
    );
    for (const source of [
      'file:///etc/passwd',
      `runs:/${RUN_ID}/../../../etc`,
      'models:/clf/1',
      'm;$(id)',
      `runs:/${'c'.repeat(32)}/model`,
    ]) {
      const err = await failure(
        registration.create('mallory', {
          name: 'clf',
          source,
          runId: '',
          tags: [],
          runLink: '',
          description: '',
        }),
      );
      expect(['invalid_argument', 'not_found']).toContain(err.kind);
    }
    const after = await ds.query<Array<{ n: number }>>(
      `SELECT count(*)::int AS n FROM registry.model_versions`,
    );
    expect(after[0].n).toBe(before[0].n);
  });

  it('finishes versions left pending by a crash when it sweeps', async () => {
    await ds.query(
      `UPDATE registry.model_versions SET status = 'PENDING_REGISTRATION', artifact_digest = NULL WHERE version = 5`,
    );
    await registration.sweep();
    expect((await registered('clf', 5)).status).toBe('READY');
  });
});
