/**
 * RFC 6962 / RFC 9162 §2.1.1 Merkle tree hashing with SHA-256.
 *
 * Leaves and interior nodes are domain-separated by a one-byte prefix (0x00 for leaves, 0x01 for
 * nodes), so a leaf can never be passed off as a node. Pure: no I/O.
 */
import { sha256 } from '@noble/hashes/sha2.js';

/** HASH_SIZE is the size in bytes of every hash in the log (SHA-256). */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** Sha256 is a one-shot SHA-256: the digest of `data`, 32 bytes. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

let native: Sha256 | undefined;
/** scratch holds the parts for one native call (hashes are synchronous, so one buffer serves all). */
const scratch = new Uint8Array(256);

/**
 * useSha256 makes every hash of log/ (tree, map, chain, keys) use `impl`, a host's native SHA-256, instead
 * of the pure JavaScript one (noble); undefined goes back to noble. The server installs Node's
 * crypto.hash (server/native-hash.ts), about three times faster per 65-byte node; the browser and the
 * CLI keep noble. Both give the same bytes (test/hash-native.test.ts checks), so this only moves time.
 */
export function useSha256(impl: Sha256 | undefined): void {
  native = impl;
}

/**
 * sha256Concat returns SHA-256(a || b || c), c optional. With a native SHA-256 installed the parts are
 * copied into one buffer (one call into the host costs less than three); otherwise noble streams them.
 * The result is always a fresh Uint8Array of its own.
 */
export function sha256Concat(a: Uint8Array, b: Uint8Array, c?: Uint8Array): Uint8Array {
  if (native === undefined) {
    const h = sha256.create().update(a).update(b);
    return (c === undefined ? h : h.update(c)).digest();
  }
  const n = a.length + b.length + (c === undefined ? 0 : c.length);
  const buf = n <= scratch.length ? scratch.subarray(0, n) : new Uint8Array(n);
  buf.set(a, 0);
  buf.set(b, a.length);
  if (c !== undefined) buf.set(c, a.length + b.length);
  const out = new Uint8Array(HASH_SIZE);
  out.set(native(buf));
  return out;
}

/** hashLeaf returns the RFC 6962 leaf hash SHA-256(0x00 || entry). It never throws. */
export function hashLeaf(entry: Uint8Array): Uint8Array {
  return sha256Concat(LEAF_PREFIX, entry);
}

/**
 * hashChildren returns the RFC 6962 interior node hash SHA-256(0x01 || left || right). It does not
 * check the lengths of its arguments: callers pass hashes they made or already checked.
 */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256Concat(NODE_PREFIX, left, right);
}

const EMPTY_ROOT = sha256(new Uint8Array(0));

/** emptyRoot returns the root hash of the empty tree, SHA-256 of no bytes (RFC 9162 §2.1.1). */
export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice();
}

/**
 * rootFromLeafHashes returns MTH(D[n]) (RFC 9162 §2.1.1) for the tree whose leaf hashes are given, in
 * order: the empty root for no leaves. It works bottom up in O(n) hashes and O(log n) memory, keeping
 * the hashes of the complete subtrees seen so far (the tree's "right edge"). It never throws.
 */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyRoot();
  // stack[i] holds a complete subtree; its size is a power of two, sizes strictly decreasing.
  const stack: Uint8Array[] = [];
  const sizes: number[] = [];
  for (const leaf of leafHashes) {
    let h = leaf;
    let size = 1;
    while (sizes.length > 0 && sizes[sizes.length - 1] === size) {
      h = hashChildren(stack.pop()!, h);
      sizes.pop();
      size *= 2;
    }
    stack.push(h);
    sizes.push(size);
  }
  // Fold the complete subtrees from the right: MTH of a non-power-of-two size is
  // H(left complete subtree || MTH(rest)).
  let root = stack[stack.length - 1]!;
  for (let i = stack.length - 2; i >= 0; i--) root = hashChildren(stack[i]!, root);
  return root;
}
