/**
 * Merkle inclusion and consistency proofs, RFC 9162 §2.1.3 and §2.1.4 (the same proofs as RFC 6962).
 *
 * Provers follow tlog's shape: plan the complete subtrees (NodeIds) the proof needs, read them with
 * ONE call to the HashReader, then compute. A proof element that covers an incomplete right-edge
 * subtree is computed from that subtree's decomposition into complete subtrees, so readers only ever
 * serve complete subtrees, which never change once they exist (and sit in tiles).
 *
 * The three steps are also exported on their own, for callers that batch reads themselves (several
 * proofs in one query, a node cache): planInclusion / planConsistency / planInclusionMany say which
 * nodes, the caller reads them, and proveInclusionFromHashes / proveConsistencyFromHashes /
 * proveInclusionManyFromHashes compute the proofs from the hashes read, in the planned order.
 *
 * Verifiers are strict: arguments must be bigints in range, hashes exactly 32 bytes, proofs exactly
 * as long as the sizes imply. Edge cases follow transparency-dev/merkle `proof/verify.go`.
 * Pure: no I/O.
 */
import { bytesEqual, hexEncode } from './bytes.js';
import { LogError } from './errors.js';
import { emptyRoot, HASH_SIZE, hashChildren } from './hash.js';
import type { HashReader, NodeId } from './tiles.js';

const MAX_UINT64 = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Bit helpers on uint64 bigints

function bitLength(x: bigint): number {
  let n = 0;
  while (x >= 0x100000000n) {
    x >>= 32n;
    n += 32;
  }
  let y = Number(x);
  while (y > 0) {
    y = Math.floor(y / 2);
    n++;
  }
  return n;
}

function popCount(x: bigint): number {
  let n = 0;
  for (; x > 0n; x >>= 1n) if (x & 1n) n++;
  return n;
}

function trailingZeros(x: bigint): number {
  if (x === 0n) return 64;
  let n = 0;
  for (; (x & 1n) === 0n; x >>= 1n) n++;
  return n;
}

/** The largest power of two strictly below n (n >= 2), the `k` of RFC 9162 §2.1.1. */
function splitPoint(n: bigint): bigint {
  return 1n << BigInt(bitLength(n - 1n) - 1);
}

// ---------------------------------------------------------------------------------------------
// Argument checks

function checkUint64(value: unknown, field: string): asserts value is bigint {
  if (typeof value !== 'bigint') {
    throw new LogError('INDEX_OUT_OF_RANGE', `${field} must be a bigint, found ${typeof value}`, { field });
  }
  if (value < 0n || value > MAX_UINT64) {
    throw new LogError('INDEX_OUT_OF_RANGE', `${field} must be from 0 to 2^64-1, found ${value}`, { field });
  }
}

function checkHash(h: unknown, field: string, item?: number): asserts h is Uint8Array {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const found = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    const where = item === undefined ? field : `${field}[${item}]`;
    throw new LogError('HASH_INVALID', `${where} must be a 32-byte SHA-256 hash, found ${found}`, {
      field,
      ...(item === undefined ? {} : { item }),
    });
  }
}

/**
 * checkProofHashes checks that `proof` is an array of 32-byte hashes (any number of them), as a proof
 * must be before its length or values mean anything. Throws HASH_INVALID naming `field` (and
 * details.item for a bad element).
 */
export function checkProofHashes(proof: unknown, field = 'proof'): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof)) {
    throw new LogError('HASH_INVALID', `${field} must be an array of 32-byte hashes, found ${typeof proof}`, {
      field,
    });
  }
  proof.forEach((h, i) => {
    checkHash(h, field, i);
  });
}

// ---------------------------------------------------------------------------------------------
// Planning: which complete subtrees a proof needs

/** The complete subtree of `size` (a power of two) leaves starting at leaf `start`. */
function completeNode(start: bigint, size: bigint): NodeId {
  const level = bitLength(size) - 1;
  return { level, index: start >> BigInt(level) };
}

/**
 * The complete subtrees whose hashes, folded from the right, give MTH(D[start:end]) (RFC 9162
 * §2.1.1): the largest power of two first. `start` must be aligned, as it always is inside the
 * recursions of §2.1.3.1 and §2.1.4.1.
 */
