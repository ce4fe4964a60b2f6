/**
 * server/index-top-messages.ts, the map worker's flat messages: a fold's additions and stored records, and its bucket
 * rows, go to and from the map's worker as a few transferred arrays; unpacking gives back what was
 * packed (random buckets, keys, indexes, records; buckets with no stored records).
 */
import test from 'ava';
import fc from 'fast-check';
import type { Additions, BucketWrite } from '../server/index-state.js';
import { packFold, packWrites, unpackFold, unpackWrites } from '../server/index-top-messages.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bucket = fc.record({
  prefix: fc.integer({ min: 0, max: 262143 }),
  adds: fc.array(
    fc.record({
      key: bytes32,
      indexes: fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { minLength: 1, maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
  records: fc.option(fc.uint8Array({ maxLength: 72 * 5 }), { nil: undefined }),
});

test('packFold then unpackFold: the same additions, and the same records (none where none were stored)', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(bucket, { selector: (b) => b.prefix, maxLength: 12 }), (buckets) => {
      const additions: Additions = buckets.map((b) => [b.prefix, b.adds]);
      const stored = new Map(buckets.flatMap((b) => (b.records ? [[b.prefix, b.records] as const] : [])));
      const packed = packFold(additions, stored);
      const back = unpackFold(packed);
      t.deepEqual(
        back.additions.map(([p, adds]) => [p, adds.map((a) => ({ key: [...a.key], indexes: a.indexes }))]),
        additions.map(([p, adds]) => [p, adds.map((a) => ({ key: [...a.key], indexes: a.indexes }))]),
      );
      for (const b of buckets) t.deepEqual([...(back.stored.get(b.prefix) ?? [])], [...(b.records ?? [])]);
    }),
    { numRuns: 200 },
  );
});

test('packWrites then unpackWrites: the same rows', (t) => {
  const row = fc.record({
    prefix: fc.integer({ min: 0, max: 262143 }),
    count: fc.nat({ max: 1000 }),
    hash: bytes32,
    records: fc.uint8Array({ maxLength: 72 * 5 }),
  });
  fc.assert(
    fc.property(fc.array(row, { maxLength: 12 }), (rows: BucketWrite[]) => {
      const back = unpackWrites(packWrites(rows));
      t.deepEqual(
        back.map((r) => ({ ...r, hash: [...r.hash], records: [...r.records] })),
        rows.map((r) => ({ ...r, hash: [...r.hash], records: [...r.records] })),
      );
    }),
    { numRuns: 200 },
  );
});
