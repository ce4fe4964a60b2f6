/**
 * Exhaustive small trees: every tree size up to 128, every leaf index, every pair of sizes. Each proof
 * is built twice, through tileHashReader over the tiles appendLeaves produced (one leaf at a time, so
 * every partial tile exists) and through a direct node reader (test/reference.ts), then verified;
 * every mutation must fail: one flipped bit in each proof element (a random bit, fixed seed), in the
 * leaf and in the roots, a wrong index or size, a truncated, extended or prefixed proof.
 * Each prover must call its reader exactly once (never when the proof is empty).
 */
import test, { type ExecutionContext } from 'ava';
import { hexEncode } from '../log/bytes.js';
import { isLogError } from '../log/errors.js';
import { emptyRoot } from '../log/hash.js';
import {
  proveConsistency,
  proveInclusion,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from '../log/proof.js';
import { type HashReader, tileHashReader } from '../log/tiles.js';
import { leafHashesFor, MemoryTiles, nodeReader, refMth, refPathShape, refProofShape } from './reference.js';

const MAX = 128;
const leaves = leafHashesFor(MAX, 1);

/** mulberry32: a small seeded PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function flipBit(h: Uint8Array, rand: () => number): Uint8Array {
  const out = h.slice();
  const bit = Math.floor(rand() * out.length * 8);
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

/** Storage for every size: tiles from appendLeaves, roots, and a shared memo of direct node hashes. */
async function setup() {
  const store = new MemoryTiles();
  const roots: Uint8Array[] = [emptyRoot()];
  for (let n = 1; n <= MAX; n++) roots.push(await store.append([leaves[n - 1]!]));
  const direct = nodeReader(leaves);
  /** Readers over the tree of size n, each counting its calls. */
  const readers = (n: number) => {
    const calls = { tile: 0, direct: 0, fetch: 0 };
    const tiles = tileHashReader(BigInt(n), async (t) => {
      calls.fetch++;
      return store.fetch(t);
    });
    const tile: HashReader = async (ids) => {
      calls.tile++;
      return tiles(ids);
    };
    const node: HashReader = async (ids) => {
      calls.direct++;
      for (const id of ids) {
        if ((id.index + 1n) << BigInt(id.level) > BigInt(n))
          throw new Error(`node outside tree of size ${n}`);
      }
      return direct(ids);
    };
    return { tile, node, calls };
  };
  return { roots, readers };
}

const setupOnce = setup();

type Code = 'INCLUSION_PROOF_INVALID' | 'CONSISTENCY_PROOF_INVALID';

/** A checker that counts failures that happen as expected and fails the test on any other outcome. */
function rejecter(t: ExecutionContext) {
  const counts = { rejected: 0, sameShape: 0 };
  const reject = (f: () => void, what: string, code?: Code) => {
    try {
      f();
    } catch (e) {
      if (isLogError(e, code)) counts.rejected++;
      else t.fail(`${what}: expected ${code ?? 'a LogError'}, got ${String(e)}`);
      return;
    }
    t.fail(`${what}: verified`);
  };
  const accept = (f: () => void, what: string) => {
    try {
      f();
      counts.sameShape++;
    } catch (e) {
      t.fail(`${what}: ${String(e)}`);
    }
  };
  return { reject, accept, counts };
}

test(`inclusion: every tree size 1..${MAX} and every index (${(MAX * (MAX + 1)) / 2} proofs, two readers)`, async (t) => {
  const { roots, readers } = await setupOnce;
  const rand = prng(42);
  const { reject, accept, counts } = rejecter(t);
  const code = 'INCLUSION_PROOF_INVALID';
  let proofs = 0;
  for (let n = 1; n <= MAX; n++) {
    const size = BigInt(n);
    const root = roots[n]!;
    t.is(hexEncode(root), hexEncode(refMth(leaves.slice(0, n))), `root of size ${n}`);
    const { tile, node, calls } = readers(n);
    t.is(hexEncode(await treeHash(size, tile)), hexEncode(root));
    t.is(calls.tile, 1);
    calls.tile = calls.fetch = 0;
    for (let i = 0; i < n; i++) {
      const index = BigInt(i);
      const leaf = leaves[i]!;
      const proof = await proveInclusion(index, size, tile);
      const viaNodes = await proveInclusion(index, size, node);
      const want = proof.length > 0 ? 1 : 0;
      if (calls.tile !== want || calls.fetch !== want || calls.direct !== want) {
        t.fail(`size ${n} index ${i}: reader calls ${JSON.stringify(calls)}, expected ${want} each`);
      }
      calls.tile = calls.fetch = calls.direct = 0;
      if (proof.map(hexEncode).join() !== viaNodes.map(hexEncode).join())
        t.fail(`size ${n} index ${i}: readers differ`);
      verifyInclusion(index, size, leaf, proof, root);
      proofs++;

      const what = `size ${n} index ${i}`;
      const verify =
        (p: Uint8Array[], l = leaf, r = root) =>
        () =>
          verifyInclusion(index, size, l, p, r);
      proof.forEach((_, k) => {
        const bad = proof.slice();
        bad[k] = flipBit(bad[k]!, rand);
        reject(verify(bad), `${what}: bit in [${k}]`, code);
      });
      reject(verify(proof, flipBit(leaf, rand)), `${what}: leaf`, code);
      reject(verify(proof, leaf, flipBit(root, rand)), `${what}: root`, code);
      if (proof.length > 0) {
        reject(verify(proof.slice(0, -1)), `${what}: truncated`, code);
        reject(verify(proof.slice(1)), `${what}: first dropped`, code);
      }
      reject(verify([...proof, root]), `${what}: extended`, code);
      reject(verify([leaf, ...proof]), `${what}: prefixed`, code);

      // Another index or size fails, unless PATH has exactly the same shape there: then the
      // verifier does the very same hashing and must accept (e.g. index 0 of sizes 3 and 4).
      const shape = refPathShape(i, n);
      const others: [number, number][] = [
        [i + 1, n],
        [i - 1, n],
        [i ^ 1, n],
        [Math.floor(rand() * n), n],
        [i, n + 1],
        [i, n - 1],
        [i, n * 2],
        [i, 1 + Math.floor(rand() * MAX * 2)],
      ];
      for (const [oi, on] of others) {
        if ((oi === i && on === n) || oi < 0 || oi >= on) continue;
        const f = () => verifyInclusion(BigInt(oi), BigInt(on), leaf, proof, root);
        const label = `${what}: as index ${oi} of size ${on}`;
        if (refPathShape(oi, on) === shape) accept(f, `${label} (same shape ${shape})`);
        else reject(f, label);
      }
      t.true(isLogError(t.throws(verifyAt(size, size, leaf, proof, root)), 'INDEX_OUT_OF_RANGE'));
    }
    t.true(isLogError(await t.throwsAsync(proveInclusion(size, size, tile)), 'INDEX_OUT_OF_RANGE'));
  }
  t.log(
    `${proofs} proofs verified, ${counts.rejected} mutations rejected, ${counts.sameShape} same-shape relabelings accepted`,
  );
  t.is(proofs, (MAX * (MAX + 1)) / 2);
});

function verifyAt(index: bigint, size: bigint, leaf: Uint8Array, proof: Uint8Array[], root: Uint8Array) {
  return () => verifyInclusion(index, size, leaf, proof, root);
}

test(`consistency: every pair of sizes 1 <= size1 <= size2 <= ${MAX} (${(MAX * (MAX + 1)) / 2} proofs, two readers)`, async (t) => {
  const { roots, readers } = await setupOnce;
  const rand = prng(7);
  const { reject, accept, counts } = rejecter(t);
  const code = 'CONSISTENCY_PROOF_INVALID';
  let proofs = 0;
  for (let n2 = 1; n2 <= MAX; n2++) {
    const size2 = BigInt(n2);
    const root2 = roots[n2]!;
    const { tile, node, calls } = readers(n2);
    for (let n1 = 1; n1 <= n2; n1++) {
      const size1 = BigInt(n1);
      const root1 = roots[n1]!;
      const proof = await proveConsistency(size1, size2, tile);
      const viaNodes = await proveConsistency(size1, size2, node);
      const want = proof.length > 0 ? 1 : 0;
      if (calls.tile !== want || calls.fetch !== want || calls.direct !== want) {
        t.fail(`${n1} -> ${n2}: reader calls ${JSON.stringify(calls)}, expected ${want} each`);
      }
      calls.tile = calls.fetch = calls.direct = 0;
      if (proof.map(hexEncode).join() !== viaNodes.map(hexEncode).join())
        t.fail(`${n1} -> ${n2}: readers differ`);
      verifyConsistency(size1, size2, proof, root1, root2);
      proofs++;

      const what = `${n1} -> ${n2}`;
      const verify =
        (p: Uint8Array[], r1 = root1, r2 = root2) =>
        () =>
          verifyConsistency(size1, size2, p, r1, r2);
      proof.forEach((_, k) => {
        const bad = proof.slice();
        bad[k] = flipBit(bad[k]!, rand);
        reject(verify(bad), `${what}: bit in [${k}]`, code);
      });
      reject(verify(proof, flipBit(root1, rand)), `${what}: root1`, code);
      reject(verify(proof, root1, flipBit(root2, rand)), `${what}: root2`, code);
      if (n1 < n2) reject(verify(proof, root2, root1), `${what}: swapped roots`, code);
      if (proof.length > 0) {
        reject(verify(proof.slice(0, -1)), `${what}: truncated`, code);
        reject(verify(proof.slice(1)), `${what}: first dropped`, code);
      }
      reject(verify([...proof, root2]), `${what}: extended`, code);
      reject(verify([root1, ...proof]), `${what}: prefixed`, code);

      // Other sizes fail, unless PROOF has exactly the same shape there (the same hashing).
      const shape = refProofShape(n1, n2);
      const others: [number, number][] = [
        [n1 + 1, n2],
        [n1 - 1, n2],
        [n1, n2 + 1],
        [n1, n2 - 1],
        [n1 * 2, n2 * 2],
        [1 + Math.floor(rand() * n2), n2],
      ];
      for (const [s1, s2] of others) {
        if ((s1 === n1 && s2 === n2) || s1 < 1 || s1 > s2) continue;
        const f = () => verifyConsistency(BigInt(s1), BigInt(s2), proof, root1, root2);
        const label = `${what}: as ${s1} -> ${s2}`;
        if (refProofShape(s1, s2) === shape) accept(f, `${label} (same shape ${shape})`);
        else reject(f, label);
      }
    }
    // From the empty tree there is no proof (transparency-dev/merkle): both sides refuse.
    t.true(isLogError(await t.throwsAsync(proveConsistency(0n, size2, tile)), 'INDEX_OUT_OF_RANGE'));
    t.true(
      isLogError(
        t.throws(() => verifyConsistency(0n, size2, [], emptyRoot(), root2)),
        'INDEX_OUT_OF_RANGE',
      ),
    );
    t.true(isLogError(await t.throwsAsync(proveConsistency(size2 + 1n, size2, tile)), 'INDEX_OUT_OF_RANGE'));
    t.true(
      isLogError(
        t.throws(() => verifyConsistency(size2 + 1n, size2, [], root2, root2)),
        'INDEX_OUT_OF_RANGE',
      ),
    );
  }
  t.deepEqual(await proveConsistency(0n, 0n, readers(0).tile), []);
  t.notThrows(() => verifyConsistency(0n, 0n, [], emptyRoot(), emptyRoot()));
  t.log(
    `${proofs} proofs verified, ${counts.rejected} mutations rejected, ${counts.sameShape} same-shape relabelings accepted`,
  );
  t.is(proofs, (MAX * (MAX + 1)) / 2);
});