function rangeNodes(start: bigint, end: bigint): NodeId[] {
  const out: NodeId[] = [];
  while (start < end) {
    const size = 1n << BigInt(bitLength(end - start) - 1);
    if (start % size !== 0n) throw new Error(`rangeNodes: start ${start} is not aligned to ${size}`);
    out.push(completeNode(start, size));
    start += size;
  }
  return out;
}

/** Each proof element is the fold of one or more complete subtrees. */
type Plan = NodeId[][];

/** RFC 9162 §2.1.3.1 PATH(m, D[n]), as subtrees, leaf side first. Requires m < n. */
function inclusionPlan(m: bigint, n: bigint): Plan {
  const items: Plan = [];
  let offset = 0n;
  while (n > 1n) {
    const k = splitPoint(n);
    if (m < k) {
      items.push(rangeNodes(offset + k, offset + n)); // MTH(D[k:n])
      n = k;
    } else {
      items.push([completeNode(offset, k)]); // MTH(D[0:k])
      m -= k;
      offset += k;
      n -= k;
    }
  }
  return items.reverse();
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), as subtrees. Requires 0 < m < n. */
function consistencyPlan(m: bigint, n: bigint): Plan {
  const items: Plan = [];
  let offset = 0n;
  let b = true;
  while (m !== n) {
    const k = splitPoint(n);
    if (m <= k) {
      items.push(rangeNodes(offset + k, offset + n)); // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      n = k;
    } else {
      items.push([completeNode(offset, k)]); // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      m -= k;
      n -= k;
      offset += k;
      b = false;
    }
  }
  if (!b) items.push(rangeNodes(offset, offset + n)); // SUBPROOF(m, D[m], false) = [MTH(D[m])]
  return items.reverse();
}

/** Reads every node of the plan with one call (none if the plan is empty) and folds each element. */
async function execute(plan: Plan, read: HashReader): Promise<Uint8Array[]> {
  const ids = plan.flat();
  if (ids.length === 0) return [];
  return fold(plan, checkRead(await read(ids), ids.length, 'HashReader returned'));
}

/**
 * Checks hashes read for `count` planned nodes: as many, each 32 bytes. They come from our own
 * storage, so a mismatch is a broken invariant (a plain Error), not bad input.
 */
function checkRead(hashes: readonly Uint8Array[], count: number, who: string): readonly Uint8Array[] {
  if (hashes.length !== count) {
    throw new Error(`${who} ${hashes.length} hashes for ${count} nodes`);
  }
  hashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new Error(`${who} a ${h?.length}-byte hash for node ${i}`);
    }
  });
  return hashes;
}

/** Folds the hashes of each element's subtrees (plan.flat() order) into the element, from the right. */
function fold(plan: Plan, hashes: readonly Uint8Array[]): Uint8Array[] {
  let at = 0;
  return plan.map((nodes) => {
    const part = hashes.slice(at, at + nodes.length);
    at += nodes.length;
    let h = part[part.length - 1]!;
    for (let i = part.length - 2; i >= 0; i--) h = hashChildren(part[i]!, h);
    return h;
  });
}

// ---------------------------------------------------------------------------------------------
// Inclusion, RFC 9162 §2.1.3

/**
 * proveInclusion returns the inclusion proof (RFC 9162 §2.1.3.1) of the leaf at `index` in the tree
 * of `treeSize` leaves, leaf side first, reading the complete subtrees it needs with ONE call to
 * `read` (no call when the proof is empty, i.e. treeSize is 1). Throws INDEX_OUT_OF_RANGE unless
 * 0 <= index < treeSize <= 2^64-1 (bigints).
 */
export async function proveInclusion(
  index: bigint,
  treeSize: bigint,
  read: HashReader,
): Promise<Uint8Array[]> {
  checkIndex(index, treeSize);
  return execute(inclusionPlan(index, treeSize), read);
}

function checkIndex(index: bigint, treeSize: bigint): void {
  checkUint64(index, 'index');
  checkUint64(treeSize, 'treeSize');
  if (index >= treeSize) {
    throw new LogError('INDEX_OUT_OF_RANGE', `index ${index} is not in a tree of size ${treeSize}`, {
      field: 'index',
    });
  }
}

