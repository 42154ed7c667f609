import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gatewayAuthV1 } from '@cairn/proto';
import { CairnClient } from '@cairn/sdk';
import { waitFor } from '@cairn/testing';
import { type PlatformUnderTest, startPlatform } from './platform';

/*
 * The `cairn` CLI, built as `npm run build` builds it and run as a subprocess, against the
 * platform started as a user starts it (`npm start`), logged in with the admin API key the
 * first start prints: tracking (experiments, runs, logging, uploads), the governed registry
 * (register, request, approval by a second user, audit, signature) and events.
 */

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../../..');
const CLI = path.join(ROOT, 'dist/tools/cli/src/main.js');
const MODEL = 'churn-cli-model';

let started: PlatformUnderTest | undefined;
let work: string;
let address: string;
let adminKey: string;
let adminConfig: string;
const watchers: ChildProcess[] = [];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI's environment: only what the test gives it (no CAIRN_* from the caller's shell). */
function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  for (const key of ['CAIRN_ADDRESS', 'CAIRN_API_KEY']) if (!(key in extra)) delete env[key];
  return env;
}

/** Runs `cairn <args>` to completion (60 s at most). */
function cairn(
  args: string[],
  opts: { config?: string; env?: Record<string, string>; input?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: work,
      env: cliEnv({ CAIRN_CONFIG: opts.config ?? adminConfig, ...opts.env }),
      timeout: 60_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs `cairn <args>`, expects success, and returns its stdout parsed as JSON. */
async function cairnJson<T>(args: string[], opts: Parameters<typeof cairn>[1] = {}): Promise<T> {
  const res = await cairn([...args, '--json'], opts);
  if (res.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

/** Spawns a long-running `cairn events watch`, collecting its stdout lines. */
function watch(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'events', 'watch', '--json', ...args], {
    cwd: work,
    env: cliEnv({ CAIRN_CONFIG: adminConfig }),
  });
  watchers.push(child);
  const lines: string[] = [];
  let partial = '';
  child.stdout.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, lines, exited };
}

interface EventLine {
  id: string;
  type: string;
  subject: string;
  sequence: number;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cairn-cli-work-'));
  adminConfig = path.join(work, 'admin', 'config.json');
  started = await startPlatform('cli-e2e');
  address = started.gatewayAddress;
  // As a user finds it: the key the gateway shows once on the first start.
  adminKey = started.adminApiKey();
  expect(adminKey).toMatch(/^cairn_/);
});

