import { generateKeyPairSync } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { DataSource } from 'typeorm';
import { FilesystemArtifactStore } from '@cairn/artifacts';
import type { Stage } from '@cairn/contracts';
import { appFailure as failure, type ModelsFixture, modelsFixture, SCHEMA } from '../../test/models-fixture';
import { RegistrationService } from '../models/registration.service';
import { createSigningKeyring } from '../signing/signing-keyring';
import { VersionVerifier } from '../signing/version-verifier';
import { GovernanceService } from './governance.service';
import { DEFAULT_POLICY, type GateSpec, type ModelPolicy } from './model-policy';
import { TransitionRequestsRepository } from './transition-requests.repository';

jest.setTimeout(120_000);

let fx: ModelsFixture;
let ds: DataSource;
let root: string;
let registration: RegistrationService;
let gov: GovernanceService;
/** The governance clock; tests move it forward to expire requests. */
let clock = Date.now();
let runSeq = 0;

const PRODUCTION = { kind: 'stage', stage: 'Production' } as const;

/** A finished run with `metrics`, its model files on disk and in the run projection. */
async function finishedRun(metrics: Record<string, number>): Promise<string> {
  runSeq += 1;
  const runId = runSeq.toString(16).padStart(32, 'a');
  const dir = path.join(root, '1', runId, 'artifacts', 'model');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'MLmodel'), `flavors:\n  sklearn: {}\nrun: ${runId}\n`);
  await writeFile(path.join(dir, 'model.pkl'), Buffer.alloc(2048, runSeq));
  await fx.runs.apply(ds.manager, `event-${runId}`, {
    runId,
    experimentId: '1',
    status: 'FINISHED',
    metrics,
    params: {},
    tags: {},
    artifactUri: new FilesystemArtifactStore(root).uriFor(`1/${runId}/artifacts`),
    datasetInputs: [],
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T01:00:00.000Z',
  });
  return runId;
}

/** Registers a version from `runId` and waits until it is READY (signed by the registry key). */
async function register(name: string, runId: string, tags: Array<{ key: string; value: string }> = []) {
  const created = await registration.create('alice', {
    name,
    source: `runs:/${runId}/model`,
    runId,
    tags,
    runLink: '',
    description: '',
  });
  const model = await fx.repository.getModel(ds.manager, name);
  await registration.settled(model.modelId, created.version);
  const ready = await fx.models.getVersion(ds.manager, name, String(created.version));
  expect(ready.status).toBe('READY');
  return ready;
}

async function newModel(name: string, policy?: Partial<ModelPolicy>): Promise<void> {
  await fx.models.createModel('alice', name, [], '');
  if (policy) await gov.setPolicy('admin', name, { ...DEFAULT_POLICY, ...policy });
}

async function stageOf(name: string, version: number): Promise<Stage> {
  return (await fx.models.getVersion(ds.manager, name, String(version))).stage;
}

async function eventsOf(type: string, requestId?: string): Promise<Array<Record<string, unknown>>> {
  const rows = await ds.query<Array<{ payload: string }>>(
    `SELECT payload FROM registry.outbox WHERE type = $1 ORDER BY seq`,
    [type],
  );
  return rows
    .map((r) => (JSON.parse(r.payload) as { data: Record<string, unknown> }).data)
    .filter((d) => requestId === undefined || d.requestId === requestId);
}

function ask(name: string, version: number, comment = 'ship it') {
  return { name, version: String(version), to: PRODUCTION, archiveExisting: true, comment };
}

async function requestProduction(name: string, version: number, by = 'alice') {
  const { request } = await gov.requestTransition(by, ask(name, version));
  if (!request) throw new Error('expected a transition request');
  return request;
}

