import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createDataSource, migrateUp } from '@cairn/persistence';
import { createTestDatabase, type TestDatabase } from '@cairn/testing';
import { Baseline1764000000000 } from '../migrations/1764000000000-baseline';
import { TrackingTables1764200000000 } from '../migrations/1764200000000-tracking-tables';
import { CoveringIndexes1764300000000 } from '../migrations/1764300000000-covering-indexes';
import { compileExperimentSearch, nextExperimentPageToken } from './experiment-search.compiler';
import {
  type ExperimentOrderByClause,
  parseExperimentOrderBy,
  parseRunOrderBy,
  type RunOrderByClause,
} from './order-by.parser';
import { parseExperimentFilter, type ExperimentFilterClause } from './experiment-filter.parser';
import { compileRunSearch, nextRunPageToken, type RunSearchInput } from './run-search.compiler';
import { parseRunFilter, type RunFilterClause } from './run-filter.parser';
import type { ViewTypeName } from './view-type';

/*
 * The compiled searches against real Postgres, checked against a plain in-memory evaluation of
 * the same filter (MLflow's semantics) and of MLflow's ordering rules, over a few hundred
 * seeded runs with NaN and infinite metrics, missing keys, long params and dataset inputs.
 */

jest.setTimeout(180_000);

const SCHEMA = 'tracking';
const BASE = 1_700_000_000_000;

interface Run {
  run_id: string;
  experiment_id: string;
  run_name: string;
  user_id: string;
  status: string;
  start_time: number;
  end_time: number | null;
  lifecycle_stage: 'active' | 'deleted';
  artifact_uri: string;
  metrics: Map<string, number>;
  params: Map<string, string>;
  tags: Map<string, string>;
  inputs: Array<{ dataset_id: string; name: string; digest: string; context: string | null }>;
}

interface Experiment {
  experiment_id: string;
  name: string;
  lifecycle_stage: 'active' | 'deleted';
  creation_time: number;
  last_update_time: number;
  tags: Map<string, string>;
}

/** mulberry32: the fixture is the same on every run, so the filters below can name its rows. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20251201);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const chance = (p: number): boolean => random() < p;

const LONG = 'p'.repeat(300);
const STATUSES = ['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED'];
const METRIC_VALUES = [0, -0, 0.1, 0.5, 0.9, 0.95, 1, -3.5, 1e-9, 123.456, Infinity, -Infinity, NaN, NaN];

const experiments: Experiment[] = Array.from({ length: 25 }, (_, i) => ({
  experiment_id: String(i + 1),
  name: `exp-${String(i + 1).padStart(2, '0')}`,
  lifecycle_stage: i % 6 === 5 ? 'deleted' : 'active',
  creation_time: BASE + Math.floor(random() * 8) * 1000,
  last_update_time: BASE + Math.floor(random() * 20) * 1000,
  tags: new Map(chance(0.7) ? [['owner', pick(['alice', 'bob', 'Bob'])]] : []),
}));

const datasets = ['1', '2', '3'].flatMap((experiment_id) =>
  [
    ['train', 'd1'],
    ['eval', 'd2'],
    ['holdout', 'd3'],
  ].map(([name, digest]) => ({ dataset_id: randomUUID(), experiment_id, name: name, digest: digest })),
);

let runCounter = 0;
function makeRun(experiment_id: string): Run {
  const i = runCounter++;
  const run_id = Array.from({ length: 32 }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('');
  const start_time = BASE + Math.floor(random() * 60) * 1000;
  const metrics = new Map<string, number>();
  for (const key of ['acc', 'loss', 'f1 score', 'val.loss']) {
    if (chance(0.75))
      metrics.set(key, chance(0.8) ? pick(METRIC_VALUES) : Math.round(random() * 2000) / 1000);
  }
  const params = new Map<string, string>();
  if (chance(0.8)) params.set('lr', pick(['0.1', '0.01', '0.001']));
  if (chance(0.8)) params.set('model', pick(['cnn', 'Cnn', 'rnn', 'mlp', 'xgboost']));
  if (chance(0.5)) params.set('long', LONG + pick(['a', 'b']));
  if (chance(0.5)) params.set('optimizer', pick(['adam', 'sgd']));
  const tags = new Map<string, string>();
  if (chance(0.8)) tags.set('team', pick(['vision', 'Vision', 'nlp', 'speech']));
  if (chance(0.6)) tags.set('user-name', pick(['alice', 'bob']));
  if (chance(0.6)) tags.set('note', pick(["it's", '50%', '500', 'a_b', 'axb', 'back\\slash', 'plain']));
  const inputs = datasets
    .filter((d) => d.experiment_id === experiment_id && chance(0.4))
    .map((d) => ({ ...d, context: pick(['training', 'eval', null]) }));
  return {
    run_id,
    experiment_id,
    run_name: `run-${pick(['alpha', 'beta', 'gamma', 'delta'])}-${i % 7}`,
    user_id: pick(['alice', 'bob', 'carol']),
    status: pick(STATUSES),
    start_time,
    end_time: chance(0.2) ? null : start_time + Math.floor(random() * 50) * 1000,
    lifecycle_stage: chance(0.1) ? 'deleted' : 'active',
    artifact_uri: `s3://bucket/${experiment_id}/${run_id}/artifacts`,
    metrics,
    params,
    tags,
    inputs,
  };
}

const runs: Run[] = Array.from({ length: 320 }, () => makeRun(pick(['1', '1', '2', '3'])));
const someIds = [
  ...runs
    .filter((r) => r.experiment_id !== '3' && r.lifecycle_stage === 'active')
    .slice(0, 3)
    .map((r) => r.run_id),
  'not-a-run',
];

/** Postgres' text form of a double, keeping -0 (String(-0) is "0"). */
const float8 = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