/**
 * planInclusion returns the complete subtrees whose hashes the inclusion proof of `index` in the tree
 * of `treeSize` leaves is computed from (RFC 9162 §2.1.3.1), exactly the nodes proveInclusion reads, in
 * the same order: empty when treeSize is 1. Throws INDEX_OUT_OF_RANGE like proveInclusion.
 */
export function planInclusion(index: bigint, treeSize: bigint): NodeId[] {
  checkIndex(index, treeSize);
  return inclusionPlan(index, treeSize).flat();
}

/**
 * proveInclusionFromHashes returns the inclusion proof of `index` in the tree of `treeSize` leaves
 * (RFC 9162 §2.1.3.1) computed from `hashes`, the hashes of the nodes planInclusion(index, treeSize)
 * names, in that order. The same proof proveInclusion returns. Throws INDEX_OUT_OF_RANGE like
 * proveInclusion, and a plain Error (a broken invariant of the caller's storage) unless there is one
 * 32-byte hash per planned node.
 */
export function proveInclusionFromHashes(
  index: bigint,
  treeSize: bigint,
  hashes: readonly Uint8Array[],
): Uint8Array[] {
  checkIndex(index, treeSize);
  const plan = inclusionPlan(index, treeSize);
  return fold(plan, checkRead(hashes, plan.flat().length, 'proveInclusionFromHashes: got'));
}

/** The key of a node in maps: `<level>/<index>`. */
function nodeKey(id: NodeId): string {
  return `${id.level}/${id.index}`;
}

/**
 * planInclusionMany returns the union of planInclusion(i, treeSize) over `indexes`: every node the
 * inclusion proofs of those leaves need, each once, in the order first needed. Read these with one
 * query, then call proveInclusionManyFromHashes. Empty for no indexes. Throws INDEX_OUT_OF_RANGE like
 * proveInclusion for any index.
 */
export function planInclusionMany(indexes: readonly bigint[], treeSize: bigint): NodeId[] {
  const seen = new Set<string>();
  const out: NodeId[] = [];
  for (const index of indexes) {
    for (const id of planInclusion(index, treeSize)) {
      const k = nodeKey(id);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(id);
    }
  }
  return out;
}

/**
 * proveInclusionManyFromHashes returns the inclusion proof of each of `indexes` in the tree of
 * `treeSize` leaves, in order, computed from `hashes`: the hashes of the nodes
 * planInclusionMany(indexes, treeSize) names, in that order. Throws like proveInclusionFromHashes.
 */
export function proveInclusionManyFromHashes(
  indexes: readonly bigint[],
  treeSize: bigint,
  hashes: readonly Uint8Array[],
): Uint8Array[][] {
  const nodes = planInclusionMany(indexes, treeSize);
  checkRead(hashes, nodes.length, 'proveInclusionManyFromHashes: got');
  const byNode = new Map<string, Uint8Array>();
  nodes.forEach((id, i) => {
    byNode.set(nodeKey(id), hashes[i]!);
  });
  return indexes.map((index) => {
    const plan = inclusionPlan(index, treeSize);
    return fold(
      plan,
      plan.flat().map((id) => byNode.get(nodeKey(id))!),
    );
  });
}

/** The length of the inclusion proof of `index` in a tree of `size` (transparency-dev/merkle). */
function inclusionProofLength(index: bigint, size: bigint): { inner: number; border: number } {
  const inner = bitLength(index ^ (size - 1n));
  const border = popCount(index >> BigInt(inner));
  return { inner, border };
}

/**
 * verifyInclusion checks that `proof` proves the leaf `leafHash` is at `index` in the tree of
 * `treeSize` leaves whose root is `rootHash` (RFC 9162 §2.1.3.2). Returns nothing; throws
 * INDEX_OUT_OF_RANGE unless index and treeSize are bigints with index < treeSize <= 2^64-1,
 * HASH_INVALID when leafHash, rootHash or a proof element is not 32 bytes, and
 * INCLUSION_PROOF_INVALID when the proof has the wrong length or does not lead to rootHash.
 */