beforeAll(async () => {
  fx = await modelsFixture('registry_governance');
  ds = fx.ds;
  root = await mkdtemp(path.join(os.tmpdir(), 'cairn-governance-'));
  const store = new FilesystemArtifactStore(root);
  const registryKey = generateKeyPairSync('ed25519');
  const keyring = createSigningKeyring({
    CAIRN_REGISTRY_SIGNING_KEY: registryKey.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    CAIRN_REGISTRY_SIGNING_KEY_ID: 'registry-test',
  });
  registration = new RegistrationService({
    ds,
    schema: SCHEMA,
    repository: fx.repository,
    audit: fx.audit,
    unitOfWork: (work) => fx.uow.run(work),
    store,
    keyring,
    runArtifactUri: async (m, runId) => (await fx.runs.find(m, runId))?.artifactUri,
    logger: pino({ level: 'silent' }),
  });
  gov = new GovernanceService({
    schema: SCHEMA,
    repository: fx.repository,
    requests: new TransitionRequestsRepository(SCHEMA),
    models: fx.models,
    audit: fx.audit,
    runs: fx.runs,
    verifier: new VersionVerifier(SCHEMA, keyring, store),
    unitOfWork: (work) => fx.uow.run(work),
    reader: ds.manager,
    logger: pino({ level: 'silent' }),
    now: () => clock,
  });
});

afterAll(async () => {
  await registration?.stop();
  await gov?.stop();
  await fx?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('four eyes', () => {
  it('refuses the requester’s own approval; a second principal’s approval promotes, with events and audit', async () => {
    await newModel('fraud');
    const v = await register('fraud', await finishedRun({ auc: 0.9 }));

    const direct = await failure(fx.models.transitionStage('alice', 'fraud', '1', 'Production', false, ''));
    expect([direct.kind, direct.reason]).toEqual(['failed_precondition', 'TRANSITION_REQUIRES_APPROVAL']);

    const r = await requestProduction('fraud', v.version);
    expect(r).toMatchObject({
      status: 'PENDING',
      requestedBy: 'alice',
      approvalsRequired: 1,
      from: { stage: 'None' },
    });
    expect(r.expiresAt - r.createdAt).toBe(DEFAULT_POLICY.requestTtlSeconds * 1000);
    expect(await eventsOf('cairn.registry.transition.requested.v1', r.requestId)).toEqual([
      expect.objectContaining({ model: 'fraud', version: '1', requestedBy: 'alice', approvalsRequired: 1 }),
    ]);

    const self = await failure(gov.approve('alice', r.requestId, 'lgtm'));
    expect([self.kind, self.reason]).toEqual(['permission_denied', 'SELF_APPROVAL_FORBIDDEN']);
    expect(await stageOf('fraud', 1)).toBe('None');
    expect((await gov.getRequest(r.requestId)).approvals).toEqual([]);

    const approved = await gov.approve('bob', r.requestId, 'checked the eval');
    expect(approved).toMatchObject({ status: 'APPLIED', closedBy: 'bob' });
    expect(approved.approvals.map((a) => a.approver)).toEqual(['bob']);
    expect(await stageOf('fraud', 1)).toBe('Production');

    expect(await eventsOf('cairn.registry.transition.approved.v1', r.requestId)).toEqual([
      expect.objectContaining({ approver: 'bob', approvalsGranted: 1, approvalsRequired: 1 }),
    ]);
    expect(await eventsOf('cairn.registry.model.promoted.v1', r.requestId)).toEqual([
      expect.objectContaining({
        model: 'fraud',
        version: '1',
        actor: 'alice',
        approvers: ['bob'],
        to: PRODUCTION,
        artifactDigest: v.artifactDigest,
      }),
    ]);

    const again = await failure(gov.approve('carol', r.requestId, ''));
    expect([again.kind, again.reason]).toEqual(['failed_precondition', 'TRANSITION_REQUEST_CLOSED']);

    const actions = (await fx.audit.list({ model: 'fraud' })).entries.map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'transition_request.create',
        'transition_request.approve',
        'model_version.transition',
        'transition_request.apply',
      ]),
    );
    expect((await fx.audit.verify()).ok).toBe(true);
  });

  it('needs as many distinct approvers as the policy says, and refuses a second approval by the same one', async () => {
    await newModel('churn', { approvalsRequired: 2 });
    const v = await register('churn', await finishedRun({ auc: 0.8 }));
    const r = await requestProduction('churn', v.version);

    expect((await gov.approve('carol', r.requestId, '')).status).toBe('PENDING');
    const twice = await failure(gov.approve('carol', r.requestId, ''));
    expect([twice.kind, twice.reason]).toEqual(['already_exists', 'APPROVAL_ALREADY_RECORDED']);
    expect(await stageOf('churn', v.version)).toBe('None');

    const done = await gov.approve('dave', r.requestId, '');
    expect(done.status).toBe('APPLIED');
    expect(done.approvals.map((a) => a.approver)).toEqual(['carol', 'dave']);
    expect(await stageOf('churn', v.version)).toBe('Production');
  });

  it('applies an unprotected transition at once, and keeps one open request per version and target', async () => {
    await newModel('ranker');
    const v = await register('ranker', await finishedRun({ ndcg: 0.5 }));
    const staged = await gov.requestTransition('alice', {
      name: 'ranker',
      version: String(v.version),
      to: { kind: 'stage', stage: 'Staging' },
      archiveExisting: false,
      comment: '',
    });
    expect(staged.request).toBeUndefined();
    expect(staged.version?.stage).toBe('Staging');

    const r = await requestProduction('ranker', v.version);
    const dup = await failure(gov.requestTransition('bob', ask('ranker', v.version)));
    expect([dup.kind, dup.reason, dup.details]).toEqual([
      'already_exists',
      'TRANSITION_REQUEST_ALREADY_OPEN',
      { requestId: r.requestId },
    ]);
  });

  it('approvals racing on a one-approval request promote exactly once', async () => {
    await newModel('race');
    const v = await register('race', await finishedRun({ auc: 0.7 }));
    const r = await requestProduction('race', v.version);
    const outcomes = await Promise.allSettled(
      ['p1', 'p2', 'p3'].map((who) => gov.approve(who, r.requestId, '')),
    );
    expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
    for (const o of outcomes) {
      if (o.status === 'rejected')
        expect((o.reason as { reason?: string }).reason).toBe('TRANSITION_REQUEST_CLOSED');
    }
    expect((await gov.getRequest(r.requestId)).status).toBe('APPLIED');
    expect(await eventsOf('cairn.registry.model.promoted.v1', r.requestId)).toHaveLength(1);
  });
});