let db: TestDatabase;
let client: Client;

async function insertRuns(batch: readonly Run[]): Promise<void> {
  await client.query(
    `INSERT INTO ${SCHEMA}.runs (run_id, experiment_id, run_name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])`,
    [
      batch.map((r) => r.run_id),
      batch.map((r) => r.experiment_id),
      batch.map((r) => r.run_name),
      batch.map((r) => r.user_id),
      batch.map((r) => r.status),
      batch.map((r) => r.start_time),
      batch.map((r) => r.end_time),
      batch.map((r) => r.lifecycle_stage),
      batch.map((r) => r.artifact_uri),
    ],
  );
  const metrics = batch.flatMap((r) => [...r.metrics].map(([k, v]) => [r.run_id, k, float8(v)]));
  await client.query(
    `INSERT INTO ${SCHEMA}.latest_metrics (run_id, key, value, timestamp, step)
     SELECT m.run_id, m.key, m.value, ${BASE}, 0 FROM unnest($1::text[], $2::text[], $3::float8[]) AS m(run_id, key, value)`,
    [metrics.map((m) => m[0]), metrics.map((m) => m[1]), metrics.map((m) => m[2])],
  );
  for (const [table, field] of [
    ['params', 'params'],
    ['run_tags', 'tags'],
  ] as const) {
    const rows = batch.flatMap((r) => [...r[field]].map(([k, v]) => [r.run_id, k, v]));
    await client.query(
      `INSERT INTO ${SCHEMA}.${table} (run_id, key, value) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`,
      [rows.map((x) => x[0]), rows.map((x) => x[1]), rows.map((x) => x[2])],
    );
  }
  const inputs = batch.flatMap((r) => r.inputs.map((i) => [r.run_id, i.dataset_id, i.context]));
  await client.query(
    `INSERT INTO ${SCHEMA}.run_inputs (run_id, dataset_id, context) SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[])`,
    [inputs.map((x) => x[0]), inputs.map((x) => x[1]), inputs.map((x) => x[2])],
  );
}

