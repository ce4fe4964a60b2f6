/**
 * log/index-buckets.ts (the map cut into 2^18 buckets under a MapTop, as the server stores it) against
 * log/index-map.ts IndexMap, itself tested against the shared vectors and the naive reference: for
 * random key sets, clustered so that keys share buckets and long prefixes, updated in random batches,
 * the root after every batch is IndexMap's, and every key's lookup proof (present, absent in an empty
 * subtree, absent next to another key) is byte for byte IndexMap's. Also with the native SHA-256 the
 * server installs (log/hash.ts useSha256), which must give the same bytes as noble.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import { useSha256 } from '../log/hash.js';
import {
  addToBucket,
  BUCKET_BITS,
  bucketHash,
  bucketOf,
  checkRecords,
  leafHashes,
  MapTop,
  proveLookupFrom,
  RECORD_BYTES,
} from '../log/index-buckets.js';
import { chainStep, encodeLookupProof, IndexMap, parseMapValue, verifyLookup } from '../log/index-map.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Keys in few buckets: the first two bytes from a small set, so buckets hold several keys, some
 *  differing only deep inside the bucket; some share the first 18 bits and differ in bit 18..23. */
const keyArb = fc
  .tuple(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 7 }),
    fc.uint8Array({ minLength: 30, maxLength: 30 }),
  )
  .map(([a, b, rest]) => {
    const k = new Uint8Array(32);
    k[0] = a * 64;
    k[1] = b;
    k.set(rest, 2);
    return k;
  });

const batchesArb = fc.array(fc.array(fc.tuple(keyArb, fc.integer({ min: 1, max: 3 })), { maxLength: 12 }), {
  minLength: 1,
  maxLength: 6,
});

/** The bucketed map as the server keeps it: records per bucket, and the top. */
class Bucketed {
  readonly top = new MapTop();
  readonly buckets = new Map<number, Uint8Array>();
  next = 0n;

  add(batch: readonly [Uint8Array, number][]): void {
    const byBucket = new Map<number, { key: Uint8Array; indexes: bigint[] }[]>();
    for (const [key, n] of batch) {
      const indexes: bigint[] = [];
      for (let j = 0; j < n; j++) indexes.push(this.next++);
      const b = bucketOf(key);
      const list = byBucket.get(b) ?? [];
      list.push({ key, indexes });
      byBucket.set(b, list);
    }
    for (const [b, adds] of byBucket) {
      const records = addToBucket(this.buckets.get(b) ?? new Uint8Array(0), adds);
      checkRecords(records, b);
      this.buckets.set(b, records);
      this.top.setBucket(b, bucketHash(records), records.length / RECORD_BYTES);
    }
  }

  prove(key: Uint8Array) {
    const walk = this.top.walk(key);
    const records =
      walk.stop === 'empty' ? new Uint8Array(0) : (this.buckets.get(walk.bucket) ?? new Uint8Array(0));
    return proveLookupFrom(key, walk, records);
  }
}

function runModel(
  t: import('ava').ExecutionContext,
  batches: [Uint8Array, number][][],
  probes: Uint8Array[],
): void {
  const model = new Bucketed();
  const ref = new IndexMap();
  const counts = new Map<string, { count: bigint; chain: Uint8Array; key: Uint8Array }>();
  let next = 0n;
  for (const batch of batches) {
    model.add(batch);
    for (const [key, n] of batch) {
      const k = hex(key);
      for (let j = 0; j < n; j++) {
        const cur = counts.get(k) ?? { count: 0n, chain: new Uint8Array(32), key };
        const v = ref.get(key) ?? { count: 0n, chain: new Uint8Array(32) };
        cur.count += 1n;
        counts.set(k, cur);
        // IndexMap holds values; step its chain as SPEC.md "Map value" says.
        ref.set(key, { count: v.count + 1n, chain: chainStep(v.chain, next) });
        next++;
      }
    }
    const root = model.top.root();
    t.is(hex(root), hex(ref.root()));
    for (const { key } of counts.values()) {
      const p = model.prove(key);
      t.deepEqual(encodeLookupProof(p), encodeLookupProof(ref.proveLookup(key)));
      const got = verifyLookup(key, p, root);
      t.true(got.present);
    }
    for (const key of probes) {
      const p = model.prove(key);
      t.deepEqual(encodeLookupProof(p), encodeLookupProof(ref.proveLookup(key)));
      verifyLookup(key, p, root);
    }
  }
  t.is(model.top.keys, counts.size);
  for (const { key } of counts.values()) {
    const v = ref.get(key)!;
    const p = model.prove(key);
    t.deepEqual(parseMapValue(p.leaf!.value), v);
  }
}