describe('rejection, withdrawal and expiry', () => {
  it('rejects with a reason (never by the requester), and a rejected request cannot be approved', async () => {
    await newModel('reject-me');
    const v = await register('reject-me', await finishedRun({ auc: 0.6 }));
    const r = await requestProduction('reject-me', v.version);

    const noReason = await failure(gov.reject('bob', r.requestId, ' '));
    expect([noReason.kind, noReason.reason]).toEqual(['invalid_argument', 'MISSING_PARAMETER']);
    const own = await failure(gov.reject('alice', r.requestId, 'changed my mind'));
    expect([own.kind, own.reason]).toEqual(['permission_denied', 'REQUESTER_CANNOT_REJECT']);

    const rejected = await gov.reject('bob', r.requestId, 'calibration is off');
    expect(rejected).toMatchObject({
      status: 'REJECTED',
      closedBy: 'bob',
      closeComment: 'calibration is off',
    });
    expect(await eventsOf('cairn.registry.transition.rejected.v1', r.requestId)).toEqual([
      expect.objectContaining({
        reason: 'REJECTED_BY_APPROVER',
        rejectedBy: 'bob',
        comment: 'calibration is off',
      }),
    ]);
    const late = await failure(gov.approve('carol', r.requestId, ''));
    expect(late.reason).toBe('TRANSITION_REQUEST_CLOSED');
    expect(await stageOf('reject-me', v.version)).toBe('None');
  });

  it('lets only the requester withdraw', async () => {
    await newModel('withdraw-me');
    const v = await register('withdraw-me', await finishedRun({ auc: 0.6 }));
    const r = await requestProduction('withdraw-me', v.version);
    const other = await failure(gov.withdraw('bob', r.requestId, ''));
    expect([other.kind, other.reason]).toEqual(['permission_denied', 'ONLY_REQUESTER_CAN_WITHDRAW']);
    expect((await gov.withdraw('alice', r.requestId, 'wrong version')).status).toBe('WITHDRAWN');
    expect(await eventsOf('cairn.registry.transition.rejected.v1', r.requestId)).toEqual([
      expect.objectContaining({ reason: 'WITHDRAWN', rejectedBy: 'alice' }),
    ]);
  });

  it('expires a request past its deadline: shown at once, refused on approval, recorded, and re-requestable', async () => {
    await newModel('expiring', { requestTtlSeconds: 60 });
    const v = await register('expiring', await finishedRun({ auc: 0.6 }));
    const r = await requestProduction('expiring', v.version);
    clock += 61_000;

    expect((await gov.getRequest(r.requestId)).status).toBe('EXPIRED');
    const late = await failure(gov.approve('bob', r.requestId, ''));
    expect([late.kind, late.reason]).toEqual(['failed_precondition', 'TRANSITION_REQUEST_EXPIRED']);
    const [row] = await ds.query<Array<{ status: string }>>(
      `SELECT status FROM registry.transition_requests WHERE request_id = $1`,
      [r.requestId],
    );
    expect(row.status).toBe('EXPIRED');
    expect(await stageOf('expiring', v.version)).toBe('None');

    // The sweeper records expiry without anyone touching the request.
    const second = await requestProduction('expiring', v.version);
    clock += 61_000;
    expect(await gov.sweep()).toMatchObject({ expired: 1 });
    const [swept] = await ds.query<Array<{ status: string }>>(
      `SELECT status FROM registry.transition_requests WHERE request_id = $1`,
      [second.requestId],
    );
    expect(swept.status).toBe('EXPIRED');
    const entries = (await fx.audit.list({ model: 'expiring' })).entries.filter(
      (e) => e.action === 'transition_request.expire',
    );
    expect(entries).toHaveLength(2);
  });

  it('lists a model’s requests newest first, by status, in pages', async () => {
    await newModel('listed');
    const v = await register('listed', await finishedRun({ auc: 0.6 }));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock += 1;
      const r = await requestProduction('listed', v.version);
      ids.push(r.requestId);
      if (i < 4) await gov.withdraw('alice', r.requestId, '');
    }
    const seen: string[] = [];
    let token = '';
    do {
      const page = await gov.listRequests('listed', undefined, 2, token);
      seen.push(...page.requests.map((r) => r.requestId));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual([...ids].reverse());
    const pending = await gov.listRequests('listed', 'PENDING', undefined, '');
    expect(pending.requests.map((r) => r.requestId)).toEqual([ids[4]]);
    const bad = await failure(gov.listRequests('listed', undefined, 2, 'not-a-token'));
    expect(bad.reason).toBe('INVALID_PAGE_TOKEN');
  });
});

