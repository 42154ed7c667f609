import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { AppError } from '@cairn/rpc';
import {
  auditEntryDocument,
  auditEntryHash,
  canonicalDocument,
  checkText,
  GENESIS_HASH,
  type HashedAuditFields,
} from './audit-chain';

const base: HashedAuditFields = {
  seq: 1,
  id: '00000000-0000-4000-8000-000000000001',
  prevHash: GENESIS_HASH,
  occurredAt: 1_700_000_000_000,
  actor: 'alice',
  action: 'model_version.transition',
  objectType: 'model_version',
  objectId: 'fraud/1',
  model: 'fraud',
  beforeJson: '{"stage":"Staging"}',
  afterJson: '{"stage":"Production"}',
  reason: null,
};

describe('canonical JSON (RFC 8785)', () => {
  it('formats numbers and orders keys as the RFC does', () => {
    // Examples from RFC 8785, section 3.2.2.3 and appendix B.
    expect(canonicalize([1e21, 1e-7, 0.000001, -0, Number('333333333.33333329'), 4.5, 2e-3, 1e30])).toBe(
      '[1e+21,1e-7,0.000001,0,333333333.3333333,4.5,0.002,1e+30]',
    );
    expect(
      canonicalize({ '\u20ac': 1, '\r': 2, '\ufb33': 3, '1': 4, '\ud83d\ude00': 5, '\u0080': 6, ö: 7 }),
    ).toBe('{"\\r":2,"1":4,"\u0080":6,"ö":7,"\u20ac":1,"😀":5,"\ufb33":3}');
  });

  it('stores documents canonically whatever their key order, and refuses non-I-JSON', () => {
    expect(canonicalDocument('before', { b: [1, { y: 1, x: 2 }], a: 'é' }, 1000)).toBe(
      '{"a":"é","b":[1,{"x":2,"y":1}]}',
    );
    expect(canonicalDocument('before', undefined, 1000)).toBeNull();
    expect(canonicalDocument('before', null, 1000)).toBeNull();
    for (const bad of [NaN, { x: -Infinity }, { x: 1n }, () => 1]) {
      expect(() => canonicalDocument('after', bad, 1000)).toThrow(AppError);
    }
    expect(() => canonicalDocument('after', { x: 'y'.repeat(100) }, 50)).toThrow(/exceeds 50 bytes/);
  });
});

describe('auditEntryHash', () => {
  it('hashes exactly the RFC 8785 serialization the canonicalize library gives', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const optional = fc.option(text, { nil: null });
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
          id: fc.uuid(),
          prevHash: fc.stringMatching(/^[0-9a-f]{64}$/),
          occurredAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          actor: text,
          action: text,
          objectType: text,
          objectId: text,
          model: optional,
          beforeJson: fc.option(fc.json(), { nil: null }),
          afterJson: fc.option(fc.json(), { nil: null }),
          reason: optional,
        }),
        (e) => {
          const { beforeJson, afterJson, ...rest } = e;
          const reference = canonicalize({ ...rest, before: beforeJson, after: afterJson, v: 1 });
          expect(auditEntryDocument(e)).toBe(reference);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses numbers the fast serialization does not cover', () => {
    expect(() => auditEntryDocument({ ...base, occurredAt: 1.5 })).toThrow(/safe integers/);
    expect(() => auditEntryDocument({ ...base, seq: 2 ** 53 })).toThrow(/safe integers/);
  });

  it('is a hex SHA-256 that every hashed field changes', () => {
    const h = auditEntryHash(base);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(auditEntryHash({ ...base })).toBe(h);
    const variants: Array<Partial<HashedAuditFields>> = [
      { seq: 2 },
      { id: '00000000-0000-4000-8000-000000000002' },
      { prevHash: 'f'.repeat(64) },
      { occurredAt: base.occurredAt + 1 },
      { actor: 'bob' },
      { action: 'model_version.create' },
      { objectType: 'registered_model' },
      { objectId: 'fraud/2' },
      { model: null },
      { beforeJson: '{"stage": "Staging"}' },
      { afterJson: null },
      { reason: '' },
    ];
    const hashes = new Set(variants.map((v) => auditEntryHash({ ...base, ...v })));
    expect(hashes.size).toBe(variants.length);
    expect(hashes.has(h)).toBe(false);
  });
});

describe('checkText', () => {
  it('accepts valid text and refuses what Postgres would not store as given', () => {
    expect(checkText('actor', 'zoë 😀', 10)).toBe('zoë 😀');
    expect(checkText('model', undefined, 10, true)).toBeNull();
    for (const bad of ['', 'a\u0000b', 'lone \ud800', 'lone \udc00', 'x'.repeat(11), 5]) {
      expect(() => checkText('actor', bad, 10)).toThrow(AppError);
    }
  });
});
