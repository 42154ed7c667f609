import type { DataSource, EntityManager } from 'typeorm';
import type { AppError } from '@cairn/rpc';
import { appFailure, type ModelsFixture, modelsFixture, SCHEMA } from '../../test/models-fixture';
import type { ModelsRepository } from '../models/models.repository';
import { ModelSearch, type SearchQuery } from './model-search';

/*
 * ModelSearch against real Postgres. Results are checked against a plain in-memory evaluation
 * of MLflow's semantics over a seeded registry: names, tags (long ones included), versions of
 * every status and stage with gaps left by deletions, timestamps full of ties. Names are
 * ordered as the database collates them (the reference asks Postgres for that order once).
 */

jest.setTimeout(180_000);

const BASE = 1_700_000_000_000;

interface Model {
  modelId: string;
  name: string;
  creation: number;
  updated: number;
  tags: Map<string, string>;
}

interface Version {
  modelId: string;
  name: string;
  version: number;
  creation: number;
  updated: number;
  runId: string | null;
  source: string;
  status: string;
  stage: string;
  tags: Map<string, string>;
}

/** mulberry32: the same registry on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = prng(20251124);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];

let fx: ModelsFixture;
let ds: DataSource;
let repository: ModelsRepository;
let search: ModelSearch;
const models: Model[] = [];
const versions: Version[] = [];
/** The database's collation order of every model name. */
let nameRank = new Map<string, number>();

async function addModel(
  name: string,
  creation: number,
  updated: number,
  tags: Record<string, string> = {},
): Promise<Model> {
  const [{ model_id: modelId }] = await ds.query<Array<{ model_id: string }>>(
    `INSERT INTO ${SCHEMA}.registered_models (name, created_by, creation_time, last_updated_time)
     VALUES ($1, 'alice', $2, $3) RETURNING model_id::text`,
    [name, creation, updated],
  );
  for (const [key, value] of Object.entries(tags)) {
    await ds.query(`INSERT INTO ${SCHEMA}.registered_model_tags (model_id, key, value) VALUES ($1, $2, $3)`, [
      modelId,
      key,
      value,
    ]);
  }
  const model = { modelId, name, creation, updated, tags: new Map(Object.entries(tags)) };
  models.push(model);
  return model;
}

async function addVersion(
  model: Model,
  version: number,
  v: Partial<Omit<Version, 'tags'>> & { tags?: Record<string, string> } = {},
): Promise<Version> {
  const row: Version = {
    modelId: model.modelId,
    name: model.name,
    version,
    creation: v.creation ?? BASE + version * 1000,
    updated: v.updated ?? BASE,
    runId: v.runId === undefined ? null : v.runId,
    source: v.source ?? `s3://bucket/${model.name}/${version}`,
    status: v.status ?? 'READY',
    stage: v.stage ?? 'None',
    tags: new Map(Object.entries(v.tags ?? {})),
  };
  await ds.query(
    `INSERT INTO ${SCHEMA}.model_versions (model_id, version, user_id, creation_time, last_updated_time, stage,
                                           source, run_id, status, storage_uri, storage_scope, storage_path)
     VALUES ($1, $2, 'alice', $3, $4, $5, $6, $7, $8, $6, 'scope', 'model')`,
    [row.modelId, version, row.creation, row.updated, row.stage, row.source, row.runId, row.status],
  );
  await ds.query(
    `UPDATE ${SCHEMA}.registered_models SET last_version = greatest(last_version, $2) WHERE model_id = $1`,
    [row.modelId, version],
  );
  for (const [key, value] of row.tags) {
    await ds.query(
      `INSERT INTO ${SCHEMA}.model_version_tags (model_id, version, key, value) VALUES ($1, $2, $3, $4)`,
      [row.modelId, version, key, value],
    );
  }
  versions.push(row);
  return row;
}

async function refreshNameRank(): Promise<void> {
  const rows = await ds.query<Array<{ name: string }>>(
    `SELECT name FROM ${SCHEMA}.registered_models ORDER BY name`,
  );
  nameRank = new Map(rows.map((r, i) => [r.name, i]));
}

const LONG = 'b'.repeat(300);

