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

/** hashLeaf returns the RFC 6962 leaf hash SHA-256(0x00 || entry). It never throws. */
export function hashLeaf(entry: Uint8Array): Uint8Array {
  return sha256.create().update(LEAF_PREFIX).update(entry).digest();
}

/**
 * hashChildren returns the RFC 6962 interior node hash SHA-256(0x01 || left || right). It does not
 * check the lengths of its arguments: callers pass hashes they made or already checked.
 */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  // Streaming the three parts avoids allocating and copying a 65-byte buffer per node.
  return sha256.create().update(NODE_PREFIX).update(left).update(right).digest();
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