describe('gates', () => {
  async function gatedPromotion(
    name: string,
    gates: GateSpec[],
    metrics: Record<string, number>,
    tags = [] as Array<{ key: string; value: string }>,
  ) {
    await newModel(name, { gates });
    const v = await register(name, await finishedRun(metrics), tags);
    const r = await requestProduction(name, v.version);
    return { v, decided: await gov.approve('bob', r.requestId, '') };
  }

  it('blocks on a metric threshold, naming the value', async () => {
    const { v, decided } = await gatedPromotion(
      'gate-metric',
      [{ kind: 'metric_threshold', metric: 'auc', comparator: '>=', threshold: 0.9 }],
      { auc: 0.884 },
    );
    expect(decided.status).toBe('GATES_FAILED');
    expect(decided.gateResults).toContainEqual({
      gate: 'metric-threshold:auc>=0.9',
      passed: false,
      message: `auc 0.884 < 0.9 on run ${v.runId}`,
    });
    expect(await stageOf('gate-metric', v.version)).toBe('None');
    expect(await eventsOf('cairn.registry.transition.rejected.v1', decided.requestId)).toEqual([
      expect.objectContaining({
        reason: 'POLICY_GATE_FAILED',
        failedGates: [{ gate: 'metric-threshold:auc>=0.9', message: `auc 0.884 < 0.9 on run ${v.runId}` }],
      }),
    ]);
    expect(await eventsOf('cairn.registry.model.promoted.v1', decided.requestId)).toEqual([]);
  });

  it('blocks on a missing or wrong required tag', async () => {
    const { decided } = await gatedPromotion(
      'gate-tags',
      [{ kind: 'required_tags', tags: [{ key: 'validated', value: 'true' }, { key: 'owner' }] }],
      { auc: 0.9 },
      [{ key: 'validated', value: 'no' }],
    );
    expect(decided.status).toBe('GATES_FAILED');
    expect(decided.gateResults.find((g) => g.gate.startsWith('required-tags'))).toEqual({
      gate: 'required-tags:validated=true,owner',
      passed: false,
      message: `tag 'validated' is "no", not "true"; tag 'owner' is missing`,
    });
  });

  it('blocks a version that does not beat Production, and promotes one that does', async () => {
    const gates: GateSpec[] = [
      { kind: 'beats_production', metric: 'rmse', higherIsBetter: false, minDelta: 0.05 },
    ];
    await newModel('gate-beats', { gates });
    const first = await register('gate-beats', await finishedRun({ rmse: 1.0 }));
    const r1 = await requestProduction('gate-beats', first.version);
    expect((await gov.approve('bob', r1.requestId, '')).status).toBe('APPLIED'); // nothing to beat yet

    const worse = await register('gate-beats', await finishedRun({ rmse: 0.97 }));
    const r2 = await requestProduction('gate-beats', worse.version);
    const blocked = await gov.approve('bob', r2.requestId, '');
    expect(blocked.status).toBe('GATES_FAILED');
    expect(blocked.gateResults.at(-1)).toMatchObject({
      passed: false,
      message: expect.stringContaining('rmse 0.97 vs 1 of Production version 1: not better'),
    });

    const better = await register('gate-beats', await finishedRun({ rmse: 0.9 }));
    const r3 = await requestProduction('gate-beats', better.version);
    expect((await gov.approve('bob', r3.requestId, '')).status).toBe('APPLIED');
    expect(await stageOf('gate-beats', better.version)).toBe('Production');
    expect(await stageOf('gate-beats', first.version)).toBe('Archived');
  });

  it('blocks a tampered artifact on the signature gate, naming the changed file', async () => {
    const gates: GateSpec[] = [{ kind: 'valid_signature' }];
    await newModel('gate-signed', { gates });
    const runId = await finishedRun({ auc: 0.9 });
    const v = await register('gate-signed', runId);
    await appendFile(path.join(root, '1', runId, 'artifacts', 'model', 'model.pkl'), 'backdoor');

    const r = await requestProduction('gate-signed', v.version);
    const decided = await gov.approve('bob', r.requestId, '');
    expect(decided.status).toBe('GATES_FAILED');
    expect(decided.gateResults.find((g) => g.gate === 'valid-signature')).toEqual({
      gate: 'valid-signature',
      passed: false,
      message: 'DIGEST_MISMATCH: The artifact changed since it was signed: "model.pkl" was modified',
    });
    expect(await stageOf('gate-signed', v.version)).toBe('None');

    // An untouched version of the same model passes the same gate.
    const clean = await register('gate-signed', await finishedRun({ auc: 0.9 }));
    const ok = await gov.approve(
      'bob',
      (await requestProduction('gate-signed', clean.version)).requestId,
      '',
    );
    expect(ok.status).toBe('APPLIED');
    expect(ok.gateResults.find((g) => g.gate === 'valid-signature')).toMatchObject({ passed: true });
  });

  it('fails closed when the source run is unknown to the registry', async () => {
    await newModel('gate-unknown-run', {
      gates: [{ kind: 'metric_threshold', metric: 'auc', comparator: '>', threshold: 0.5 }],
    });
    const runId = await finishedRun({ auc: 0.9 });
    const v = await register('gate-unknown-run', runId);
    await ds.query(`DELETE FROM registry.runs WHERE run_id = $1`, [runId]);
    const evaluation = await gov.evaluate('gate-unknown-run', String(v.version), PRODUCTION);
    expect(evaluation.passed).toBe(false);
    expect(evaluation.results.at(-1)?.message).toBe(
      `source run ${runId} is not known to the registry yet (no RunFinished received)`,
    );
  });

  it('evaluates gates without changing anything, and applies a gated-only target at request time', async () => {
    const gates: GateSpec[] = [{ kind: 'metric_threshold', metric: 'auc', comparator: '>', threshold: 0.5 }];
    await newModel('gated-only', { gates, approvalsRequired: 0 });
    const v = await register('gated-only', await finishedRun({ auc: 0.9 }));
    const before = await ds.query<unknown[]>(`SELECT count(*) FROM registry.outbox`);
    expect(await gov.evaluate('gated-only', String(v.version), PRODUCTION)).toEqual({
      passed: true,
      results: [
        { gate: 'version-ready', passed: true, message: 'the version is READY' },
        { gate: 'metric-threshold:auc>0.5', passed: true, message: `auc 0.9 > 0.5 on run ${v.runId}` },
      ],
    });
    expect(await ds.query<unknown[]>(`SELECT count(*) FROM registry.outbox`)).toEqual(before);

    const { request } = await gov.requestTransition('alice', ask('gated-only', v.version));
    expect(request?.status).toBe('APPLIED');
    expect(await stageOf('gated-only', v.version)).toBe('Production');
  });

  it('finishes a fully approved request whose promotion a crash interrupted', async () => {
    await newModel('crashed');
    const v = await register('crashed', await finishedRun({ auc: 0.9 }));
    const r = await requestProduction('crashed', v.version);
    // The approval committed; the process died before the promotion transaction.
    await new TransitionRequestsRepository(SCHEMA).addApproval(ds.manager, r.requestId, 'bob', '', clock);
    expect(await stageOf('crashed', v.version)).toBe('None');
    expect((await gov.sweep()).finished).toBeGreaterThanOrEqual(1);
    expect(await stageOf('crashed', v.version)).toBe('Production');
    expect((await gov.getRequest(r.requestId)).status).toBe('APPLIED');
  });
});