beforeAll(async () => {
  fx = await modelsFixture('registry_search');
  ({ ds, repository } = fx);
  search = new ModelSearch(SCHEMA, repository);

  const prefixes = ['churn', 'Churn', 'fraud', 'FRAUD', 'ranker'];
  const seps = ['-', '_', '.'];
  for (let i = 0; i < 40; i++) {
    const tags: Record<string, string> = {};
    const team = pick(['nlp', 'cv', 'NLP', null]);
    if (team) tags.team = team;
    const owner = pick(['alice', 'bob', null]);
    if (owner) tags.owner = owner;
    if (i % 6 === 0) tags.note = ['50% off', '50x off', 'x_y'][(i / 6) % 3];
    if (i % 9 === 0) tags['my key'] = 'spaced';
    const model = await addModel(
      `${prefixes[i % 5]}${seps[i % 3]}${String(i).padStart(2, '0')}`,
      BASE + (i % 7) * 1000,
      BASE + Math.floor(random() * 10) * 1000,
      tags,
    );
    const count = i % 5;
    for (let v = 1; v <= count; v++) {
      const vtags: Record<string, string> = {};
      const validated = pick(['true', 'false', null]);
      if (validated) vtags.validated = validated;
      await addVersion(model, v, {
        updated: BASE + Math.floor(random() * 6) * 1000,
        runId: pick([null, 'run-a', 'run-b', 'RUN-C', '12345']),
        status: pick(['READY', 'READY', 'FAILED_REGISTRATION', 'PENDING_REGISTRATION']),
        stage: pick(['None', 'Staging', 'Production', 'Archived']),
        tags: vtags,
      });
    }
  }
  // Two long tag values that share their first 256 characters (the indexed prefix).
  await addModel('long-a', BASE, BASE, { blob: LONG });
  await addModel('long-b', BASE, BASE, { blob: `${LONG}c` });
  const lv = await addModel('long-versions', BASE, BASE);
  await addVersion(lv, 1, { tags: { blob: LONG } });
  await addVersion(lv, 2, { tags: { blob: `${LONG}c` } });
  await refreshNameRank();
});

afterAll(async () => {
  await fx?.close();
});

// ---- the reference -------------------------------------------------------------------------

/** Postgres LIKE: `%`, `_`, and the backslash escaping the next character. */
function like(value: string, pattern: string, insensitive = false): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') re += (pattern[++i] ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (ch === '%') re += '[\\s\\S]*';
    else if (ch === '_') re += '[\\s\\S]';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, insensitive ? 'i' : '').test(value);
}

type Key<T> = (x: T) => number | string;
interface Order<T> {
  key: Key<T>;
  descending: boolean;
}

function sorted<T>(xs: readonly T[], order: ReadonlyArray<Order<T>>): T[] {
  return [...xs].sort((a, b) => {
    for (const { key, descending } of order) {
      const x = key(a);
      const y = key(b);
      if (x !== y) return (x < y ? -1 : 1) * (descending ? -1 : 1);
    }
    return 0;
  });
}

const byName = (x: { name: string }) => nameRank.get(x.name)!;
const modelKeys: Record<string, Key<Model>> = {
  name: byName,
  creation_timestamp: (m) => m.creation,
  last_updated_timestamp: (m) => m.updated,
  timestamp: (m) => m.updated,
};
const versionKeys: Record<string, Key<Version>> = {
  name: byName,
  version_number: (v) => v.version,
  creation_timestamp: (v) => v.creation,
  last_updated_timestamp: (v) => v.updated,
};

/** MLflow's order for order_by clauses like `name DESC`, then its tie-breakers. */
function referenceOrder<T>(
  orderBy: readonly string[],
  keys: Record<string, Key<T>>,
  tieBreakers: ReadonlyArray<[string, boolean]>,
): Array<Order<T>> {
  const clauses = orderBy.map((c) => {
    const [written, dir] = c.trim().split(/\s+/);
    const field = written.replace(/^attribute\./, '');
    return [field, (dir ?? 'ASC').toUpperCase() === 'DESC'] as [string, boolean];
  });
  const canonical = (f: string) => (f === 'timestamp' ? 'last_updated_timestamp' : f);
  for (const [field, descending] of tieBreakers) {
    if (!clauses.some(([f]) => canonical(f) === field)) clauses.push([field, descending]);
  }
  return clauses.map(([field, descending]) => ({ key: keys[field], descending }));
}

const modelIds = (xs: ReadonlyArray<{ name: string }>) => xs.map((x) => x.name);
const versionIds = (xs: ReadonlyArray<{ name: string; version: number }>) =>
  xs.map((x) => `${x.name}/v${x.version}`);

async function allModelPages(q: Omit<SearchQuery, 'pageToken'>): Promise<{ names: string[]; pages: number }> {
  const names: string[] = [];
  let pageToken = '';
  let pages = 0;
  do {
    const page = await search.searchModels(ds.manager, { ...q, pageToken });
    expect(page.models.length).toBeLessThanOrEqual(q.maxResults ?? 100);
    names.push(...modelIds(page.models));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken !== '' && pages < 1_000);
  return { names, pages };
}

