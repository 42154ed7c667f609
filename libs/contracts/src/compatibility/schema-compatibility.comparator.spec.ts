import { z } from 'zod';
import { toJsonSchema } from '../json-schema/event-json-schema.generator';
import { findIncompatibilities } from './schema-compatibility.comparator';

const stage = z.enum(['None', 'Staging', 'Production', 'Archived']);
const column = z.object({ column: z.string(), score: z.number(), threshold: z.number() });
const position = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('stage'), stage }),
  z.object({ kind: z.literal('alias'), alias: z.string() }),
]);

/** A published v1, built from parts so that each test can change one of them. */
function schema(overrides: Partial<Record<string, z.ZodType>> = {}, column_: z.ZodObject = column) {
  return z.object({
    model: z.string().min(1),
    version: z.string().regex(/^[1-9][0-9]*$/),
    stage,
    to: position,
    window: z.object({ start: z.iso.datetime(), rowCount: z.number().int().nonnegative() }),
    driftedColumns: z.array(column_),
    metrics: z.record(z.string(), z.number()),
    comment: z.string().optional(),
    ...overrides,
  });
}

const published = toJsonSchema(schema());
const check = (current: z.ZodType) => findIncompatibilities(published, toJsonSchema(current));

describe('findIncompatibilities', () => {
  describe('allows', () => {
    it('an identical schema', () => {
      expect(check(schema())).toEqual([]);
    });

    it('a new optional field, at the top and in nested objects and arrays', () => {
      const current = schema(
        {
          reviewer: z.string().optional(),
          window: z.object({
            start: z.iso.datetime(),
            rowCount: z.number().int().nonnegative(),
            end: z.iso.datetime().optional(),
          }),
        },
        column.extend({ columnType: z.enum(['numerical', 'categorical']).optional() }),
      );
      expect(check(current)).toEqual([]);
    });

    it('changed descriptions', () => {
      expect(check(schema({ model: z.string().min(1).describe('Registered model name.') }))).toEqual([]);
    });
  });

  describe('forbids', () => {
    it('a removed field', () => {
      const { comment: _comment, ...shape } = schema().shape;
      expect(check(z.object(shape))).toEqual([{ path: '$.comment', message: 'property removed' }]);
    });

    it('a removed nested field', () => {
      expect(check(schema({}, column.omit({ threshold: true })))).toEqual([
        { path: '$.driftedColumns[].threshold', message: 'property removed' },
      ]);
    });

    it('a new required field', () => {
      expect(check(schema({ approver: z.string() }))).toEqual([
        { path: '$.approver', message: 'new required property (new properties must be optional)' },
      ]);
    });

    it('an optional field becoming required, and a required one becoming optional', () => {
      expect(check(schema({ comment: z.string(), model: z.string().min(1).optional() }))).toEqual([
        { path: '$.model', message: 'property no longer required' },
        { path: '$.comment', message: 'optional property became required' },
      ]);
    });

    it('a changed type, also inside arrays and maps', () => {
      expect(check(schema({ version: z.number().int() }))).toEqual([
        { path: '$.version', message: 'type changed from string to integer' },
      ]);
      expect(check(schema({}, column.extend({ score: z.string() })))).toEqual([
        { path: '$.driftedColumns[].score', message: 'type changed from number to string' },
      ]);
      expect(check(schema({ metrics: z.record(z.string(), z.string()) }))).toEqual([
        { path: '$.metrics{*}', message: 'type changed from number to string' },
      ]);
      expect(check(schema({ model: z.string().min(1).nullable() }))).toEqual([
        { path: '$.model', message: 'type changed from string to null|string' },
      ]);
    });

    it('a removed enum value', () => {
      expect(check(schema({ stage: z.enum(['None', 'Staging', 'Production']) }))).toEqual([
        { path: '$.stage', message: 'enum values removed: "Archived"' },
      ]);
    });

    it('an added enum value, which consumers of the published version would reject', () => {
      const [violation] = check(
        schema({ stage: z.enum(['None', 'Staging', 'Production', 'Archived', 'Shadow']) }),
      );
      expect(violation).toEqual({
        path: '$.stage',
        message: expect.stringMatching(/^enum values added: "Shadow"/),
      });
    });

    it('changed constraints, tighter or looser', () => {
      expect(check(schema({ model: z.string().min(3) }))).toEqual([
        { path: '$.model', message: 'minLength changed from 1 to 3' },
      ]);
      expect(check(schema({ version: z.string() }))).toEqual([
        { path: '$.version', message: 'pattern "^[1-9][0-9]*$" removed' },
      ]);
      expect(
        check(schema({ window: z.object({ start: z.string(), rowCount: z.number().int().nonnegative() }) })),
      ).toEqual([{ path: '$.window.start', message: 'format "date-time" removed' }]);
    });

    it('changes inside union branches, and removed branches', () => {
      const renamed = z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('stage'), stage }),
        z.object({ kind: z.literal('alias'), name: z.string() }),
      ]);
      expect(check(schema({ to: renamed }))).toEqual([
        { path: '$.to.oneOf[1].alias', message: 'property removed' },
        { path: '$.to.oneOf[1].name', message: 'new required property (new properties must be optional)' },
      ]);
      expect(
        check(schema({ to: z.discriminatedUnion('kind', [z.object({ kind: z.literal('stage'), stage })]) })),
      ).toEqual([{ path: '$.to', message: 'oneOf has 1 branches instead of 2' }]);
    });
  });
});
