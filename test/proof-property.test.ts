/**
 * Property tests (fast-check) against the naive recursive reference in test/reference.ts (RFC 9162
 * §2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 SUBPROOF, hashed with node:crypto) on trees up to 3,000 leaves:
 * roots and proofs built through the tile reader equal the reference's; appendLeaves over random
 * batch splits gives the same tiles and roots as building all at once; tile paths are canonical.
 */
import test from 'ava';
import fc from 'fast-check';
import { hexEncode } from '../log/bytes.js';
import { isLogError } from '../log/errors.js';
import { rootFromLeafHashes } from '../log/hash.js';
import {
  proveConsistency,
  proveInclusion,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../log/proof.js';
import { ENTRIES_LEVEL, parseTilePath, tileHashReader, tilePath } from '../log/tiles.js';
import { leafHashesFor, MemoryTiles, refMth, refPath, refProof } from './reference.js';

const MAX = 3000;
const leaves = leafHashesFor(MAX, 11);
const hexes = (bs: readonly Uint8Array[]): string[] => bs.map(hexEncode);

/** One tile store grown one leaf at a time, so the tiles of every size 1..MAX are stored. */
const grown = (async () => {
  const store = new MemoryTiles();
  for (const leaf of leaves) await store.append([leaf]);
  return store;
})();

/** A tile-backed HashReader for the tree of size n that counts its fetches. */
async function readerAt(n: number) {
  const store = await grown;
  const counter = { fetches: 0 };
  const read = tileHashReader(BigInt(n), async (tiles) => {
    counter.fetches++;
    return store.fetch(tiles);
  });
  return { read, counter };
}

test(`roots and inclusion proofs equal the reference's (trees up to ${MAX} leaves)`, async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc
        .integer({ min: 1, max: MAX })
        .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))),
      async ([n, i]) => {
        const slice = leaves.slice(0, n);
        const root = refMth(slice);
        const { read, counter } = await readerAt(n);
        if (hexEncode(rootFromLeafHashes(slice)) !== hexEncode(root)) return false;
        if (hexEncode(await treeHash(BigInt(n), read)) !== hexEncode(root)) return false;
        const proof = await proveInclusion(BigInt(i), BigInt(n), read);
        if (counter.fetches !== 2 - (proof.length === 0 ? 1 : 0)) return false;
        if (hexes(proof).join() !== hexes(refPath(i, slice)).join()) return false;
        verifyInclusion(BigInt(i), BigInt(n), leaves[i]!, proof, root);
        return true;
      },
    ),
    { numRuns: 60 },
  );
  t.pass('60 random trees and leaves agreed with the reference');
});

test(`consistency proofs equal the reference's (trees up to ${MAX} leaves)`, async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc
        .integer({ min: 1, max: MAX })
        .chain((n2) => fc.tuple(fc.integer({ min: 1, max: n2 }), fc.constant(n2))),
      async ([n1, n2]) => {
        const { read, counter } = await readerAt(n2);
        const proof = await proveConsistency(BigInt(n1), BigInt(n2), read);
        if (counter.fetches !== (proof.length === 0 ? 0 : 1)) return false;
        const want = n1 === n2 ? [] : refProof(n1, leaves.slice(0, n2));
        if (hexes(proof).join() !== hexes(want).join()) return false;
        verifyConsistency(
          BigInt(n1),
          BigInt(n2),
          proof,
          refMth(leaves.slice(0, n1)),
          refMth(leaves.slice(0, n2)),
        );
        return true;
      },
    ),
    { numRuns: 60 },
  );
  t.pass('60 random size pairs agreed with the reference');
});

test(`appendLeaves in random batch splits equals one batch (trees up to ${MAX} leaves)`, async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: MAX }),
      fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 30 }),
      async (n, cuts) => {
        // All at once.
        const single = new MemoryTiles();
        const rootOnce = await single.append(leaves.slice(0, n));
        const once = single.latest();
        // In the batches `cuts` describes (empty batches included), then the rest.
        const split = new MemoryTiles();
        let at = 0;
        for (const c of cuts) {
          const size = Math.min(c, n - at);
          const before = split.fetchCalls;
          const root = await split.append(leaves.slice(at, at + size));
          at += size;
          if (split.fetchCalls - before > 1) return false;
          if (hexEncode(root) !== hexEncode(rootFromLeafHashes(leaves.slice(0, at)))) return false;
        }
        const root = await split.append(leaves.slice(at, n));
        if (hexEncode(root) !== hexEncode(rootOnce)) return false;
        const got = split.latest();
        if (got.size !== once.size) return false;
        for (const [path, data] of once)
          if (hexEncode(got.get(path) ?? new Uint8Array()) !== hexEncode(data)) return false;
        return true;
      },
    ),
    { numRuns: 40 },
  );
  t.pass('40 random batch splits gave the tiles and roots of a single batch');
});

test('tile paths: every coordinate round-trips; any other string is TILE_PATH_INVALID', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: ENTRIES_LEVEL, max: 63 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.integer({ min: 1, max: 256 }),
      (level, index, width) => {
        const c = { level, index, width };
        const p = tilePath(c);
        const back = parseTilePath(p);
        return back.level === level && back.index === index && back.width === width;
      },
    ),
    { numRuns: 500 },
  );
  // Strictness: a string either is rejected, or is exactly the canonical path of what it parses to.
  const pieces = fc.constantFrom(
    'tile/',
    '0/',
    '1/',
    '63/',
    '64/',
    '00/',
    'entries/',
    'x',
    '000',
    '001',
    '/',
    '.p/',
    '5',
    '255',
    '256',
    '0',
    ' ',
    '-1',
  );
  fc.assert(
    fc.property(
      fc.array(pieces, { maxLength: 9 }).map((a) => a.join('')),
      (s) => {
        try {
          return tilePath(parseTilePath(s)) === s;
        } catch (e) {
          return isLogError(e, 'TILE_PATH_INVALID');
        }
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});