async function allVersionPages(q: Omit<SearchQuery, 'pageToken'>): Promise<string[]> {
  const ids: string[] = [];
  let pageToken = '';
  let pages = 0;
  do {
    const page = await search.searchVersions(ds.manager, { ...q, pageToken });
    ids.push(...versionIds(page.versions));
    pageToken = page.nextPageToken;
    pages++;
  } while (pageToken !== '' && pages < 1_000);
  return ids;
}

function expectInvalid(err: AppError, message: string | RegExp): void {
  expect(err.kind).toBe('invalid_argument');
  expect(err.reason).toBe('INVALID_PARAMETER_VALUE');
  if (typeof message === 'string') expect(err.message).toBe(message);
  else expect(err.message).toMatch(message);
}

const modelsQuery = (q: Partial<SearchQuery> = {}): SearchQuery => ({
  filter: '',
  orderBy: [],
  pageToken: '',
  maxResults: 1000,
  ...q,
});
const versionsQuery = (q: Partial<SearchQuery> = {}): SearchQuery => ({
  filter: '',
  orderBy: [],
  pageToken: '',
  maxResults: 200_000,
  ...q,
});

// ---- registered models -----------------------------------------------------------------------

describe('searchModels', () => {
  const tag = (m: Model, k: string) => m.tags.get(k);
  it.each<[string, (m: Model) => boolean]>([
    ["name = 'churn-00'", (m) => m.name === 'churn-00'],
    ["name != 'churn-00'", (m) => m.name !== 'churn-00'],
    ["name LIKE 'churn%'", (m) => like(m.name, 'churn%')],
    ["name LIKE '%\\_1_'", (m) => like(m.name, '%\\_1_')],
    ["name ILIKE 'churn%'", (m) => like(m.name, 'churn%', true)],
    ["name ILIKE '%FRAUD%'", (m) => like(m.name, '%FRAUD%', true)],
    ['attribute.name = "FRAUD-03"', (m) => m.name === 'FRAUD-03'],
    ['`name` LIKE "long-%"', (m) => like(m.name, 'long-%')],
    ["tags.team = 'nlp'", (m) => tag(m, 'team') === 'nlp'],
    ["tag.team != 'nlp'", (m) => tag(m, 'team') !== undefined && tag(m, 'team') !== 'nlp'],
    ["tags.team LIKE 'n%'", (m) => like(tag(m, 'team') ?? '\u0000', 'n%')],
    ["tags.team ILIKE 'n%'", (m) => like(tag(m, 'team') ?? '\u0000', 'n%', true)],
    ["tags.note LIKE '50\\% off'", (m) => tag(m, 'note') === '50% off'],
    ["tags.note LIKE '50_ off'", (m) => like(tag(m, 'note') ?? '\u0000', '50_ off')],
    ["tags.note = 'x_y'", (m) => tag(m, 'note') === 'x_y'],
    ['tags."my key" = \'spaced\'', (m) => tag(m, 'my key') === 'spaced'],
    [
      "tags.`my key` = 'spaced' AND name LIKE 'c%'",
      (m) => tag(m, 'my key') === 'spaced' && like(m.name, 'c%'),
    ],
    [
      "tags.team = 'nlp' AND tags.owner != 'bob' AND name ILIKE '%r%'",
      (m) =>
        tag(m, 'team') === 'nlp' &&
        tag(m, 'owner') !== undefined &&
        tag(m, 'owner') !== 'bob' &&
        like(m.name, '%r%', true),
    ],
    [`tags.blob = '${LONG}'`, (m) => tag(m, 'blob') === LONG],
    [`tags.blob = '${LONG}c'`, (m) => tag(m, 'blob') === `${LONG}c`],
    [`tags.blob LIKE '${LONG}%'`, (m) => (tag(m, 'blob') ?? '').startsWith(LONG)],
    ["tags.missing = 'x'", () => false],
    ["name = 'a''; DROP TABLE registry.registered_models; --'", () => false],
    ['', () => true],
    ['   ', () => true],
  ])('filters %s', async (filter, predicate) => {
    const page = await search.searchModels(ds.manager, modelsQuery({ filter }));
    const expected = sorted(models.filter(predicate), [{ key: byName, descending: false }]);
    expect(modelIds(page.models)).toEqual(modelIds(expected));
    expect(page.nextPageToken).toBe('');
  });

  it('finds something for every filter form above (the seed covers them)', async () => {
    for (const filter of ["tags.team = 'nlp'", "tags.note LIKE '50\\% off'", `tags.blob = '${LONG}c'`]) {
      expect((await search.searchModels(ds.manager, modelsQuery({ filter }))).models.length).toBeGreaterThan(
        0,
      );
    }
  });

  it.each([
    [[]],
    [['name']],
    [['name DESC']],
    [['creation_timestamp']],
    [['creation_timestamp DESC']],
    [['last_updated_timestamp DESC']],
    [['timestamp']],
    [['last_updated_timestamp', 'creation_timestamp DESC']],
    [['creation_timestamp DESC', 'name DESC']],
  ])('orders by %j, ties broken by name', async (orderBy) => {
    const page = await search.searchModels(ds.manager, modelsQuery({ orderBy }));
    const expected = sorted(models, referenceOrder(orderBy, modelKeys, [['name', false]]));
    expect(modelIds(page.models)).toEqual(modelIds(expected));
    // The seed has ties on both timestamps, so the tie-breaker decides somewhere.
    expect(new Set(models.map((m) => m.creation)).size).toBeLessThan(models.length);
  });

  it.each([
    ['', [], 1],
    ['', ['last_updated_timestamp DESC'], 4],
    ["name ILIKE '%r%'", ['creation_timestamp'], 3],
    ["tags.team != 'cv'", ['timestamp DESC', 'name DESC'], 2],
  ])(
    'pages through %j ordered by %j, %d at a time, without gaps or repeats',
    async (filter, orderBy, size) => {
      const all = await search.searchModels(ds.manager, modelsQuery({ filter, orderBy }));
      const { names, pages } = await allModelPages({ filter, orderBy, maxResults: size });
      expect(names).toEqual(modelIds(all.models));
      expect(new Set(names).size).toBe(names.length);
      expect(pages).toBe(Math.max(1, Math.ceil(names.length / size)));
    },
  );

  it('returns full records, as the single-model loader builds them', async () => {
    const target = models.find((m) => versions.some((v) => v.modelId === m.modelId && v.version === 3))!;
    await ds.query(
      `INSERT INTO ${SCHEMA}.model_aliases (model_id, alias, version) VALUES ($1, 'champion', 3)`,
      [target.modelId],
    );
    const page = await search.searchModels(ds.manager, modelsQuery({ orderBy: ['creation_timestamp DESC'] }));
    expect(page.models).toHaveLength(models.length);
    for (const record of page.models) {
      expect(record).toEqual(await repository.loadModel(ds.manager, record.name));
    }
    const withAlias = page.models.find((m) => m.name === target.name)!;
    expect(withAlias.aliases).toEqual([{ alias: 'champion', version: 3 }]);
    expect(withAlias.latestVersions.length).toBeGreaterThan(0);
  });

  it('keeps paging exact while models are created', async () => {
    await addModel('stable-10', BASE, BASE + 10);
    await addModel('stable-20', BASE, BASE + 20);
    await addModel('stable-30', BASE, BASE + 30);
    await addModel('stable-40', BASE, BASE + 40);
    const q = { filter: "name LIKE 'stable-%'", orderBy: ['timestamp DESC'], maxResults: 2 };
    const first = await search.searchModels(ds.manager, { ...q, pageToken: '' });
    expect(modelIds(first.models)).toEqual(['stable-40', 'stable-30']);
    // One before the cursor (never seen), one after it, one tied with the last row returned.
    await addModel('stable-50', BASE, BASE + 50);
    await addModel('stable-15', BASE, BASE + 15);
    await addModel('stable-31', BASE, BASE + 30);
    await refreshNameRank();
    const rest: string[] = [];
    let pageToken = first.nextPageToken;
    while (pageToken !== '') {
      const page = await search.searchModels(ds.manager, { ...q, pageToken });
      rest.push(...modelIds(page.models));
      pageToken = page.nextPageToken;
    }
    // 'stable-31' ties with 'stable-30' on the timestamp and comes after it by name.
    expect(rest).toEqual(['stable-31', 'stable-20', 'stable-15', 'stable-10']);
  });

  it('serves 100 models by default and at most 1000', async () => {
    for (let i = 0; i < 110; i++) await addModel(`bulk-${String(i).padStart(3, '0')}`, BASE, BASE);
    await refreshNameRank();
    const page = await search.searchModels(ds.manager, {
      filter: "name LIKE 'bulk-%'",
      orderBy: [],
      pageToken: '',
    });
    expect(page.models).toHaveLength(100);
    expect(page.models[99].name).toBe('bulk-099');
    const next = await search.searchModels(ds.manager, {
      filter: "name LIKE 'bulk-%'",
      orderBy: [],
      pageToken: page.nextPageToken,
    });
    expect(modelIds(next.models)).toEqual(Array.from({ length: 10 }, (_, i) => `bulk-${100 + i}`));
    expect(next.nextPageToken).toBe('');

    expect((await search.searchModels(ds.manager, modelsQuery({ maxResults: 1000 }))).models).toHaveLength(
      models.length,
    );
    expectInvalid(
      await appFailure(search.searchModels(ds.manager, modelsQuery({ maxResults: 1001 }))),
      'Invalid value for request parameter max_results. It must be at most 1000, but got value 1001',
    );
    for (const n of [0, -1, 2.5]) {
      expectInvalid(
        await appFailure(search.searchModels(ds.manager, modelsQuery({ maxResults: n }))),
        `Invalid value for request parameter max_results. It must be a positive integer, but got ${n}`,
      );
    }
  });

  it.each<[string, string | RegExp]>([
    [
      "description = 'x'",
      "Invalid attribute key 'description' specified. Valid keys are '{'name'}' (at position 0)",
    ],
    [
      "metrics.x = 'x'",
      /^Invalid entity type 'metrics'. Valid entity types are \('attribute', 'tag', 'tags'\)/,
    ],
    ["name > 'a'", /^Invalid comparator for attribute: >/],
    ["name IN ('a')", /^Invalid comparator for attribute: IN/],
    ["tags.t < 'a'", /^Invalid comparator for tag: </],
    ['tags.t IS NULL', /^Invalid comparator for tag: IS NULL/],
    ["name = 'a' OR name = 'b'", /'OR' is not supported/],
    ['name = a', /not quoted or unidentified quote types/],
    ['name = 1', /Expected a quoted string value for attributes/],
    ["name = 'unterminated", /Unterminated quoted string/],
    ["name LIKE 'ends\\'", /Unterminated quoted string|must not end with the escape character/],
  ])('rejects the filter %j', async (filter, message) => {
    const err = await appFailure(search.searchModels(ds.manager, modelsQuery({ filter })));
    expectInvalid(err, message);
    expect(err.details.position).toMatch(/^\d+$/);
  });

  it.each<[string[], string | RegExp]>([
    [
      ['description'],
      /^Invalid order by key 'description' specified. Valid keys are '\{'creation_timestamp', 'last_updated_timestamp', 'name', 'timestamp'\}'/,
    ],
    [['tags.team'], /^Invalid order by key 'tags.team' specified/],
    [['name sideways'], /^Invalid ordering key in order_by clause 'name sideways'./],
    [['name', 'name DESC'], /^`order_by` contains duplicate fields: \['name', 'name DESC'\]/],
    [['timestamp', 'last_updated_timestamp'], /^`order_by` contains duplicate fields/],
    [[''], /^Invalid order_by clause ''. Could not be parsed./],
  ])('rejects the order_by %j', async (orderBy, message) => {
    expectInvalid(await appFailure(search.searchModels(ds.manager, modelsQuery({ orderBy }))), message);
  });

  it('accepts a page token only for the filter and order it came from', async () => {
    const q = { filter: "name LIKE 'c%'", orderBy: ['creation_timestamp'], maxResults: 2 };
    const { nextPageToken } = await search.searchModels(ds.manager, { ...q, pageToken: '' });
    expect(nextPageToken).not.toBe('');
    for (const other of [{ filter: "name LIKE 'C%'" }, { orderBy: ['creation_timestamp DESC'] }]) {
      expectInvalid(
        await appFailure(search.searchModels(ds.manager, { ...q, ...other, pageToken: nextPageToken })),
        /^Invalid page token: it belongs to a different search/,
      );
    }
    // A different page size continues the same search.
    const more = await search.searchModels(ds.manager, { ...q, maxResults: 5, pageToken: nextPageToken });
    expect(more.models.length).toBeGreaterThan(0);
    // Nor is a registered-model token a model-version one.
    expectInvalid(
      await appFailure(
        search.searchVersions(ds.manager, {
          ...q,
          orderBy: ['creation_timestamp'],
          pageToken: nextPageToken,
        }),
      ),
      /^Invalid page token: it belongs to a different search/,
    );
  });

  it('refuses malformed and tampered tokens before they reach SQL', async () => {
    const q = { filter: '', orderBy: ['creation_timestamp'], maxResults: 2 };
    const { nextPageToken } = await search.searchModels(ds.manager, { ...q, pageToken: '' });
    const body = JSON.parse(Buffer.from(nextPageToken, 'base64url').toString('utf8')) as { k: unknown[] };
    const forge = (k: unknown[]) => Buffer.from(JSON.stringify({ ...body, k })).toString('base64url');
    for (const [pageToken, message] of [
      ['not a token!', /could not base64-decode/],
      [Buffer.from('{"offset": 100}').toString('base64'), /could not base64-decode|could not be decoded/],
      [Buffer.from('{"offset": 100}').toString('base64url'), /could not be decoded/],
      [forge(['1; DROP TABLE registry.registered_models', 'x']), /sort key 0 is not a valid bigint/],
      [forge([String(BASE)]), /expected 2 sort keys, found 1/],
      [forge([String(BASE), null]), /sort key 1 is missing/],
    ] as const) {
      expectInvalid(await appFailure(search.searchModels(ds.manager, { ...q, pageToken })), message);
    }
    const [{ n }] = await ds.query<Array<{ n: string }>>(
      `SELECT count(*)::text AS n FROM ${SCHEMA}.registered_models`,
    );
    expect(Number(n)).toBe(models.length);
  });
});

