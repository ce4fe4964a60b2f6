/**
 * The proof planners (log/proof.ts planInclusion, planConsistency, planInclusionMany) and the provers
 * that compute from hashes already read, exhaustively on small trees: every tree size up to 100, every
 * leaf index, every pair of sizes. For each, the planned nodes must be exactly the nodes the
 * reader-based prover reads (same order), every planned node a complete subtree of the tree, and the
 * proof computed from the planned hashes equal to the reader-based one. An inclusion plan tiles every
 * leaf but the proved one, each once. Leaf hashes are
 * test/reference.ts leafHashesFor(100, 2); node hashes come from its direct reader (refMth, no tiles).
 */
import test from 'ava';
import { isLogError } from '../log/errors.js';
import {
  planConsistency,
  planInclusion,
  planInclusionMany,
  proveConsistency,
  proveConsistencyFromHashes,
  proveInclusion,
  proveInclusionFromHashes,
  proveInclusionManyFromHashes,
} from '../log/proof.js';
import type { HashReader, NodeId } from '../log/tiles.js';
import { leafHashesFor, nodeReader } from './reference.js';

const MAX = 100;
const leaves = leafHashesFor(MAX, 2);
const direct = nodeReader(leaves);

/** A reader over the tree of size n that records what it is asked for, and refuses nodes outside it. */
function recording(n: number): { read: HashReader; asked: NodeId[][] } {
  const asked: NodeId[][] = [];
  const read: HashReader = async (ids) => {
    asked.push([...ids]);
    for (const id of ids)
      if (!inTree(id, n)) throw new Error(`node ${key(id)} is not in the tree of size ${n}`);
    return direct(ids);
  };
  return { read, asked };
}

/** Whether id is a complete subtree of the tree of size n (all its leaves are in the tree). */
function inTree(id: NodeId, n: number): boolean {
  return id.level >= 0 && id.index >= 0n && (id.index + 1n) << BigInt(id.level) <= BigInt(n);
}

const key = (id: NodeId) => `${id.level}/${id.index}`;

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isLogError(e) ? e.code : `plain ${(e as Error).constructor.name}`;
  }
  return undefined;
}

test(`planInclusion: the nodes proveInclusion reads, for every index of every size 1..${MAX}`, async (t) => {
  let proofs = 0;
  let nodes = 0;
  for (let n = 1; n <= MAX; n++) {
    for (let i = 0; i < n; i++) {
      const plan = planInclusion(BigInt(i), BigInt(n));
      const { read, asked } = recording(n);
      const proof = await proveInclusion(BigInt(i), BigInt(n), read);
      // One read of exactly the planned nodes, in order; no read when the plan is empty.
      t.deepEqual(asked, plan.length === 0 ? [] : [plan], `n=${n} i=${i}`);
      for (const id of plan) t.true(inTree(id, n), `n=${n} i=${i}: ${key(id)} outside the tree`);
      // The planned subtrees tile every leaf but i, each leaf once (the proof covers the rest of the tree).
      const covered = new Array<number>(n).fill(0);
      for (const id of plan) {
        for (let l = Number(id.index) << id.level; l < (Number(id.index) + 1) << id.level; l++) covered[l]!++;
      }
      t.deepEqual(
        covered,
        covered.map((_, l) => (l === i ? 0 : 1)),
        `n=${n} i=${i}: planned nodes do not tile the tree less leaf i`,
      );
      const computed = proveInclusionFromHashes(BigInt(i), BigInt(n), await direct(plan));
      t.deepEqual(computed, proof, `n=${n} i=${i}`);
      proofs++;
      nodes += plan.length;
    }
  }
  t.log(`${proofs} inclusion proofs, ${nodes} planned nodes`);
});

test(`planConsistency: the nodes proveConsistency reads, for every pair of sizes 1 <= m <= n <= ${MAX}`, async (t) => {
  let proofs = 0;
  for (let n = 1; n <= MAX; n++) {
    for (let m = 1; m <= n; m++) {
      const plan = planConsistency(BigInt(m), BigInt(n));
      const { read, asked } = recording(n);
      const proof = await proveConsistency(BigInt(m), BigInt(n), read);
      t.deepEqual(asked, plan.length === 0 ? [] : [plan], `m=${m} n=${n}`);
      if (m === n) t.deepEqual(plan, [], `m=n=${n}: nothing to read`);
      for (const id of plan) t.true(inTree(id, n), `m=${m} n=${n}: ${key(id)} outside the tree`);
      const computed = proveConsistencyFromHashes(BigInt(m), BigInt(n), await direct(plan));
      t.deepEqual(computed, proof, `m=${m} n=${n}`);
      proofs++;
    }
  }
  t.deepEqual(planConsistency(0n, 0n), []);
  t.deepEqual(proveConsistencyFromHashes(0n, 0n, []), []);
  t.log(`${proofs} consistency proofs`);
});