beforeAll(async () => {
  db = await createTestDatabase('search');
  const ds = createDataSource({
    url: db.url,
    schema: SCHEMA,
    service: 'tracking-search-test',
    migrations: [Baseline1764000000000, TrackingTables1764200000000, CoveringIndexes1764300000000],
  });
  await ds.initialize();
  try {
    await migrateUp(ds, SCHEMA);
  } finally {
    await ds.destroy();
  }
  client = new Client({ connectionString: db.url });
  await client.connect();
  for (const e of experiments) {
    await client.query(
      `INSERT INTO ${SCHEMA}.experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        e.experiment_id,
        e.name,
        `s3://bucket/${e.experiment_id}`,
        e.lifecycle_stage,
        e.creation_time,
        e.last_update_time,
      ],
    );
    for (const [k, v] of e.tags) {
      await client.query(
        `INSERT INTO ${SCHEMA}.experiment_tags (experiment_id, key, value) VALUES ($1, $2, $3)`,
        [e.experiment_id, k, v],
      );
    }
  }
  for (const d of datasets) {
    await client.query(
      `INSERT INTO ${SCHEMA}.datasets (dataset_id, experiment_id, name, digest, source_type, source) VALUES ($1, $2, $3, $4, 'local', 'file:///x')`,
      [d.dataset_id, d.experiment_id, d.name, d.digest],
    );
  }
  await insertRuns(runs);
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

// ---------------------------------------------------------------------------------------------
// The reference: MLflow's semantics, evaluated in memory.

function like(value: string, pattern: string, insensitive: boolean): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') re += (pattern[++i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (ch === '%') re += '[\\s\\S]*';
    else if (ch === '_') re += '[\\s\\S]';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, insensitive ? 'iu' : 'u').test(value);
}

function compareWith<T extends number | bigint>(a: T, op: string, b: T): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    default:
      throw new Error(op);
  }
}

function matchString(
  value: string | null | undefined,
  op: string,
  operand: string | readonly string[],
): boolean {
  if (value === null || value === undefined) return false;
  if (typeof operand !== 'string') {
    if (op === 'IN') return operand.includes(value);
    if (op === 'NOT IN') return !operand.includes(value);
    throw new Error(op);
  }
  switch (op) {
    case '=':
      return value === operand;
    case '!=':
      return value !== operand;
    case 'LIKE':
      return like(value, operand, false);
    case 'ILIKE':
      return like(value, operand, true);
    default:
      throw new Error(op);
  }
}

function matchesClause(run: Run, c: RunFilterClause): boolean {
  switch (c.entity) {
    case 'metric': {
      const v = run.metrics.get(c.key);
      // A NaN metric satisfies no comparison (Cairn's choice, see run-search.compiler.ts).
      return v !== undefined && !Number.isNaN(v) && compareWith(v, c.comparator, c.value);
    }
    case 'param':
    case 'tag': {
      const v = (c.entity === 'param' ? run.params : run.tags).get(c.key);
      if (c.value === null) return c.comparator === 'IS NULL' ? v === undefined : v !== undefined;
      return matchString(v, c.comparator, c.value);
    }
    case 'attribute': {
      if (typeof c.value === 'bigint') {
        const v = run[c.key];
        return v !== null && compareWith(BigInt(v), c.comparator, c.value);
      }
      return matchString(run[c.key as 'status'], c.comparator, c.value);
    }
    case 'dataset':
      return run.inputs.some((i) => matchString(i[c.key], c.comparator, c.value));
    default: {
      const unreachable: never = c;
      throw new Error(JSON.stringify(unreachable));
    }
  }
}

function visible(lifecycle: string, viewType: ViewTypeName): boolean {
  return (
    viewType === 'ALL' || (viewType === 'ACTIVE_ONLY' ? lifecycle === 'active' : lifecycle === 'deleted')
  );
}

/** Ranks strings as the database collation orders them (MLflow relies on the database too). */
async function collation(strings: Iterable<string>): Promise<(a: string, b: string) => number> {
  const { rows } = await client.query<{ v: string }>('SELECT v FROM unnest($1::text[]) AS t(v) ORDER BY v', [
    [...new Set(strings)],
  ]);
  const rank = new Map(rows.map((r, i) => [r.v, i]));
  return (a, b) => rank.get(a)! - rank.get(b)!;
}

function runStrings(rs: readonly Run[]): string[] {
  return rs.flatMap((r) => [
    r.run_id,
    r.run_name,
    r.user_id,
    r.status,
    r.artifact_uri,
    ...r.params.values(),
    ...r.tags.values(),
  ]);
}

/** A rank (0 present, then NaN for metrics, then missing) and the value, as MLflow sorts. */
function sortKey(run: Run, o: RunOrderByClause): [number, number | string | null] {
  switch (o.entity) {
    case 'metric': {
      const v = run.metrics.get(o.key);
      if (v === undefined) return [2, null];
      return Number.isNaN(v) ? [1, null] : [0, v];
    }
    case 'param':
    case 'tag': {
      const v = (o.entity === 'param' ? run.params : run.tags).get(o.key);
      return v === undefined ? [1, null] : [0, v];
    }
    case 'attribute': {
      const v = run[o.key];
      return v === null ? [1, null] : [0, v];
    }
    default: {
      const unreachable: never = o;
      throw new Error(JSON.stringify(unreachable));
    }
  }
}