afterAll(async () => {
  for (const w of watchers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  await started?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the cairn CLI against the platform', () => {
  let experimentId: string;
  let runId: string;
  let version: string;
  let requestId: string;
  let registryWatch: ReturnType<typeof watch>;

  it('is found by npx from the repository root', async () => {
    const res = await new Promise<CliResult>((resolve, reject) => {
      const child = spawn('npx', ['--no-install', 'cairn', '--version'], { cwd: ROOT, env: cliEnv({}) });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr: '' }));
    });
    expect(res).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });

  it('logs in with the admin API key (stored 0600, verified) and says who you are', async () => {
    const login = await cairn(['login', '--address', address, '--api-key-stdin'], { input: `${adminKey}\n` });
    expect(login.code).toBe(0);
    expect(login.stderr).toContain('as user:admin');
    expect((await stat(adminConfig)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(adminConfig, 'utf8'))).toMatchObject({ address, apiKey: adminKey });

    const me = await cairnJson<{ principal: string; roles: string[]; via: string }>(['whoami']);
    expect(me).toMatchObject({ principal: 'user:admin', via: 'api-key' });
    expect(me.roles).toContain('admin');

    const wrong = await cairn(['whoami'], { env: { CAIRN_API_KEY: 'cairn_nope_nope' } });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/^error: [A-Z_]+: /);
  });

  it('creates, lists, uses and revokes an API key', async () => {
    const created = await cairnJson<{ apiKey: { keyId: string }; token: string }>([
      'api-keys',
      'create',
      '--name',
      'e2e',
    ]);
    expect(created.token).toMatch(/^cairn_/);
    const listed = await cairnJson<Array<{ keyId: string; name: string }>>(['api-keys', 'list']);
    expect(listed).toContainEqual(expect.objectContaining({ keyId: created.apiKey.keyId, name: 'e2e' }));

    const asKey = { env: { CAIRN_API_KEY: created.token } };
    expect((await cairnJson<{ principal: string }>(['whoami'], asKey)).principal).toBe('user:admin');
    expect((await cairn(['api-keys', 'revoke', created.apiKey.keyId])).code).toBe(0);
    const revoked = await cairn(['whoami'], asKey);
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toMatch(/^error: [A-Z_]+: /);
  });

  it('creates an experiment and a run, logs to it, and shows what was logged', async () => {
    // Follows the registry's events from now on (the model is created later).
    registryWatch = watch(['--subject', MODEL]);

    const exp = await cairn(['experiments', 'create', 'churn-cli']);
    expect(exp.code).toBe(0);
    experimentId = exp.stdout.trim();
    expect(experimentId).not.toBe('');
    const experiments = await cairnJson<Array<{ experimentId: string; name: string }>>([
      'experiments',
      'list',
    ]);
    expect(experiments).toContainEqual(expect.objectContaining({ experimentId, name: 'churn-cli' }));

    const run = await cairn(['runs', 'create', '--experiment', 'churn-cli', '--name', 'first']);
    expect(run.code).toBe(0);
    runId = run.stdout.trim();

    const log = await cairn([
      'runs',
      'log',
      runId,
      '--param',
      'depth=6',
      '--metric',
      'auc=0.93@1',
      '--tag',
      'team=ml',
    ]);
    expect(log).toMatchObject({ code: 0, stderr: expect.stringContaining('1 param, 1 metric, 1 tag') });

    const shown = await cairnJson<{
      info: { runId: string; status: string; experimentId: string };
      data: { params: unknown[]; metrics: unknown[]; tags: unknown[] };
    }>(['runs', 'show', runId]);
    expect(shown.info).toMatchObject({ runId, experimentId, status: 'RUNNING' });
    expect(shown.data.params).toContainEqual({ key: 'depth', value: '6' });
    expect(shown.data.metrics).toContainEqual(expect.objectContaining({ key: 'auc', value: 0.93, step: 1 }));
    expect(shown.data.tags).toContainEqual({ key: 'team', value: 'ml' });

    const listed = await cairnJson<Array<{ info: { runId: string } }>>([
      'runs',
      'list',
      '--experiment',
      experimentId,
    ]);
    expect(listed.map((r) => r.info.runId)).toEqual([runId]);
  });

  it('uploads a directory of artifacts and lists them', async () => {
    const local = path.join(work, 'model');
    await mkdir(path.join(local, 'extra'), { recursive: true });
    await writeFile(path.join(local, 'MLmodel'), 'flavors:\n  sklearn: {}\n');
    await writeFile(path.join(local, 'model.pkl'), Buffer.alloc(300 * 1024, 7));
    await writeFile(path.join(local, 'extra', 'notes.txt'), 'trained on churn v3\n');

    const upload = await cairn(['runs', 'upload', runId, local, '--path', 'model']);
    expect(upload.code).toBe(0);
    // Not a terminal: one plain line per file instead of a progress bar.
    expect(upload.stderr).toContain('uploaded model/model.pkl (300.0 KiB) [3/3]');
    expect(upload.stderr).toContain('uploaded 3 files');

    const listing = await cairnJson<{ files: Array<{ path: string; isDir: boolean; fileSize?: number }> }>([
      'runs',
      'artifacts',
      runId,
      'model',
    ]);
    expect(listing.files).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'model/MLmodel', isDir: false }),
        expect.objectContaining({ path: 'model/model.pkl', isDir: false, fileSize: 300 * 1024 }),
        expect.objectContaining({ path: 'model/extra', isDir: true }),
      ]),
    );
    const table = await cairn(['runs', 'artifacts', runId, 'model/extra']);
    expect(table.stdout).toMatch(/^PATH\s+SIZE\nmodel\/extra\/notes\.txt\s+20 B$/m);

    const copy = path.join(work, 'notes-copy.txt');
    expect((await cairn(['runs', 'download', runId, 'model/extra/notes.txt', '-o', copy])).code).toBe(0);
    expect(await readFile(copy, 'utf8')).toBe('trained on churn v3\n');
  });

  it('registers a version from the run and promotes it with a second user’s approval', async () => {
    expect((await cairn(['runs', 'finish', runId])).code).toBe(0);
    expect((await cairn(['models', 'create', MODEL])).code).toBe(0);
    // The registry learns of the finished run from the event bus before runs:/ resolves.
    const registered = await waitFor(
      'the registry to know the run',
      async () => {
        const res = await cairn(['models', 'register', MODEL, '--run', runId, '--path', 'model', '--json']);
        return res.code === 0 ? (JSON.parse(res.stdout) as { version: string }) : undefined;
      },
      60_000,
      250,
    );
    version = registered.version;
    await waitFor(
      'the version to be READY',
      async () => {
        const versions = await cairnJson<Array<{ version: string; status: string }>>([
          'models',
          'versions',
          MODEL,
        ]);
        return versions.find((v) => v.version === version)?.status === 'READY' ? true : undefined;
      },
      60_000,
      250,
    );

    const requested = await cairnJson<{
      request: { requestId: string; status: string; requestedBy: string };
    }>([
      'models',
      'request',
      MODEL,
      version,
      '--stage',
      'Production',
      '--archive-existing',
      '--comment',
      'ship it',
    ]);
    expect(requested.request).toMatchObject({ status: 'PENDING', requestedBy: 'user:admin' });
    requestId = requested.request.requestId;
    const pending = await cairnJson<Array<{ requestId: string; status: string }>>([
      'models',
      'requests',
      '--model',
      MODEL,
    ]);
    expect(pending).toContainEqual(expect.objectContaining({ requestId, status: 'PENDING' }));

    // Nobody approves their own request, not even an admin.
    const own = await cairn(['models', 'approve', requestId]);
    expect(own.code).not.toBe(0);
    expect(own.stderr).toMatch(/^error: SELF_APPROVAL_FORBIDDEN: /);

    // A second user, created through the SDK, logs in with a password (the CLI stores a key).
    const sdk = new CairnClient({ address, credentials: { apiKey: adminKey } });
    try {
      await sdk.auth.createUser({
        username: 'abe',
        password: 'abe-password',
        roles: [gatewayAuthV1.Role.ROLE_APPROVER],
      });
    } finally {
      sdk.close();
    }
    const abeConfig = path.join(work, 'abe', 'config.json');
    const login = await cairn(['login', '--address', address, '--username', 'abe', '--password-stdin'], {
      config: abeConfig,
      input: 'abe-password\n',
    });
    expect(login.code).toBe(0);
    const stored = JSON.parse(await readFile(abeConfig, 'utf8')) as Record<string, string>;
    expect(stored.apiKey).toMatch(/^cairn_/);
    expect(JSON.stringify(stored)).not.toContain('abe-password');
    expect(
      await cairnJson<{ principal: string; roles: string[] }>(['whoami'], { config: abeConfig }),
    ).toMatchObject({
      principal: 'user:abe',
      roles: ['approver'],
    });

    const approved = await cairnJson<{ status: string; approvals: Array<{ approver: string }> }>(
      ['models', 'approve', requestId, '--comment', 'lgtm'],
      { config: abeConfig },
    );
    expect(approved.status).toBe('APPLIED');
    expect(approved.approvals.map((a) => a.approver)).toEqual(['user:abe']);

    const model = await cairnJson<{ latestVersions: Array<{ version: string; currentStage: string }> }>([
      'models',
      'show',
      MODEL,
    ]);
    expect(model.latestVersions).toContainEqual(
      expect.objectContaining({ version, currentStage: 'Production' }),
    );
  });

  it('sets and deletes an alias', async () => {
    expect((await cairn(['models', 'alias', 'set', MODEL, 'champion', version])).code).toBe(0);
    const withAlias = await cairnJson<{ aliases: Array<{ alias: string; version: string }> }>([
      'models',
      'show',
      MODEL,
    ]);
    expect(withAlias.aliases).toContainEqual({ alias: 'champion', version });
    expect((await cairn(['models', 'alias', 'delete', MODEL, 'champion'])).code).toBe(0);
    const without = await cairnJson<{ aliases: unknown[] }>(['models', 'show', MODEL]);
    expect(without.aliases).toEqual([]);
  });

  it('shows the audit trail, verifies the version’s signature and the audit chain', async () => {
    const trail = await cairnJson<Array<{ actor: string; action: string }>>([
      'models',
      'audit',
      '--model',
      MODEL,
    ]);
    expect(trail.map((e) => e.actor)).toEqual(expect.arrayContaining(['user:admin', 'user:abe']));

    const verified = await cairnJson<{ valid: boolean; recordedDigest: string; computedDigest: string }>([
      'models',
      'verify',
      MODEL,
      version,
    ]);
    expect(verified.valid).toBe(true);
    expect(verified.computedDigest).toBe(verified.recordedDigest);

    const chain = await cairnJson<{ ok: boolean; entriesChecked: number }>(['models', 'audit', 'verify']);
    expect(chain.ok).toBe(true);
    expect(chain.entriesChecked).toBeGreaterThan(0);

    const missing = await cairn(['models', 'show', 'no-such-model']);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toMatch(/^error: [A-Z_]+NOT_FOUND: /);
  });

  it('watches events: the registry’s about the model, and a replay after an event id', async () => {
    const first = await waitFor(
      'a registry event about the model',
      () => registryWatch.lines.map((l) => JSON.parse(l) as EventLine).find((e) => e.subject === MODEL),
      30_000,
      100,
    );
    expect(first.type).toMatch(/^cairn\.registry\./);
    // Ctrl-C stops the watch cleanly.
    registryWatch.child.kill('SIGINT');
    expect(await registryWatch.exited).toBe(0);

    // Resuming after the first event replays the later ones from the journal.
    const replay = watch(['--subject', MODEL, '--after', first.id]);
    const next = await waitFor(
      'a replayed event',
      () => replay.lines.map((l) => JSON.parse(l) as EventLine)[0],
      30_000,
      100,
    );
    expect(next.subject).toBe(MODEL);
    expect(next.sequence).toBeGreaterThan(first.sequence);
    replay.child.kill('SIGINT');
    expect(await replay.exited).toBe(0);
  });

  it('logs out', async () => {
    expect((await cairn(['logout'])).code).toBe(0);
    await expect(stat(adminConfig)).rejects.toMatchObject({ code: 'ENOENT' });
    const after = await cairn(['whoami']);
    expect(after).toMatchObject({ code: 3, stderr: expect.stringMatching(/^error: NOT_LOGGED_IN: /) });
  });
});