test(`planInclusionMany: the union of the plans, each node once; proofs equal proveInclusion (sizes 1..${MAX})`, async (t) => {
  // Per size: all indexes at once, the even ones, the last one twice with the first (duplicates
  // asked for), and none.
  for (let n = 1; n <= MAX; n++) {
    const all = Array.from({ length: n }, (_, i) => BigInt(i));
    const sets = [all, all.filter((i) => i % 2n === 0n), [BigInt(n - 1), 0n, BigInt(n - 1)], []];
    for (const indexes of sets) {
      const what = `n=${n} indexes=${indexes.length}`;
      const union = planInclusionMany(indexes, BigInt(n));
      const keys = union.map(key);
      t.is(new Set(keys).size, keys.length, `${what}: a node planned twice`);
      const want = new Set(indexes.flatMap((i) => planInclusion(i, BigInt(n)).map(key)));
      t.deepEqual(new Set(keys), want, `${what}: not the union of the plans`);
      const proofs = proveInclusionManyFromHashes(indexes, BigInt(n), await direct(union));
      t.is(proofs.length, indexes.length);
      for (const [j, i] of indexes.entries()) {
        t.deepEqual(proofs[j], await proveInclusion(i, BigInt(n), direct), `${what}: proof of ${i}`);
      }
    }
  }
});

test('planners refuse what the provers refuse; computing from the wrong number of hashes is a plain Error', async (t) => {
  const refused: [string, () => unknown][] = [
    ['index = size', () => planInclusion(5n, 5n)],
    ['empty tree', () => planInclusion(0n, 0n)],
    ['negative index', () => planInclusion(-1n, 5n)],
    ['size 2^64', () => planInclusion(0n, 1n << 64n)],
    ['index a number', () => planInclusion(0 as unknown as bigint, 5n)],
    ['one index out of many', () => planInclusionMany([0n, 7n], 7n)],
    ['size1 > size2', () => planConsistency(6n, 5n)],
    ['from the empty tree', () => planConsistency(0n, 5n)],
    ['prove from hashes, index = size', () => proveInclusionFromHashes(5n, 5n, [])],
    ['prove from hashes, size1 > size2', () => proveConsistencyFromHashes(6n, 5n, [])],
  ];
  for (const [what, f] of refused) t.is(codeOf(f), 'INDEX_OUT_OF_RANGE', what);

  const plan = planInclusion(2n, 7n);
  const hashes = await direct(plan);
  const chashes = await direct(planConsistency(3n, 7n));
  const mhashes = await direct(planInclusionMany([1n, 5n], 7n));
  const broken: [string, () => unknown][] = [
    ['one hash too few', () => proveInclusionFromHashes(2n, 7n, hashes.slice(1))],
    ['one hash too many', () => proveInclusionFromHashes(2n, 7n, [...hashes, hashes[0]!])],
    ['a 31-byte hash', () => proveInclusionFromHashes(2n, 7n, [hashes[0]!.subarray(1), ...hashes.slice(1)])],
    ['consistency, one hash too few', () => proveConsistencyFromHashes(3n, 7n, chashes.slice(1))],
    ['many, one hash too few', () => proveInclusionManyFromHashes([1n, 5n], 7n, mhashes.slice(1))],
  ];
  for (const [what, f] of broken) t.is(codeOf(f), 'plain Error', what);
});

test('planners at the uint64 edge: a proof in a tree of 2^64-1 leaves plans at most 128 complete subtrees, all in the tree', (t) => {
  const n = (1n << 64n) - 1n;
  for (const i of [0n, 1n, n / 2n, n - 2n, n - 1n]) {
    const plan = planInclusion(i, n);
    t.true(plan.length > 0 && plan.length <= 64 * 2, `index ${i}: ${plan.length} nodes`);
    for (const id of plan) t.true((id.index + 1n) << BigInt(id.level) <= n, `index ${i}: ${key(id)}`);
  }
  const plan = planConsistency(n - 1n, n);
  for (const id of plan) t.true((id.index + 1n) << BigInt(id.level) <= n);
});