function mlflowOrder(orderBy: readonly RunOrderByClause[], collate: (a: string, b: string) => number) {
  const byStart = orderBy.some((o) => o.entity === 'attribute' && o.key === 'start_time');
  return (a: Run, b: Run): number => {
    for (const o of orderBy) {
      const [ra, va] = sortKey(a, o);
      const [rb, vb] = sortKey(b, o);
      if (ra !== rb) return ra - rb;
      if (ra !== 0) continue;
      const c =
        typeof va === 'number' && typeof vb === 'number'
          ? va < vb
            ? -1
            : va > vb
              ? 1
              : 0
          : collate(va as string, vb as string);
      if (c !== 0) return o.ascending ? c : -c;
    }
    if (!byStart && a.start_time !== b.start_time) return b.start_time - a.start_time;
    return collate(a.run_id, b.run_id);
  };
}

async function expectedRuns(
  input: Omit<RunSearchInput, 'schema' | 'maxResults'>,
  from = runs,
): Promise<string[]> {
  const clauses = parseRunFilter(input.filter);
  const order = parseRunOrderBy(input.orderBy);
  const ids = new Set(input.experimentIds);
  const matching = from.filter(
    (r) =>
      ids.has(r.experiment_id) &&
      visible(r.lifecycle_stage, input.viewType) &&
      clauses.every((c) => matchesClause(r, c)),
  );
  const collate = await collation(runStrings(from));
  return matching.sort(mlflowOrder(order, collate)).map((r) => r.run_id);
}

async function searchAll(input: Omit<RunSearchInput, 'schema' | 'maxResults'>): Promise<string[]> {
  const compiled = compileRunSearch({ ...input, schema: SCHEMA, maxResults: 50_000 });
  const { rows } = await client.query<{ run_id: string }>(compiled.sql, compiled.params);
  return rows.map((r) => r.run_id);
}

// ---------------------------------------------------------------------------------------------

const FILTERS = [
  'metrics.acc > 0.5',
  'metrics.acc >= 0.9',
  'metrics.acc < 0.5',
  'metrics.acc <= 0',
  'metrics.acc = 0',
  'metrics.acc != 0.5',
  'metric.loss = 0.95',
  'metrics.acc > 1e308',
  'metrics.acc < -1e308',
  'metrics.acc != 1e999',
  'metrics.`f1 score` >= 0.5',
  'metrics."val.loss" < 1',
  'metrics.val.loss > -1',
  "params.lr = '0.01'",
  "params.lr != '0.01'",
  "params.lr LIKE '0.0%'",
  "param.model ILIKE 'CNN'",
  "params.model LIKE 'C%'",
  "parameters.model = 'cnn'",
  `params.long = '${LONG}a'`,
  `params.long != '${LONG}a'`,
  `params.long LIKE '%a'`,
  'params.optimizer IS NULL',
  'params.optimizer IS NOT NULL',
  "tags.team = 'vision'",
  "tags.team ILIKE 'vision'",
  "tag.team != 'nlp'",
  "tags.note LIKE '50\\%'",
  "tags.note LIKE '%''%'",
  "tags.note = 'it\\'s'",
  "tags.note LIKE 'a\\_b'",
  "tags.note LIKE 'a_b'",
  "tags.note = 'back\\slash'",
  "tags.note LIKE 'back\\\\slash'",
  "tags.`user-name` != 'alice'",
  'tags."user-name" IS NULL',
  'tags.team IS NOT NULL AND tags.note IS NULL',
  "status = 'FINISHED'",
  "attributes.status != 'RUNNING'",
  "status IN ('FAILED', 'KILLED')",
  "status NOT IN ('FINISHED')",
  "attr.user_id LIKE 'a%'",
  "run.run_name ILIKE 'RUN-ALPHA%'",
  "`Run Name` = 'run-beta-3'",
  `run_id IN (${someIds.map((id) => `'${id}'`).join(', ')})`,
  `run_id NOT IN (${someIds.map((id) => `'${id}'`).join(', ')})`,
  "artifact_uri LIKE 's3://bucket/2/%'",
  `start_time >= ${BASE + 30_000}`,
  `start_time = ${runs[5].start_time}`,
  `created < ${BASE + 10_000}`,
  `attributes.end_time > ${BASE + 40_000}`,
  `end_time != ${BASE + 40_000}`,
  `end_time <= ${BASE + 20_000}`,
  "datasets.name = 'train'",
  "dataset.digest IN ('d1', 'd3')",
  "datasets.context = 'training'",
  "datasets.context != 'eval'",
  "datasets.name NOT IN ('train')",
  "datasets.name LIKE 'e%'",
  "datasets.digest ILIKE 'D2'",
  "metrics.acc > 0.5 AND params.lr = '0.01' AND tags.team != 'nlp'",
  "metrics.loss <= 1 and datasets.context = 'eval' and status != 'KILLED'",
];