// ---- model versions --------------------------------------------------------------------------

describe('searchVersions', () => {
  const DEFAULT_ORDER = ['last_updated_timestamp DESC', 'name ASC', 'version_number DESC'];
  const TIE_BREAKERS: Array<[string, boolean]> = [
    ['name', false],
    ['version_number', true],
  ];
  const expectedVersions = (predicate: (v: Version) => boolean, orderBy: readonly string[] = []) =>
    versionIds(
      sorted(
        versions.filter(predicate),
        referenceOrder(orderBy.length > 0 ? orderBy : DEFAULT_ORDER, versionKeys, TIE_BREAKERS),
      ),
    );

  beforeAll(async () => {
    // A real deletion: the version's number leaves a gap, and search no longer finds it.
    const model = models.find((m) => versions.filter((v) => v.modelId === m.modelId).length >= 3)!;
    await fx.models.deleteVersion('alice', model.name, '2');
    versions.splice(
      versions.findIndex((v) => v.modelId === model.modelId && v.version === 2),
      1,
    );
  });

  it.each<[string, (v: Version) => boolean]>([
    ["name = 'Churn-06'", (v) => v.name === 'Churn-06'],
    ["name != 'Churn-06'", (v) => v.name !== 'Churn-06'],
    ["name LIKE 'FRAUD%'", (v) => like(v.name, 'FRAUD%')],
    ["name ILIKE 'fraud%'", (v) => like(v.name, 'fraud%', true)],
    ["run_id = 'run-a'", (v) => v.runId === 'run-a'],
    ["run_id != 'run-a'", (v) => v.runId !== null && v.runId !== 'run-a'],
    [
      "run_id IN ('run-b', 'RUN-C', '12345', 'nope')",
      (v) => ['run-b', 'RUN-C', '12345'].includes(v.runId ?? ''),
    ],
    ['run_id IN ("run-a")', (v) => v.runId === 'run-a'],
    ["run_id LIKE 'run-%'", (v) => like(v.runId ?? '\u0000', 'run-%')],
    ["run_id ILIKE 'run-%'", (v) => like(v.runId ?? '\u0000', 'run-%', true)],
    ["source_path = 's3://bucket/ranker_04/3'", (v) => v.source === 's3://bucket/ranker_04/3'],
    ["source_path LIKE '%/2'", (v) => like(v.source, '%/2')],
    ['version_number = 2', (v) => v.version === 2],
    ['version_number != 2', (v) => v.version !== 2],
    ['version_number > 2', (v) => v.version > 2],
    ['version_number >= 3', (v) => v.version >= 3],
    ['version_number < 2', (v) => v.version < 2],
    ['version_number <= 1.5', (v) => v.version <= 1.5],
    ["version_number = '3'", (v) => v.version === 3],
    ['version_number > 99999999999999999999', () => false],
    ["tags.validated = 'true'", (v) => v.tags.get('validated') === 'true'],
    ["tags.validated != 'true'", (v) => v.tags.has('validated') && v.tags.get('validated') !== 'true'],
    ["tag.validated LIKE 't%'", (v) => like(v.tags.get('validated') ?? '\u0000', 't%')],
    [`tags.blob = '${LONG}'`, (v) => v.tags.get('blob') === LONG],
    [
      "name LIKE 'c%' AND version_number >= 2 AND run_id != 'run-b' AND tags.validated ILIKE '%E'",
      (v) =>
        like(v.name, 'c%') &&
        v.version >= 2 &&
        v.runId !== null &&
        v.runId !== 'run-b' &&
        like(v.tags.get('validated') ?? '\u0000', '%E', true),
    ],
    ['', () => true],
  ])('filters %s', async (filter, predicate) => {
    const page = await search.searchVersions(ds.manager, versionsQuery({ filter }));
    expect(versionIds(page.versions)).toEqual(expectedVersions(predicate));
    expect(page.nextPageToken).toBe('');
  });

  it('finds versions of every status and stage, and not the deleted one', async () => {
    const page = await search.searchVersions(ds.manager, versionsQuery());
    expect(new Set(page.versions.map((v) => v.status))).toEqual(
      new Set(['READY', 'FAILED_REGISTRATION', 'PENDING_REGISTRATION']),
    );
    expect(new Set(page.versions.map((v) => v.stage))).toEqual(
      new Set(['None', 'Staging', 'Production', 'Archived']),
    );
    expect(page.versions).toHaveLength(versions.length);
  });

  it.each([
    [[]],
    [['name']],
    [['name DESC', 'version_number']],
    [['version_number']],
    [['version_number DESC']],
    [['creation_timestamp DESC']],
    [['last_updated_timestamp']],
    [['attribute.last_updated_timestamp DESC', 'creation_timestamp']],
  ])('orders by %j, ties broken by name then version DESC', async (orderBy) => {
    const page = await search.searchVersions(ds.manager, versionsQuery({ orderBy }));
    expect(versionIds(page.versions)).toEqual(expectedVersions(() => true, orderBy));
  });

  it.each([
    ['', [], 7],
    ["tags.validated = 'true'", ['version_number'], 2],
    ['version_number >= 2', ['name DESC'], 5],
  ])('pages through %j ordered by %j, %d at a time', async (filter, orderBy, size) => {
    const all = await search.searchVersions(ds.manager, versionsQuery({ filter, orderBy }));
    const ids = await allVersionPages({ filter, orderBy, maxResults: size });
    expect(ids).toEqual(versionIds(all.versions));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBeGreaterThan(size);
  });

  it('keeps paging exact while versions are created', async () => {
    const model = await addModel('stable-versions', BASE, BASE);
    for (const v of [1, 2, 3, 4]) await addVersion(model, v, { updated: BASE + 100 });
    await refreshNameRank();
    const q = { filter: "name = 'stable-versions'", orderBy: [], maxResults: 2 };
    const first = await search.searchVersions(ds.manager, { ...q, pageToken: '' });
    expect(versionIds(first.versions)).toEqual(['stable-versions/v4', 'stable-versions/v3']);
    await addVersion(model, 5, { updated: BASE + 100 }); // before the cursor
    await addVersion(model, 6, { updated: BASE + 50 }); // after it
    const rest = await (async () => {
      const out: string[] = [];
      let pageToken = first.nextPageToken;
      while (pageToken !== '') {
        const page = await search.searchVersions(ds.manager, { ...q, pageToken });
        out.push(...versionIds(page.versions));
        pageToken = page.nextPageToken;
      }
      return out;
    })();
    expect(rest).toEqual(['stable-versions/v2', 'stable-versions/v1', 'stable-versions/v6']);
  });

  it('returns full records, as the single-version loader builds them', async () => {
    const page = await search.searchVersions(ds.manager, versionsQuery({ orderBy: ['name'] }));
    expect(page.versions).toHaveLength(versions.length);
    for (const record of page.versions) {
      expect(record).toEqual(await repository.findVersion(ds.manager, record.modelId, record.version));
    }
    expect(page.versions.some((v) => v.tags.length > 0)).toBe(true);
  });

  it.each<[string, string | RegExp]>([
    [
      "description = 'x'",
      "Invalid attribute key 'description' specified. Valid keys are '{'name', 'run_id', 'source_path', 'version_number'}' (at position 0)",
    ],
    ["run.run_id = 'x'", /^Invalid entity type 'run'/],
    ["name IN ('a')", /^Invalid comparator for attribute: IN/],
    ["run_id NOT IN ('a')", /^Invalid comparator for attribute: NOT IN/],
    ["source_path > 'a'", /^Invalid comparator for attribute: >/],
    ["version_number LIKE '1'", /^Invalid comparator for attribute version_number: LIKE/],
    [
      "version_number = 'one'",
      /^Expected numeric value type for numeric attribute: version_number. Found 'one'/,
    ],
    ["version_number = '1.5'", /^Expected numeric value type for numeric attribute: version_number/],
    ["version_number IN ('1')", /^Invalid comparator for attribute version_number: IN/],
    ["name = ('a')", /^Only the 'run_id' attribute supports comparison with a list of quoted string values./],
    ["run_id IN 'a'", /^Expected a list of quoted string values/],
    ['run_id IN ()', /expected a non-empty list of string values, but got empty list/],
    ['name = 5', /attributes support comparison with numeric values/],
    ["tags.t > 'a'", /^Invalid comparator for tag: >/],
    ["name = 'a' AND", /'AND' is not followed by a clause/],
  ])('rejects the filter %j', async (filter, message) => {
    expectInvalid(await appFailure(search.searchVersions(ds.manager, versionsQuery({ filter }))), message);
  });

  it.each<[string[], string | RegExp]>([
    [
      ['timestamp'],
      /^Invalid attribute key 'timestamp' specified. Valid keys are '\{'creation_timestamp', 'last_updated_timestamp', 'name', 'version_number'\}'/,
    ],
    [['tags.validated'], /^Invalid order_by entity: tag/],
    [['version_number UP'], /^Invalid ordering key/],
    [['name', 'attribute.name DESC'], /^`order_by` contains duplicate fields/],
  ])('rejects the order_by %j', async (orderBy, message) => {
    expectInvalid(await appFailure(search.searchVersions(ds.manager, versionsQuery({ orderBy }))), message);
  });

  it('checks max_results with MLflow’s messages', async () => {
    expectInvalid(
      await appFailure(search.searchVersions(ds.manager, versionsQuery({ maxResults: 200_001 }))),
      'Invalid value for request parameter max_results. It must be at most 200000, but got value 200001',
    );
    expectInvalid(
      await appFailure(search.searchVersions(ds.manager, versionsQuery({ maxResults: 0 }))),
      'Invalid value for max_results. It must be a positive integer, but got 0',
    );
    expectInvalid(
      await appFailure(search.searchVersions(ds.manager, versionsQuery({ maxResults: 1.5 }))),
      /It must be a positive integer, but got 1.5/,
    );
  });

  it('serves 10000 versions by default', async () => {
    const [{ model_id: modelId }] = await ds.query<Array<{ model_id: string }>>(
      `INSERT INTO ${SCHEMA}.registered_models (name, created_by, creation_time, last_updated_time, last_version)
       VALUES ('bulk-versions', 'alice', $1, $1, 10001) RETURNING model_id::text`,
      [BASE],
    );
    await ds.query(
      `INSERT INTO ${SCHEMA}.model_versions (model_id, version, user_id, creation_time, last_updated_time, source,
                                             status, storage_uri, storage_scope, storage_path)
       SELECT $1, g, 'alice', $2, $2, 's3://b/' || g, 'READY', 's3://b/' || g, 'scope', 'model'
         FROM generate_series(1, 10001) g`,
      [modelId, BASE],
    );
    const q = { filter: "name = 'bulk-versions'", orderBy: [] };
    const first = await search.searchVersions(ds.manager, { ...q, pageToken: '' });
    expect(first.versions).toHaveLength(10_000);
    expect(first.versions[0].version).toBe(10_001);
    expect(first.versions[9_999].version).toBe(2);
    const rest = await search.searchVersions(ds.manager, { ...q, pageToken: first.nextPageToken });
    expect(rest.versions.map((v) => v.version)).toEqual([1]);
    expect(rest.nextPageToken).toBe('');
    await ds.query(`DELETE FROM ${SCHEMA}.registered_models WHERE model_id = $1`, [modelId]);
  });
});

describe('query plans', () => {
  it('starts a later page of versions at its token, in the last-updated index', async () => {
    const q = { filter: '', orderBy: [] as string[], maxResults: 5 };
    const { nextPageToken } = await search.searchVersions(ds.manager, { ...q, pageToken: '' });
    const sent: Array<[string, unknown[]]> = [];
    const spy = {
      query: (sql: string, params: unknown[]) => {
        sent.push([sql, params]);
        return ds.manager.query(sql, params);
      },
    } as unknown as EntityManager;
    await search.searchVersions(spy, { ...q, pageToken: nextPageToken });
    const [sql, params] = sent[0];
    // The registry is small here: without seqscans the planner shows what it can do at scale.
    const plan = await ds.transaction(async (m) => {
      await m.query('SET LOCAL enable_seqscan = off');
      const rows = await m.query<Array<{ 'QUERY PLAN': string }>>(`EXPLAIN ${sql}`, params);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('model_versions_updated_idx');
    expect(plan).toMatch(/Index Cond: \((v\.)?last_updated_time <= /);
  });
});