export function verifyInclusion(
  index: bigint,
  treeSize: bigint,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  rootHash: Uint8Array,
): void {
  checkIndex(index, treeSize);
  checkHash(leafHash, 'leafHash');
  checkHash(rootHash, 'rootHash');
  checkProofHashes(proof);
  const { inner, border } = inclusionProofLength(index, treeSize);
  if (proof.length !== inner + border) {
    throw new LogError(
      'INCLUSION_PROOF_INVALID',
      `an inclusion proof of index ${index} in a tree of size ${treeSize} has ${inner + border} hashes, found ${proof.length}`,
      { field: 'proof', expected: inner + border, found: proof.length },
    );
  }
  let fn = index;
  let sn = treeSize - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0n) throw new Error('verifyInclusion: proof longer than the path (length check failed)');
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('verifyInclusion: proof shorter than the path (length check failed)');
  if (!bytesEqual(r, rootHash)) {
    throw new LogError(
      'INCLUSION_PROOF_INVALID',
      `the inclusion proof of index ${index} leads to root ${hexEncode(r)}, expected ${hexEncode(rootHash)} (tree size ${treeSize})`,
      { field: 'proof' },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Consistency, RFC 9162 §2.1.4

function checkSizes(size1: bigint, size2: bigint): void {
  checkUint64(size1, 'size1');
  checkUint64(size2, 'size2');
  if (size1 > size2) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `size1 ${size1} is larger than size2 ${size2}; a log only grows`,
      {
        field: 'size1',
      },
    );
  }
  if (size1 === 0n && size2 !== 0n) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `no consistency proof exists from the empty tree (size1 0) to size ${size2}: every tree extends the empty tree, so there is nothing to check`,
      { field: 'size1' },
    );
  }
}

/**
 * proveConsistency returns the consistency proof (RFC 9162 §2.1.4.1) between the trees of size1 and
 * size2 leaves, reading the complete subtrees it needs with ONE call to `read` (no call when the proof
 * is empty, i.e. size1 == size2). Throws INDEX_OUT_OF_RANGE unless size1 and size2 are bigints with
 * 0 < size1 <= size2 <= 2^64-1, or size1 == size2 == 0 (as transparency-dev/merkle, a proof from the
 * empty tree to a larger one is meaningless).
 */
export async function proveConsistency(
  size1: bigint,
  size2: bigint,
  read: HashReader,
): Promise<Uint8Array[]> {
  checkSizes(size1, size2);
  if (size1 === size2) return [];
  return execute(consistencyPlan(size1, size2), read);
}

/**
 * planConsistency returns the complete subtrees whose hashes the consistency proof between the trees
 * of size1 and size2 leaves is computed from (RFC 9162 §2.1.4.1), exactly the nodes proveConsistency
 * reads, in the same order: empty when size1 == size2. Throws INDEX_OUT_OF_RANGE like proveConsistency.
 */
export function planConsistency(size1: bigint, size2: bigint): NodeId[] {
  checkSizes(size1, size2);
  return consistencyPlan(size1, size2).flat();
}

/**
 * proveConsistencyFromHashes returns the consistency proof between the trees of size1 and size2
 * leaves (RFC 9162 §2.1.4.1) computed from `hashes`, the hashes of the nodes
 * planConsistency(size1, size2) names, in that order. The same proof proveConsistency returns. Throws
 * INDEX_OUT_OF_RANGE like proveConsistency, and a plain Error (a broken invariant of the caller's
 * storage) unless there is one 32-byte hash per planned node.
 */
export function proveConsistencyFromHashes(
  size1: bigint,
  size2: bigint,
  hashes: readonly Uint8Array[],
): Uint8Array[] {
  checkSizes(size1, size2);
  const plan = consistencyPlan(size1, size2);
  return fold(plan, checkRead(hashes, plan.flat().length, 'proveConsistencyFromHashes: got'));
}

/** Checks a consistency proof between two trees of the same size: empty, and equal roots. */
function verifyEqualSizes(
  size: bigint,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  if (proof.length !== 0) {
    throw new LogError(
      'CONSISTENCY_PROOF_INVALID',
      `a consistency proof between equal sizes (${size}) is empty, found ${proof.length} hashes`,
      { field: 'proof', expected: 0, found: proof.length },
    );
  }
  if (!bytesEqual(root1, root2)) {
    throw new LogError(
      'CONSISTENCY_PROOF_INVALID',
      `two trees of size ${size} have different roots ${hexEncode(root1)} and ${hexEncode(root2)}: the log forked`,
      { field: 'root2' },
    );
  }
}