describe('policies', () => {
  it('returns the default until one is set, and audits the change', async () => {
    await newModel('policy-model');
    expect(await gov.getPolicy('policy-model')).toEqual({
      policy: DEFAULT_POLICY,
      explicit: false,
      updatedAt: null,
      updatedBy: null,
    });
    const set = await gov.setPolicy('admin', 'policy-model', {
      ...DEFAULT_POLICY,
      protectedStages: ['Staging', 'Production'],
      protectedAliases: ['champion'],
    });
    expect(set).toMatchObject({ explicit: true, updatedBy: 'admin' });
    expect((await gov.getPolicy('policy-model')).policy.protectedAliases).toEqual(['champion']);
    const audit = (await fx.audit.list({ model: 'policy-model' })).entries.find(
      (e) => e.action === 'policy.set',
    );
    expect(audit?.actor).toBe('admin');

    const alias = await failure(fx.models.setAlias('alice', 'policy-model', 'champion', '1'));
    expect(alias.reason).toBe('TRANSITION_REQUIRES_APPROVAL');
  });

  it.each([
    [{ approvalsRequired: -1 }, 'approvals_required'],
    [{ approvalsRequired: 11 }, 'approvals_required'],
    [{ requestTtlSeconds: 10 }, 'request_ttl_seconds'],
    [{ protectedStages: ['Production', 'Production'] as Stage[] }, 'protected_stages[1]'],
    [{ protectedAliases: ['latest'] }, 'protected_aliases[0]'],
    [
      { gates: [{ kind: 'metric_threshold', metric: '', comparator: '>', threshold: 1 }] as GateSpec[] },
      'gates[0].metric_threshold.metric',
    ],
    [
      {
        gates: [
          { kind: 'metric_threshold', metric: 'auc', comparator: '>', threshold: Number.NaN },
        ] as GateSpec[],
      },
      'gates[0].metric_threshold.threshold',
    ],
    [{ gates: [{ kind: 'required_tags', tags: [] }] as GateSpec[] }, 'gates[0].required_tags.tags'],
    [
      {
        gates: [
          { kind: 'beats_production', metric: 'auc', higherIsBetter: true, minDelta: -1 },
        ] as GateSpec[],
      },
      'gates[0].beats_production.min_delta',
    ],
    [{ gates: [{ kind: 'valid_signature' }, { kind: 'valid_signature' }] as GateSpec[] }, 'gates'],
  ])('refuses an invalid policy %j, naming %s', async (change, field) => {
    const err = await failure(gov.setPolicy('admin', 'policy-model', { ...DEFAULT_POLICY, ...change }));
    expect([err.kind, err.reason, err.details]).toEqual(['invalid_argument', 'INVALID_POLICY', { field }]);
  });
});
