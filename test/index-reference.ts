/**
 * A naive reference for the verifiable index, written straight from SPEC.md "The index: answers that
 * are provably complete", recursive and slow on purpose: every root is recomputed from the whole key
 * set, every proof from the definition of the subtree hashes, every replay from scratch. It hashes
 * with node:crypto rather than @noble/hashes and parses entries with JSON.parse, so the tests compare
 * log/index-map.ts against a second implementation of everything but the JSON shape checks.
 */
import { createHash } from 'node:crypto';

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

const ZERO = new Uint8Array(32);
const ascii = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

const u64 = (n: bigint): Uint8Array => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return new Uint8Array(b);
};

/** refIdentifierKey is SHA-256("sig-index/v1 id" || 0x00 || UTF-8 of id). */
export function refIdentifierKey(id: string): Uint8Array {
  return sha256(ascii('sig-index/v1 id'), Uint8Array.of(0), ascii(id));
}

/** refSignerKey is SHA-256("sig-index/v1 key" || 0x00 || ASCII of the upper-case fingerprint). */
export function refSignerKey(fingerprint: string): Uint8Array {
  return sha256(ascii('sig-index/v1 key'), Uint8Array.of(0), ascii(fingerprint.toUpperCase()));
}

/** refChain is hn: h0 = 32 zero bytes, hj = SHA-256(0x12 || h(j-1) || uint64be(ij)). */
export function refChain(indexes: readonly bigint[]): Uint8Array {
  let h: Uint8Array = ZERO;
  for (const i of indexes) h = sha256(Uint8Array.of(0x12), h, u64(i));
  return h;
}

/** refValue is uint64be(n) || hn over the given indexes. */
export function refValue(indexes: readonly bigint[]): Uint8Array {
  return new Uint8Array([...u64(BigInt(indexes.length)), ...refChain(indexes)]);
}

/** refLeaf is LEAF = SHA-256(0x10 || K || V). */
export function refLeaf(key: Uint8Array, value: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0x10), key, value);
}

/** refNode is NODE = SHA-256(0x11 || left || right). */
export function refNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0x11), left, right);
}

/** Bit d of key, bit 0 = the most significant bit of byte 0. */
export function refBit(key: Uint8Array, d: number): number {
  return (key[Math.floor(d / 8)]! >> (7 - (d % 8))) & 1;
}

/** One key of the map and its value. */
export interface RefItem {
  key: Uint8Array;
  value: Uint8Array;
}

/** refSubtree is the hash of the subtree at `depth` holding exactly `items` (SPEC.md "Map root"). */
export function refSubtree(items: readonly RefItem[], depth: number): Uint8Array {
  if (items.length === 0) return ZERO;
  if (items.length === 1) return refLeaf(items[0]!.key, items[0]!.value);
  if (depth >= 256) throw new Error('refSubtree: two items with the same key');
  const left = items.filter((it) => refBit(it.key, depth) === 0);
  const right = items.filter((it) => refBit(it.key, depth) === 1);
  return refNode(refSubtree(left, depth + 1), refSubtree(right, depth + 1));
}

/** refRoot is the map root: the hash of the whole set. */
export function refRoot(items: readonly RefItem[]): Uint8Array {
  return refSubtree(items, 0);
}

/** A lookup proof as bytes, as the reference builds it. */
export interface RefProof {
  key: Uint8Array;
  siblings: Uint8Array[];
  leaf: RefItem | null;
}

/**
 * refProve walks key's path from the root, one bit at a time: while the subtree on the path holds two
 * or more keys, the sibling is the hash of the other half; the proof ends at the first subtree holding
 * at most one key, whose item (or null) is the leaf.
 */
export function refProve(items: readonly RefItem[], key: Uint8Array): RefProof {
  const siblings: Uint8Array[] = [];
  let here = items;
  for (let d = 0; ; d++) {
    if (here.length <= 1) return { key, siblings, leaf: here[0] ?? null };
    const b = refBit(key, d);
    siblings.push(
      refSubtree(
        here.filter((it) => refBit(it.key, d) !== b),
        d + 1,
      ),
    );
    here = here.filter((it) => refBit(it.key, d) === b);
  }
}

/** What the reference makes of one entry: the map keys it contributes (none for an index leaf). */
export function refEntryKeys(entry: Uint8Array): Uint8Array[] {
  const v = JSON.parse(Buffer.from(entry).toString('utf8')) as Record<string, unknown>;
  if ('index' in v) return [];
  const att = v.attestation as { data: { id: string }; key: string };
  return [refIdentifierKey(att.data.id), refSignerKey(att.key)];
}

/** refMapAt is the map over the entries at indexes below `position`, recomputed from scratch. */
export function refMapAt(entries: readonly Uint8Array[], position: number): RefItem[] {
  const byKey = new Map<string, { key: Uint8Array; indexes: bigint[] }>();
  for (let i = 0; i < position; i++) {
    for (const key of refEntryKeys(entries[i]!)) {
      const hex = Buffer.from(key).toString('hex');
      const slot = byKey.get(hex) ?? { key, indexes: [] };
      slot.indexes.push(BigInt(i));
      byKey.set(hex, slot);
    }
  }
  return [...byKey.values()].map((s) => ({ key: s.key, value: refValue(s.indexes) }));
}

/** refRootAt is the map root at `position`, recomputed from scratch. */
export function refRootAt(entries: readonly Uint8Array[], position: number): Uint8Array {
  return refRoot(refMapAt(entries, position));
}