test('bucketed map: roots and proofs equal IndexMap for random clustered batches', (t) => {
  fc.assert(
    fc.property(batchesArb, fc.array(keyArb, { maxLength: 6 }), (batches, probes) => {
      runModel(t, batches, probes);
    }),
    { numRuns: 150 },
  );
});

test('bucketed map: the same with the native SHA-256 the server installs', (t) => {
  useSha256((d) => createHash('sha256').update(d).digest());
  try {
    fc.assert(
      fc.property(batchesArb, fc.array(keyArb, { maxLength: 4 }), (batches, probes) => {
        runModel(t, batches, probes);
      }),
      { numRuns: 60 },
    );
  } finally {
    useSha256(undefined);
  }
});

test('bucketed map: one key alone, an empty map, and a key alone in the top above its bucket', (t) => {
  const m = new Bucketed();
  t.is(hex(m.top.root()), '00'.repeat(32));
  const k = new Uint8Array(32).fill(0xab);
  m.add([[k, 2]]);
  const ref = new IndexMap();
  ref.set(k, parseMapValue(m.buckets.get(bucketOf(k))!.subarray(32, 72)));
  t.is(hex(m.top.root()), hex(ref.root()));
  const walk = m.top.walk(k);
  t.is(walk.stop, 'single');
  t.is(walk.siblings.length, 0);
  const other = new Uint8Array(32);
  t.deepEqual(encodeLookupProof(m.prove(other)), encodeLookupProof(ref.proveLookup(other)));
  t.is(BUCKET_BITS, 18);
});

test('bucketed map: records out of order or in the wrong bucket are refused', (t) => {
  const a = new Uint8Array(RECORD_BYTES);
  const b = new Uint8Array(RECORD_BYTES);
  b[31] = 1;
  const ordered = new Uint8Array([...a, ...b]);
  t.notThrows(() => checkRecords(ordered, 0));
  t.throws(() => checkRecords(new Uint8Array([...b, ...a]), 0), { message: /increasing/ });
  t.throws(() => checkRecords(ordered, 1), { message: /another bucket/ });
  t.throws(() => checkRecords(ordered.subarray(1), 0), { message: /whole records/ });
});

test('leaf hashes kept with a bucket: reused where a record is unchanged, the bucket hash the same', (t) => {
  fc.assert(
    fc.property(batchesArb, (batches) => {
      // One bucket's versions, batch after batch, each with the leaf hashes of the one before.
      let records: Uint8Array = new Uint8Array(0);
      let kept = { records, leaves: leafHashes(records) };
      let next = 0n;
      for (const batch of batches) {
        const adds = batch.map(([key, n]) => {
          const k = key.slice();
          k[0] = 0;
          k[1] = 0;
          k[2] = k[2]! & 0x3f; // all in bucket 0
          return { key: k, indexes: Array.from({ length: n }, () => next++) };
        });
        const unique = [...new Map(adds.map((a) => [hex(a.key), a])).values()];
        records = addToBucket(records, unique);
        const fresh = leafHashes(records);
        const reused = leafHashes(records, kept);
        t.is(hex(reused), hex(fresh));
        t.is(hex(bucketHash(records, reused)), hex(bucketHash(records)));
        kept = { records, leaves: reused };
      }
    }),
    { numRuns: 200 },
  );
});