describe('run search on Postgres', () => {
  it.each(FILTERS.map((f) => [f.length > 90 ? `${f.slice(0, 90)}...` : f, f]))(
    '%s returns what the in-memory evaluation returns, in MLflow order',
    async (_title, filter) => {
      const input = { experimentIds: ['1', '2'], viewType: 'ACTIVE_ONLY' as const, filter, orderBy: [] };
      const expected = await expectedRuns(input);
      expect(expected.length).toBeGreaterThan(0);
      expect(await searchAll(input)).toEqual(expected);
    },
  );

  it.each<[ViewTypeName, string[], string]>([
    ['ALL', ['1', '2', '3'], ''],
    ['DELETED_ONLY', ['1', '2'], ''],
    ['DELETED_ONLY', ['1', '3'], 'metrics.acc >= 0'],
    ['ACTIVE_ONLY', ['3'], "params.model != 'cnn'"],
    ['ALL', ['2'], "datasets.name IN ('train', 'eval')"],
  ])('honours view type %s over experiments %j (filter %j)', async (viewType, experimentIds, filter) => {
    const input = { experimentIds, viewType, filter, orderBy: [] };
    const expected = await expectedRuns(input);
    expect(expected.length).toBeGreaterThan(0);
    expect(await searchAll(input)).toEqual(expected);
  });

  it('returns nothing for an experiment without runs or for no experiment', async () => {
    expect(await searchAll({ experimentIds: ['9'], viewType: 'ALL', filter: '', orderBy: [] })).toEqual([]);
    expect(await searchAll({ experimentIds: [], viewType: 'ALL', filter: '', orderBy: [] })).toEqual([]);
  });

  const ORDERS: string[][] = [
    [],
    ['metrics.acc DESC'],
    ['metrics.acc'],
    ['metrics.`f1 score` DESC', 'metrics.loss'],
    ['params.model', 'metrics.loss DESC'],
    ['tags.team DESC', 'start_time ASC'],
    ['end_time DESC'],
    ['end_time'],
    ['run_name', 'created DESC'],
    ['status', 'user_id DESC', 'params.lr DESC'],
    ['run_id DESC'],
    ['artifact_uri'],
    ['params.long DESC', 'tags.note'],
  ];

  it.each(ORDERS.map((o) => [o]))('orders by %j as MLflow does', async (orderBy) => {
    for (const filter of ['', "tags.team != 'speech'"]) {
      const input = { experimentIds: ['1', '2', '3'], viewType: 'ALL' as const, filter, orderBy };
      const expected = await expectedRuns(input);
      expect(expected.length).toBeGreaterThan(50);
      expect(await searchAll(input)).toEqual(expected);
    }
  });

  it.each<[string, string[], number]>([
    ['', [], 7],
    ['', ['metrics.acc DESC', 'params.lr'], 9],
    ["status != 'KILLED'", ['metrics.`f1 score`', 'tags.team DESC', 'end_time'], 25],
    ['metrics.loss >= 0', ['params.model DESC', 'start_time'], 2],
    ['', ['end_time DESC', 'run_name'], 13],
  ])(
    'pages through filter %j ordered by %j, %d at a time, while runs are inserted',
    async (filter, orderBy, pageSize) => {
      const input = { experimentIds: ['1', '2'], viewType: 'ACTIVE_ONLY' as const, filter, orderBy };
      const before = new Set(runs.map((r) => r.run_id));
      const expected = await expectedRuns(input);
      expect(expected.length).toBeGreaterThan(pageSize * 3);

      const seen: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        const compiled = compileRunSearch({ ...input, schema: SCHEMA, maxResults: pageSize, pageToken });
        const { rows } = await client.query<{ run_id: string }>(compiled.sql, compiled.params);
        expect(rows.length).toBeLessThanOrEqual(pageSize + 1);
        const page = rows.slice(0, pageSize);
        seen.push(...page.map((r) => r.run_id));
        pageToken = rows.length > pageSize ? nextRunPageToken(compiled, page[page.length - 1]) : undefined;
        // Concurrent writers: new runs land before, inside and after the current position.
        const fresh = Array.from({ length: 3 }, () => makeRun(pick(['1', '2'])));
        await insertRuns(fresh);
        runs.push(...fresh);
        pages++;
      } while (pageToken !== undefined && pages < 1000);

      expect(pageToken).toBeUndefined();
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.filter((id) => before.has(id))).toEqual(expected);
    },
  );
});