/**
 * The length of the consistency proof from size1 to size2 > size1 (transparency-dev/merkle): the
 * inclusion path of leaf size1-1 in the tree of size2, less its `shift` lowest levels (covered by the
 * complete subtree ending at size1), plus that subtree's hash unless it is the whole first tree
 * (`seeded`: then the path starts at root1).
 */
function consistencyProofLength(size1: bigint, size2: bigint): { length: number; seeded: boolean } {
  const shift = trailingZeros(size1);
  const diverge = bitLength((size1 - 1n) ^ (size2 - 1n));
  const inner = diverge - shift;
  const border = popCount((size1 - 1n) >> BigInt(diverge));
  const seeded = size1 === 1n << BigInt(shift);
  return { length: (seeded ? 0 : 1) + inner + border, seeded };
}

/**
 * The first and second roots a consistency path (the proof, after root1 when seeded) leads to
 * (RFC 9162 §2.1.4.2, steps 2 to 8). The path has the length consistencyProofLength gives.
 */
function consistencyRoots(
  size1: bigint,
  size2: bigint,
  path: readonly Uint8Array[],
): { fr: Uint8Array; sr: Uint8Array } {
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0n) throw new Error('verifyConsistency: proof longer than the path (length check failed)');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('verifyConsistency: proof shorter than the path (length check failed)');
  return { fr, sr };
}

/**
 * verifyConsistency checks that `proof` proves the tree of size2 leaves with root `root2` extends the
 * tree of size1 leaves with root `root1` (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal
 * roots. Returns nothing; throws INDEX_OUT_OF_RANGE unless size1 and size2 are bigints with
 * 0 < size1 <= size2 <= 2^64-1 (or both 0), HASH_INVALID when a root or proof element is not 32 bytes,
 * and CONSISTENCY_PROOF_INVALID when the proof has the wrong length or does not lead to both roots.
 */
export function verifyConsistency(
  size1: bigint,
  size2: bigint,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkSizes(size1, size2);
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  checkProofHashes(proof);
  if (size1 === size2) {
    verifyEqualSizes(size1, proof, root1, root2);
    return;
  }
  const { length: expected, seeded } = consistencyProofLength(size1, size2);
  if (proof.length !== expected) {
    throw new LogError(
      'CONSISTENCY_PROOF_INVALID',
      `a consistency proof from size ${size1} to ${size2} has ${expected} hashes, found ${proof.length}`,
      { field: 'proof', expected, found: proof.length },
    );
  }
  const { fr, sr } = consistencyRoots(size1, size2, seeded ? [root1, ...proof] : proof);
  if (!bytesEqual(fr, root1)) {
    throw new LogError(
      'CONSISTENCY_PROOF_INVALID',
      `the consistency proof from size ${size1} to ${size2} leads to first root ${hexEncode(fr)}, expected ${hexEncode(root1)}`,
      { field: 'root1' },
    );
  }
  if (!bytesEqual(sr, root2)) {
    throw new LogError(
      'CONSISTENCY_PROOF_INVALID',
      `the consistency proof from size ${size1} to ${size2} leads to second root ${hexEncode(sr)}, expected ${hexEncode(root2)}`,
      { field: 'root2' },
    );
  }
}

/**
 * treeHash returns the root hash MTH(D[treeSize]) (RFC 9162 §2.1.1) computed from the tree's complete
 * subtrees, read with ONE call to `read` (no call for the empty tree, whose root is emptyRoot()).
 * Throws INDEX_OUT_OF_RANGE unless treeSize is a bigint from 0 to 2^64-1.
 */
export async function treeHash(treeSize: bigint, read: HashReader): Promise<Uint8Array> {
  checkUint64(treeSize, 'treeSize');
  if (treeSize === 0n) return emptyRoot();
  const [root] = await execute([rangeNodes(0n, treeSize)], read);
  return root!;
}
