import { AppError } from '@cairn/rpc';
import { parseExperimentFilter } from './experiment-filter.parser';

describe('parseExperimentFilter', () => {
  it('reads nothing from an empty filter', () => {
    expect(parseExperimentFilter('  ')).toEqual([]);
  });

  it.each(['=', '!=', 'LIKE', 'ILIKE'])('compares the name with %s', (op) => {
    expect(parseExperimentFilter(`name ${op} 'exp%'`)).toEqual([
      { entity: 'attribute', key: 'name', comparator: op, value: 'exp%', position: 0 },
    ]);
    expect(parseExperimentFilter(`attribute.name ${op} "x"`)[0]).toMatchObject({ key: 'name', value: 'x' });
  });

  it.each(['creation_time', 'last_update_time'])('compares %s with every numeric comparator', (key) => {
    for (const op of ['=', '!=', '>', '>=', '<', '<=']) {
      expect(parseExperimentFilter(`${key} ${op} 1700000000000`)).toEqual([
        { entity: 'attribute', key, comparator: op, value: 1700000000000n, position: 0 },
      ]);
    }
  });

  it.each(['tag', 'tags'])('reads %s.<key> as a tag', (prefix) => {
    expect(parseExperimentFilter(`${prefix}."my key" ILIKE '%a%' AND name = 'x'`)).toEqual([
      { entity: 'tag', key: 'my key', comparator: 'ILIKE', value: '%a%', position: 0 },
      { entity: 'attribute', key: 'name', comparator: '=', value: 'x', position: prefix.length + 26 },
    ]);
  });

  it.each<[string, number, RegExp]>([
    [
      "attributes.name = 'x'",
      0,
      /Invalid entity type 'attributes'. Valid entity types are \('attribute', 'tag', 'tags'\)/,
    ],
    ['metrics.a > 1', 0, /Invalid entity type 'metrics'/],
    ["experiment_id = '1'", 0, /Invalid attribute key 'experiment_id' specified/],
    ["name IN ('a')", 5, /Invalid comparator for string attribute: IN/],
    ["name > 'a'", 5, /Invalid comparator for string attribute: >/],
    ["creation_time LIKE '1'", 14, /Invalid comparator for numeric attribute: LIKE/],
    ["tags.a > 'x'", 7, /Invalid comparator for tag: >/],
    ['tags.a IS NULL', 7, /Invalid comparator for tag: IS NULL/],
    ["creation_time > '1'", 16, /Expected numeric value type for numeric attribute: creation_time/],
    ['name = 1', 7, /Expected a quoted string value for attributes/],
    ["name = 'a' OR name = 'b'", 11, /'OR' is not supported/],
  ])('rejects %j at position %d', (filter, position, message) => {
    let err: unknown;
    try {
      parseExperimentFilter(filter);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ reason: 'INVALID_FILTER', details: { position: String(position) } });
    expect((err as AppError).message).toMatch(message);
  });
});