// ---------------------------------------------------------------------------------------------

function matchesExperiment(e: Experiment, c: ExperimentFilterClause): boolean {
  if (c.entity === 'tag') return matchString(e.tags.get(c.key), c.comparator, c.value);
  if (c.key === 'name') return matchString(e.name, c.comparator, c.value);
  return compareWith(BigInt(e[c.key]), c.comparator, c.value);
}

async function expectedExperiments(
  filter: string,
  orderBy: string[],
  viewType: ViewTypeName,
): Promise<string[]> {
  const clauses = parseExperimentFilter(filter);
  const parsed = parseExperimentOrderBy(orderBy);
  const order: ExperimentOrderByClause[] =
    parsed.length > 0
      ? parsed
      : [
          { key: 'creation_time', ascending: false },
          { key: 'experiment_id', ascending: true },
        ];
  if (!order.some((o) => o.key === 'experiment_id')) order.push({ key: 'experiment_id', ascending: false });
  const collate = await collation(experiments.map((e) => e.name));
  const value = (e: Experiment, key: ExperimentOrderByClause['key']) =>
    key === 'experiment_id' ? Number(e.experiment_id) : e[key];
  return experiments
    .filter((e) => visible(e.lifecycle_stage, viewType) && clauses.every((c) => matchesExperiment(e, c)))
    .sort((a, b) => {
      for (const o of order) {
        const va = value(a, o.key);
        const vb = value(b, o.key);
        const c = typeof va === 'string' ? collate(va, vb as string) : va - (vb as number);
        if (c !== 0) return o.ascending ? c : -c;
      }
      return 0;
    })
    .map((e) => e.experiment_id);
}

describe('experiment search on Postgres', () => {
  it.each<[string, string[], ViewTypeName]>([
    ['', [], 'ACTIVE_ONLY'],
    ["name LIKE 'exp-1%'", [], 'ALL'],
    ["tags.owner = 'alice'", ['name DESC'], 'ACTIVE_ONLY'],
    ["tags.owner ILIKE 'b%' AND name != 'exp-03'", ['last_update_time', 'creation_time DESC'], 'ALL'],
    [`creation_time >= ${BASE + 3000}`, ['creation_time'], 'ACTIVE_ONLY'],
    [`last_update_time < ${BASE + 12_000}`, ['experiment_id DESC'], 'ALL'],
    ['', ['name'], 'DELETED_ONLY'],
  ])('filter %j ordered by %j (%s) pages as the in-memory evaluation', async (filter, orderBy, viewType) => {
    const expected = await expectedExperiments(filter, orderBy, viewType);
    expect(expected.length).toBeGreaterThan(0);
    const input = { schema: SCHEMA, filter, orderBy, viewType };
    const all = compileExperimentSearch({ ...input, maxResults: 1000 });
    const { rows } = await client.query<{ experiment_id: string }>(all.sql, all.params);
    expect(rows.map((r) => r.experiment_id)).toEqual(expected);

    const seen: string[] = [];
    let pageToken: string | undefined;
    do {
      const compiled = compileExperimentSearch({ ...input, maxResults: 2, pageToken });
      const page = (await client.query<{ experiment_id: string }>(compiled.sql, compiled.params)).rows;
      seen.push(...page.slice(0, 2).map((r) => r.experiment_id));
      pageToken = page.length > 2 ? nextExperimentPageToken(compiled, page[1]) : undefined;
    } while (pageToken !== undefined);
    expect(seen).toEqual(expected);
  });
});
