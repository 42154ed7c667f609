import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Metadata, status } from '@grpc/grpc-js';
import { registryV1, trackingV1 } from '@cairn/proto';
import { CairnError } from '@cairn/sdk';
import { describeFailure, runCli } from './cli';
import { eventLine } from './commands/events.commands';
import { uploadProgress } from './commands/tracking.commands';
import { filterLiteral } from './commands/registry.commands';
import { configPath, ConfigError, readConfig, removeConfig, resolveConnection, writeConfig } from './config';
import { CliContext, EXIT } from './context';
import { formatBytes, formatTable, toJson } from './output';
import { parseDuration, parseKeyValue, parseMetric, parseStage } from './parse';
import { runView, transitionRequestView } from './views';

describe('argument parsing', () => {
  it('reads key=value, keeping any further = in the value', () => {
    expect(parseKeyValue('lr=0.1')).toEqual({ key: 'lr', value: '0.1' });
    expect(parseKeyValue('q=a=b')).toEqual({ key: 'q', value: 'a=b' });
    expect(parseKeyValue('empty=')).toEqual({ key: 'empty', value: '' });
    expect(() => parseKeyValue('novalue')).toThrow(/key=value/);
    expect(() => parseKeyValue('=v')).toThrow(/key=value/);
  });

  it('reads metrics as key=value[@step]', () => {
    expect(parseMetric('auc=0.91')).toEqual({ key: 'auc', value: 0.91, step: 0 });
    expect(parseMetric('loss=1.5e-3@42')).toEqual({ key: 'loss', value: 0.0015, step: 42 });
    expect(parseMetric('x=-Infinity@-1')).toEqual({ key: 'x', value: -Infinity, step: -1 });
    expect(Number.isNaN(parseMetric('x=NaN').value)).toBe(true);
    expect(() => parseMetric('auc=high')).toThrow(/not a number/);
    expect(() => parseMetric('auc=@3')).toThrow(/not a number/);
    expect(() => parseMetric('auc=1@1.5')).toThrow(/not an integer/);
  });

  it('reads stages as MLflow names them, case-insensitively', () => {
    expect(parseStage('Production')).toBe(registryV1.Stage.STAGE_PRODUCTION);
    expect(parseStage('staging')).toBe(registryV1.Stage.STAGE_STAGING);
    expect(parseStage('STAGE_ARCHIVED')).toBe(registryV1.Stage.STAGE_ARCHIVED);
    expect(() => parseStage('prod')).toThrow(/one of None, Staging, Production, Archived/);
  });

  it('reads durations', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(() => parseDuration('1y')).toThrow(/duration/);
  });

  it('quotes filter literals', () => {
    expect(filterLiteral("o'brien")).toBe("'o\\'brien'");
  });
});

