import { AppError } from '@cairn/rpc';
import { MAX_ORDER_BY_CLAUSES } from '@cairn/search';
import { parseExperimentOrderBy, parseRunOrderBy } from './order-by.parser';

function rejection(parse: () => unknown): AppError {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected the order_by to be rejected');
}

describe('parseRunOrderBy', () => {
  it('reads nothing from an empty list', () => {
    expect(parseRunOrderBy([])).toEqual([]);
  });

  it.each([
    ['metrics.acc', { entity: 'metric', key: 'acc', ascending: true }],
    ['metric.acc DESC', { entity: 'metric', key: 'acc', ascending: false }],
    ['metrics.acc desc', { entity: 'metric', key: 'acc', ascending: false }],
    ['  metrics.val.loss   ASC ', { entity: 'metric', key: 'val.loss', ascending: true }],
    ['metrics.`f1 score` DESC', { entity: 'metric', key: 'f1 score', ascending: false }],
    ['metrics."f1 score"', { entity: 'metric', key: 'f1 score', ascending: true }],
    ['params.lr', { entity: 'param', key: 'lr', ascending: true }],
    ['param.lr Desc', { entity: 'param', key: 'lr', ascending: false }],
    ['parameters.lr', { entity: 'param', key: 'lr', ascending: true }],
    ['tags."user-name" DESC', { entity: 'tag', key: 'user-name', ascending: false }],
    ['tag.team', { entity: 'tag', key: 'team', ascending: true }],
    ['start_time', { entity: 'attribute', key: 'start_time', ascending: true }],
    ['attributes.start_time DESC', { entity: 'attribute', key: 'start_time', ascending: false }],
    ['created DESC', { entity: 'attribute', key: 'start_time', ascending: false }],
    ['Created', { entity: 'attribute', key: 'start_time', ascending: true }],
    ['attr.end_time', { entity: 'attribute', key: 'end_time', ascending: true }],
    ['run.run_name', { entity: 'attribute', key: 'run_name', ascending: true }],
    ['run_id DESC', { entity: 'attribute', key: 'run_id', ascending: false }],
    ['user_id', { entity: 'attribute', key: 'user_id', ascending: true }],
    ['status', { entity: 'attribute', key: 'status', ascending: true }],
    ['artifact_uri', { entity: 'attribute', key: 'artifact_uri', ascending: true }],
  ])('reads %j', (clause, expected) => {
    expect(parseRunOrderBy([clause])).toEqual([expected]);
  });

  it.each<[string, number, RegExp]>([
    ['', 0, /Invalid order_by clause ''. Could not be parsed./],
    ['   ', 3, /Could not be parsed/],
    ['metrics.acc UP', 12, /Invalid ordering key in order_by clause 'metrics.acc UP'./],
    ['metrics.acc DESC ASC', 17, /Could not be parsed/],
    ['metrics.acc > 1', 12, /Could not be parsed/],
    ['metrics.acc, params.lr', 11, /Could not be parsed/],
    ['metrics.`acc', 8, /Could not be parsed/],
    ['(metrics.acc)', 0, /Could not be parsed/],
    ['datasets.name', 0, /Invalid order_by entity type 'dataset'/],
    ['foo.bar', 0, /Invalid entity type 'foo'/],
    ['attributes.experiment_id', 11, /Invalid attribute key 'experiment_id' specified/],
    ['"run name"', 0, /Invalid attribute key 'run name' specified/],
    ['lifecycle_stage', 0, /Invalid attribute key 'lifecycle_stage'/],
  ])('rejects %j at position %d', (clause, position, message) => {
    const err = rejection(() => parseRunOrderBy(['metrics.ok', clause]));
    expect(err.reason).toBe('INVALID_ORDER_BY');
    expect(err.kind).toBe('invalid_argument');
    expect(err.message).toMatch(message);
    expect(err.message).toContain(`at position ${position}`);
    expect(err.details).toMatchObject({ index: '1', position: String(position) });
  });

  it.each([[['metrics.a', 'metrics.a DESC']], [['start_time', 'created DESC']], [['tags.`x`', 'tag."x"']]])(
    'rejects the duplicate fields in %j',
    (orderBy) => {
      const err = rejection(() => parseRunOrderBy(orderBy));
      expect(err.reason).toBe('INVALID_ORDER_BY');
      expect(err.message).toContain(
        `\`order_by\` contains duplicate fields: ['${orderBy[0]}', '${orderBy[1]}']`,
      );
    },
  );

  it('accepts the same key under different entities', () => {
    expect(parseRunOrderBy(['metrics.x', 'params.x', 'tags.x'])).toHaveLength(3);
  });

  it(`accepts at most ${MAX_ORDER_BY_CLAUSES} clauses`, () => {
    const clauses = (n: number) => Array.from({ length: n }, (_, i) => `metrics.m${i}`);
    expect(parseRunOrderBy(clauses(MAX_ORDER_BY_CLAUSES))).toHaveLength(MAX_ORDER_BY_CLAUSES);
    expect(rejection(() => parseRunOrderBy(clauses(MAX_ORDER_BY_CLAUSES + 1))).reason).toBe(
      'INVALID_ORDER_BY',
    );
  });
});

describe('parseExperimentOrderBy', () => {
  it.each([
    ['name', { key: 'name', ascending: true }],
    ['name DESC', { key: 'name', ascending: false }],
    ['attribute.experiment_id', { key: 'experiment_id', ascending: true }],
    ['creation_time desc', { key: 'creation_time', ascending: false }],
    ['last_update_time ASC', { key: 'last_update_time', ascending: true }],
  ])('reads %j', (clause, expected) => {
    expect(parseExperimentOrderBy([clause])).toEqual([expected]);
  });

  it.each<[string, RegExp]>([
    ['tags.owner', /Invalid order_by entity: tag/],
    [
      'attributes.name',
      /Invalid entity type 'attributes'. Valid entity types are \('attribute', 'tag', 'tags'\)/,
    ],
    ['lifecycle_stage', /Invalid attribute key 'lifecycle_stage'/],
    ['name sideways', /Invalid ordering key/],
  ])('rejects %j', (clause, message) => {
    const err = rejection(() => parseExperimentOrderBy([clause]));
    expect(err.reason).toBe('INVALID_ORDER_BY');
    expect(err.message).toMatch(message);
  });
});