describe('config', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-cli-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('is found at CAIRN_CONFIG, else under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(configPath({ CAIRN_CONFIG: '/x/c.json', HOME: '/home/u' })).toBe('/x/c.json');
    expect(configPath({ XDG_CONFIG_HOME: '/xdg', HOME: '/home/u' })).toBe('/xdg/cairn/config.json');
    expect(configPath({ HOME: '/home/u' })).toBe('/home/u/.config/cairn/config.json');
  });

  it('is written readable by its owner only, read back, and removed', async () => {
    const file = path.join(dir, 'nested', 'config.json');
    await writeConfig(file, { address: 'h:1', apiKey: 'cairn_a_b', principal: 'user:admin' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(await readConfig(file)).toEqual({ address: 'h:1', apiKey: 'cairn_a_b', principal: 'user:admin' });
    // Overwriting an existing file keeps it private.
    await writeConfig(file, { address: 'h:2' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await removeConfig(file)).toBe(true);
    expect(await readConfig(file)).toBeUndefined();
    expect(await removeConfig(file)).toBe(false);
  });

  it('rejects a malformed file instead of ignoring it', async () => {
    const file = path.join(dir, 'config.json');
    await writeFile(file, '{"address": 5}');
    await expect(readConfig(file)).rejects.toBeInstanceOf(ConfigError);
    await writeFile(file, 'not json');
    await expect(readConfig(file)).rejects.toThrow(/not valid JSON/);
  });

  it('lets CAIRN_ADDRESS and CAIRN_API_KEY override the stored values', () => {
    const stored = { address: 'stored:1', apiKey: 'stored-key' };
    expect(resolveConnection(stored, {})).toEqual({ address: 'stored:1', apiKey: 'stored-key' });
    expect(resolveConnection(stored, { CAIRN_ADDRESS: 'env:2', CAIRN_API_KEY: 'env-key' })).toEqual({
      address: 'env:2',
      apiKey: 'env-key',
    });
    expect(resolveConnection(undefined, {})).toEqual({ address: '127.0.0.1:50051', apiKey: undefined });
  });
});

describe('output', () => {
  it('aligns table columns under upper-case headers, with - for empty cells', () => {
    expect(
      formatTable(
        ['id', 'name', 'note'],
        [
          ['1', 'churn', ''],
          ['22', 'a', 'two\nlines'],
        ],
      ),
    ).toBe(['ID  NAME   NOTE', '1   churn  -', '22  a      two lines'].join('\n'));
  });

  it('writes non-finite metric values as strings in JSON', () => {
    expect(JSON.parse(toJson({ v: NaN, w: Infinity, x: 1 }))).toEqual({ v: 'NaN', w: 'Infinity', x: 1 });
  });

  it('formats byte counts', () => {
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });

  it('names enum values in JSON views', () => {
    const run = runView({
      info: {
        runId: 'r',
        runName: 'n',
        experimentId: '1',
        userId: 'user:a',
        status: trackingV1.RunStatus.RUN_STATUS_FINISHED,
        startTime: 1,
        artifactUri: '',
        lifecycleStage: trackingV1.LifecycleStage.LIFECYCLE_STAGE_ACTIVE,
      },
      data: { metrics: [], params: [{ key: 'k', value: 'v' }], tags: [] },
      inputs: undefined,
    });
    expect(run.info).toMatchObject({ status: 'FINISHED', lifecycleStage: 'ACTIVE' });
    const request = transitionRequestView(
      registryV1.TransitionRequest.fromPartial({
        status: registryV1.TransitionRequestStatus.TRANSITION_REQUEST_STATUS_PENDING,
        to: { target: { $case: 'stage', value: registryV1.Stage.STAGE_PRODUCTION } },
      }),
    );
    expect(request).toMatchObject({ status: 'PENDING', to: { stage: 'Production' } });
  });

  it('prints an event on one line', () => {
    expect(
      eventLine({ id: 'e1', type: 't.v1', source: 's', subject: 'm', time: 0, dataJson: '{}', sequence: 7 }),
    ).toBe('- t.v1 m e1 #7');
  });
});

describe('failures', () => {
  it('print one line with the reason code, and exit codes tell the common cases apart', () => {
    const md = new Metadata();
    md.set('cairn-reason', 'RUN_NOT_FOUND');
    expect(describeFailure(new CairnError(status.NOT_FOUND, 'RUN_NOT_FOUND', 'no run r', md))).toEqual({
      line: 'error: RUN_NOT_FOUND: no run r',
      exitCode: EXIT.notFound,
    });
    expect(
      describeFailure(new CairnError(status.PERMISSION_DENIED, 'PERMISSION_DENIED', 'no')).exitCode,
    ).toBe(EXIT.permissionDenied);
    expect(
      describeFailure(new CairnError(status.UNAUTHENTICATED, 'CREDENTIALS_INVALID', 'bad')).exitCode,
    ).toBe(EXIT.unauthenticated);
    expect(describeFailure(Object.assign(new Error('nope'), { code: 'ENOENT' }))).toEqual({
      line: 'error: ENOENT: nope',
      exitCode: EXIT.error,
    });
  });

  async function run(args: string[], env: Record<string, string> = {}) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: string[] = [];
    const err: string[] = [];
    stdout.on('data', (d: Buffer) => out.push(d.toString()));
    stderr.on('data', (d: Buffer) => err.push(d.toString()));
    const ctx = new CliContext(
      { stdout, stderr },
      env,
      () => () => undefined,
      async () => '',
    );
    const code = await runCli(args, ctx);
    return { code, stdout: out.join(''), stderr: err.join('') };
  }

  it('reports usage errors as USAGE with exit code 2', async () => {
    const res = await run(['runs', 'log']);
    expect(res.code).toBe(EXIT.usage);
    expect(res.stderr).toMatch(/^error: USAGE: missing required argument 'run'/);
    const bad = await run(['runs', 'log', 'r1', '--metric', 'auc=high']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/error: USAGE: .*not a number/);
  });

  it('refuses to call without credentials, before any network call', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-cli-'));
    try {
      const res = await run(['whoami'], { CAIRN_CONFIG: path.join(dir, 'none.json') });
      expect(res).toMatchObject({
        code: EXIT.unauthenticated,
        stderr: expect.stringMatching(/^error: NOT_LOGGED_IN: /),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints help on stdout with exit code 0', async () => {
    const res = await run(['models', '--help']);
    expect(res.code).toBe(EXIT.ok);
    expect(res.stdout).toContain('approve');
  });
});

describe('upload progress', () => {
  function contextWith(isTTY: boolean) {
    const stderr = Object.assign(new PassThrough(), { isTTY });
    const chunks: string[] = [];
    stderr.on('data', (d: Buffer) => chunks.push(d.toString()));
    const ctx = new CliContext(
      { stdout: new PassThrough(), stderr },
      {},
      () => () => undefined,
      async () => '',
    );
    return { ctx, text: () => chunks.join('') };
  }
  const file = (bytes: number) => ({ path: 'model/w.bin', bytes, totalBytes: 2048 });

  it('draws a bar on a terminal', () => {
    const { ctx, text } = contextWith(true);
    const progress = uploadProgress(ctx);
    for (const bytes of [0, 1024, 2048]) {
      progress.update({ file: file(bytes), filesDone: 0, fileCount: 1, bytes, totalBytes: 2048 });
    }
    progress.stop();
    expect(text()).toContain('100% 2.0 KiB/2.0 KiB model/w.bin');
  });

  it('prints one plain line per finished file otherwise', () => {
    const { ctx, text } = contextWith(false);
    const progress = uploadProgress(ctx);
    for (const bytes of [0, 1024, 2048]) {
      progress.update({ file: file(bytes), filesDone: 1, fileCount: 2, bytes, totalBytes: 4096 });
    }
    progress.stop();
    expect(text()).toBe('uploaded model/w.bin (2.0 KiB) [2/2]\n');
  });
});
