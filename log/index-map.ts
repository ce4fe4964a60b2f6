/**
 * The verifiable index (SPEC.md "The index: answers that are provably complete"), format version 1.
 *
 * A deterministic map, computed from the log, from each identifier and each signer to the list of log
 * indexes of their entries, committed as a sparse Merkle tree whose root the log itself carries in its
 * index leaves. This file holds every hash and byte format of that section:
 * - map keys: SHA-256("sig-index/v1 id" || 0x00 || id) and SHA-256("sig-index/v1 key" || 0x00 || FPR);
 * - the chain h0 = 32 zero bytes, hj = SHA-256(0x12 || h(j-1) || uint64be(ij)), and the value
 *   V = uint64be(n) || hn;
 * - the sparse Merkle root: EMPTY = 32 zero bytes, LEAF = SHA-256(0x10 || K || V) for a subtree holding
 *   one key at whatever depth, NODE = SHA-256(0x11 || left || right) otherwise (bit 0 = the most
 *   significant bit of byte 0);
 * - lookup proofs (presence and absence), their wire form and their verification;
 * - index leaves, `{"index":{"root":"<base64>","size":N,"version":1}}`, and entry kinds;
 * - IndexMap, the map kept incrementally, and IndexReplayer, which replays entries in log order.
 *
 * IndexMap is a binary trie that stores only leaves and branching nodes (both children non-empty).
 * A run of single-child levels above a branching node is not stored: its hashes are folded on demand
 * with EMPTY siblings, which is exactly what the NODE rule gives for those levels. Setting a key only
 * forgets the cached hashes on its path, so a root after a batch of updates re-hashes each touched
 * path once (about log2(keys) + 2 hashes per key touched). Memory is one leaf record and at most one
 * branching node per key, in flat typed arrays: about 150 bytes per key.
 *
 * Verifiers are strict: hashes and keys are exactly 32 bytes, values exactly 40 with a count of at
 * least 1, at most 256 siblings, base64 canonical (RFC 4648 §4, padded), a proof's own key equal to
 * the key looked up. Hostile input is bounded before it is decoded. Pure: no I/O.
 */
import { base64DecodeStrict, base64Encode, bytesEqual, hexEncode } from './bytes.js';
import { canonicalJson } from './canonical-json.js';
import { MAX_ENTRY_BYTES } from './entry.js';
import { LogError } from './errors.js';
import { HASH_SIZE, sha256Concat } from './hash.js';
import { type Attestation, parseAttestation } from './signet.js';

/** INDEX_VERSION is the format version this file implements: the `version` of every index leaf. */
export const INDEX_VERSION = 1;

/** MAP_KEY_SIZE is the size of a map key in bytes (SPEC.md "Map keys": 32 bytes, a SHA-256 hash). */
export const MAP_KEY_SIZE = 32;

/** MAP_VALUE_SIZE is the size of a map value in bytes: uint64be(n) || hn (SPEC.md "Map value"). */
export const MAP_VALUE_SIZE = 40;

/** MAX_LOOKUP_SIBLINGS is the most siblings a lookup proof may have: one per key bit (SPEC.md "Lookup proof"). */
export const MAX_LOOKUP_SIBLINGS = 256;

/**
 * MAX_INDEX_LEAF_SIZE is the largest `size` an index leaf can name, 2^53 - 1: RFC 8785 writes numbers
 * as IEEE 754 doubles, which hold every integer up to it exactly and no larger one.
 */
export const MAX_INDEX_LEAF_SIZE = (1n << 53n) - 1n;

const MAX_UINT64 = (1n << 64n) - 1n;
const KEY_BITS = MAP_KEY_SIZE * 8;
const ZERO_HASH = new Uint8Array(HASH_SIZE);
const ID_PREFIX = new TextEncoder().encode('sig-index/v1 id\u0000');
const SIGNER_PREFIX = new TextEncoder().encode('sig-index/v1 key\u0000');
/** The map's domain-separation bytes (SPEC.md "Map root", "Map value"): LEAF, NODE and the chain. */
export const MAP_LEAF_BYTE = 0x10;
export const MAP_NODE_BYTE = 0x11;
export const MAP_CHAIN_BYTE = 0x12;
const LEAF_PREFIX = Uint8Array.of(MAP_LEAF_BYTE);
const NODE_PREFIX = Uint8Array.of(MAP_NODE_BYTE);
const CHAIN_PREFIX = Uint8Array.of(MAP_CHAIN_BYTE);
const FINGERPRINT = /^[0-9A-Fa-f]{40}$/;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Map keys

/**
 * identifierMapKey returns the map key of an identifier (SPEC.md "Map keys"):
 * SHA-256("sig-index/v1 id" || 0x00 || UTF-8 bytes of id), the id exactly as given (no Unicode
 * normalisation; the empty string has a key too). Throws ATTESTATION_INVALID (details.field 'data.id')
 * when id is not a string or holds a lone UTF-16 surrogate, which has no UTF-8 bytes.
 */
export function identifierMapKey(id: string): Uint8Array {
  if (typeof id !== 'string' || LONE_SURROGATE.test(id)) {
    throw new LogError(
      'ATTESTATION_INVALID',
      `an identifier must be a string of Unicode characters (no lone UTF-16 surrogates), found ${typeof id === 'string' ? 'a lone surrogate' : typeof id}`,
      { field: 'data.id' },
    );
  }
  return sha256Concat(ID_PREFIX, utf8Encoder.encode(id));
}

/**
 * signerMapKey returns the map key of a signer (SPEC.md "Map keys"): SHA-256("sig-index/v1 key" ||
 * 0x00 || ASCII of the 40 hex digits in upper case), whatever the case of `fingerprint`. Throws
 * ATTESTATION_INVALID (details.field 'key') unless fingerprint is exactly 40 hex digits.
 */
export function signerMapKey(fingerprint: string): Uint8Array {
  if (typeof fingerprint !== 'string' || !FINGERPRINT.test(fingerprint)) {
    const found =
      typeof fingerprint === 'string' ? JSON.stringify(fingerprint.slice(0, 80)) : typeof fingerprint;
    throw new LogError(
      'ATTESTATION_INVALID',
      `a signer fingerprint must be 40 hex digits (a v4 primary key fingerprint), found ${found}`,
      { field: 'key' },
    );
  }
  return sha256Concat(SIGNER_PREFIX, utf8Encoder.encode(fingerprint.toUpperCase()));
}

/**
 * queryMapKey returns the map key a query asks about (SPEC.md "Query answers": `by` is "id" or
 * "key", `value` as asked): identifierMapKey for "id", signerMapKey for "key". Throws
 * ATTESTATION_INVALID for a value those refuse or a `by` that is neither.
 */
export function queryMapKey(by: 'id' | 'key', value: string): Uint8Array {
  if (by === 'id') return identifierMapKey(value);
  if (by === 'key') return signerMapKey(value);
  throw new LogError('ATTESTATION_INVALID', `a lookup is by "id" or "key", found ${JSON.stringify(by)}`, {
    field: 'by',
  });
}

/** AttestationMapKeys are the two map keys of one attestation entry. */
export interface AttestationMapKeys {
  /** identifierMapKey(data.id) */
  identifier: Uint8Array;
  /** signerMapKey(key) */
  signer: Uint8Array;
}

/**
 * attestationMapKeys returns the two map keys an attestation entry contributes (SPEC.md "Map keys"):
 * its identifier's and its signer's. Throws ATTESTATION_INVALID as identifierMapKey and signerMapKey do.
 */
export function attestationMapKeys(att: Attestation): AttestationMapKeys {
  return { identifier: identifierMapKey(att.data.id), signer: signerMapKey(att.key) };
}

// ---------------------------------------------------------------------------------------------
// The chain and the value

/** MapValue is a key's value: the number of its entries and the chain hn over their log indexes. */
export interface MapValue {
  count: bigint;
  chain: Uint8Array;
}

/** emptyChain returns h0, 32 zero bytes: the chain of a key with no entries (SPEC.md "Map value"). */
export function emptyChain(): Uint8Array {
  return new Uint8Array(HASH_SIZE);
}

/**
 * chainStep returns hj = SHA-256(0x12 || h(j-1) || uint64be(ij)) (SPEC.md "Map value"), the chain
 * extended by one log index. Throws HASH_INVALID unless prev is 32 bytes, and INDEX_OUT_OF_RANGE
 * unless index is a bigint from 0 to 2^64-1.
 */
export function chainStep(prev: Uint8Array, index: bigint): Uint8Array {
  checkHash(prev, 'chain');
  checkUint64(index, 'index');
  return sha256Concat(CHAIN_PREFIX, prev, uint64be(index));
}

/**
 * chainOf returns hn, the chain over the log indexes i1 < i2 < ... < in (h0 for none). Throws
 * INDEX_OUT_OF_RANGE (details.item) unless every index is a bigint from 0 to 2^64-1, strictly greater
 * than the one before.
 */
export function chainOf(indexes: readonly bigint[]): Uint8Array {
  let h = emptyChain();
  let last = -1n;
  for (let j = 0; j < indexes.length; j++) {
    const i = indexes[j]!;
    checkUint64(i, 'index', j);
    if (i <= last) {
      throw new LogError(
        'INDEX_OUT_OF_RANGE',
        `chain indexes must be strictly increasing: index ${i} at position ${j} follows ${last}`,
        { field: 'index', item: j },
      );
    }
    last = i;
    h = chainStep(h, i);
  }
  return h;
}

/**
 * encodeMapValue returns V = uint64be(count) || chain, 40 bytes (SPEC.md "Map value"). Throws
 * INDEX_OUT_OF_RANGE unless count is a bigint from 0 to 2^64-1, HASH_INVALID unless chain is 32 bytes.
 */
export function encodeMapValue(value: MapValue): Uint8Array {
  checkUint64(value.count, 'count');
  checkHash(value.chain, 'chain');
  const out = new Uint8Array(MAP_VALUE_SIZE);
  out.set(uint64be(value.count), 0);
  out.set(value.chain, 8);
  return out;
}

/**
 * parseMapValue returns the count and chain of a 40-byte value V (fresh copies). Throws HASH_INVALID
 * (details.field 'value') when value is not exactly 40 bytes.
 */
export function parseMapValue(value: Uint8Array): MapValue {
  if (!(value instanceof Uint8Array) || value.length !== MAP_VALUE_SIZE) {
    throw new LogError(
      'HASH_INVALID',
      `a map value must be ${MAP_VALUE_SIZE} bytes, found ${describeBytes(value)}`,
      {
        field: 'value',
      },
    );
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return { count: view.getBigUint64(0, false), chain: value.slice(8) };
}

// ---------------------------------------------------------------------------------------------
// Sparse Merkle hashing

/** emptyMapRoot returns EMPTY, 32 zero bytes: the hash of an empty subtree and the root of the empty map. */
export function emptyMapRoot(): Uint8Array {
  return new Uint8Array(HASH_SIZE);
}

/**
 * mapLeafHash returns LEAF = SHA-256(0x10 || K || V), the hash of a subtree holding the one key K
 * with value V, at whatever depth (SPEC.md "Map root"). It does not check lengths: callers pass a
 * 32-byte key and a 40-byte value they made or already checked.
 */
export function mapLeafHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  return sha256Concat(LEAF_PREFIX, key, value);
}

/**
 * mapNodeHash returns NODE = SHA-256(0x11 || left || right), the hash of a subtree holding two or more
 * keys, `left` holding those whose next bit is 0 (SPEC.md "Map root"). It does not check lengths.
 */
export function mapNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256Concat(NODE_PREFIX, left, right);
}

/** Bit d of a key, bit 0 being the most significant bit of byte 0. */
function keyBit(key: Uint8Array, d: number): 0 | 1 {
  return ((key[d >> 3]! >> (7 - (d & 7))) & 1) as 0 | 1;
}

/** The first bit at which a and b (32 bytes each) differ, or 256 when they are equal. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < MAP_KEY_SIZE; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return KEY_BITS;
}

// ---------------------------------------------------------------------------------------------
// IndexMap: the map, kept incrementally

/** A leaf record: key (32 bytes), value (40), cached LEAF hash (32). */
const LEAF_KEY = 0;
const LEAF_VALUE = 32;
const LEAF_HASH = 72;
const LEAF_BYTES = 104;
/** Records per page of a Records store: pages never move, so growing never copies the data. */
const PAGE_SHIFT = 12;
const PAGE_MASK = (1 << PAGE_SHIFT) - 1;

/** Fixed-size byte records in pages of 4,096: record i is at page(i), offset(i). */
class Records {
  readonly #size: number;
  readonly #pages: Uint8Array[] = [];
  constructor(size: number) {
    this.#size = size;
  }
  page(i: number): Uint8Array {
    return this.#pages[i >>> PAGE_SHIFT]!;
  }
  offset(i: number): number {
    return (i & PAGE_MASK) * this.#size;
  }
  /** Makes room for records 0..i. */
  reserve(i: number): void {
    while (this.#pages.length <= i >>> PAGE_SHIFT) this.#pages.push(new Uint8Array(this.#size << PAGE_SHIFT));
  }
  /** A view of `length` bytes of record i from `start` (valid until the record is written again). */
  view(i: number, start: number, length: number): Uint8Array {
    const o = this.offset(i) + start;
    return this.page(i).subarray(o, o + length);
  }
}

/** Returns arr, or a copy twice as large when index i does not fit. */
function grownToHold<T extends Uint8Array | Uint16Array | Int32Array>(
  arr: T,
  i: number,
  make: (n: number) => T,
): T {
  if (i < arr.length) return arr;
  const bigger = make(Math.max(16, arr.length * 2));
  bigger.set(arr);
  return bigger;
}

/** The first bit at which key differs from the 32 bytes at page[off...], or 256 when they are equal. */
function firstDifferenceAt(key: Uint8Array, page: Uint8Array, off: number): number {
  for (let i = 0; i < MAP_KEY_SIZE; i++) {
    const x = key[i]! ^ page[off + i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return KEY_BITS;
}

/**
 * IndexMap is the map of SPEC.md "The index", kept in memory: 32-byte keys to 40-byte values
 * (uint64be(count) || chain, count >= 1; a key with no entries is absent). It computes the sparse
 * Merkle root incrementally (set forgets the cached hashes on one path; root re-hashes only those)
 * and proves lookups.
 *
 * Layout: a binary trie of leaves (one per key) and branching nodes (both children non-empty, at most
 * one per key), in flat arrays rather than objects, about 150 bytes per key. A node is referred to by
 * a number: b >= 0 is branching node b, ~l (< 0) is leaf l. Branching node b splits at bit depth[b];
 * every key below it shares its first depth[b] bits with the key of leaf rep[b]; left[b] holds the
 * keys whose bit depth[b] is 0.
 */
export class IndexMap {
  #top: number | undefined;
  readonly #leaves = new Records(LEAF_BYTES);
  #leafHashed = new Uint8Array(0);
  #leafCount = 0;
  readonly #hashes = new Records(HASH_SIZE);
  #hashed = new Uint8Array(0);
  #depth = new Uint16Array(0);
  #left = new Int32Array(0);
  #right = new Int32Array(0);
  #rep = new Int32Array(0);
  #branchCount = 0;

  /** size is the number of keys in the map. */
  get size(): number {
    return this.#leafCount;
  }

  /**
   * get returns the value of key, or undefined when the key is absent (count 0, chain h0). Throws
   * HASH_INVALID (details.field 'key') unless key is 32 bytes.
   */
  get(key: Uint8Array): MapValue | undefined {
    checkKey(key, 'key');
    const l = this.#leafOnPath(key);
    if (l === undefined || firstDifferenceAt(key, this.#leaves.page(l), this.#leaves.offset(l)) < KEY_BITS) {
      return undefined;
    }
    return parseMapValue(this.#leaves.view(l, LEAF_VALUE, MAP_VALUE_SIZE));
  }

  /**
   * set gives key the value (count, chain), adding the key when absent. Throws HASH_INVALID unless key
   * and chain are 32 bytes, INDEX_OUT_OF_RANGE unless count is from 1 to 2^64-1 (the map holds no key
   * without entries). The map is unchanged when it throws.
   */
  set(key: Uint8Array, value: MapValue): void {
    checkKey(key, 'key');
    if (typeof value.count === 'bigint' && value.count === 0n) {
      throw new LogError(
        'INDEX_OUT_OF_RANGE',
        'a key in the map has at least one entry; count 0 means absent',
        {
          field: 'count',
        },
      );
    }
    const encoded = encodeMapValue(value);
    if (this.#top === undefined) {
      this.#top = ~this.#newLeaf(key, encoded);
      return;
    }
    let parent = -1;
    let parentRight = false;
    let ref = this.#top;
    for (;;) {
      const l = ref >= 0 ? this.#rep[ref]! : ~ref;
      const diff = firstDifferenceAt(key, this.#leaves.page(l), this.#leaves.offset(l));
      if (ref >= 0 && diff >= this.#depth[ref]!) {
        this.#hashed[ref] = 0;
        parent = ref;
        parentRight = keyBit(key, this.#depth[ref]!) === 1;
        ref = parentRight ? this.#right[ref]! : this.#left[ref]!;
        continue;
      }
      if (ref < 0 && diff === KEY_BITS) {
        this.#leaves.page(l).set(encoded, this.#leaves.offset(l) + LEAF_VALUE);
        this.#leafHashed[l] = 0;
        return;
      }
      // key leaves ref's subtree at bit `diff`: a new branching node there holds both.
      const leaf = ~this.#newLeaf(key, encoded);
      const split =
        keyBit(key, diff) === 0 ? this.#newBranch(diff, leaf, ref) : this.#newBranch(diff, ref, leaf);
      if (parent < 0) this.#top = split;
      else if (parentRight) this.#right[parent] = split;
      else this.#left[parent] = split;
      return;
    }
  }

  /** root returns the map root: the hash of the whole set (EMPTY for the empty map). It never throws. */
  root(): Uint8Array {
    return this.#top === undefined ? emptyMapRoot() : this.#hashAt(this.#top, 0).slice();
  }

  /**
   * proveLookup returns the lookup proof of key (SPEC.md "Lookup proof"): the siblings along key's
   * path from the root down to the first subtree holding at most one key, and that subtree's leaf (the
   * key's own, another key's, or null when it is empty). It proves the key's value or its absence,
   * and is the one proof every honest prover makes. Throws HASH_INVALID unless key is 32 bytes.
   */
  proveLookup(key: Uint8Array): LookupProof {
    checkKey(key, 'key');
    const siblings: Uint8Array[] = [];
    const done = (l: number | undefined): LookupProof => ({
      key: key.slice(),
      siblings,
      leaf:
        l === undefined
          ? null
          : {
              key: this.#leaves.view(l, LEAF_KEY, MAP_KEY_SIZE).slice(),
              value: this.#leaves.view(l, LEAF_VALUE, MAP_VALUE_SIZE).slice(),
            },
    });
    let ref = this.#top;
    let d = 0;
    for (;;) {
      if (ref === undefined) return done(undefined);
      if (ref < 0) return done(~ref);
      const l = this.#rep[ref]!;
      const diff = firstDifferenceAt(key, this.#leaves.page(l), this.#leaves.offset(l));
      const depth = this.#depth[ref]!;
      for (; d < depth; d++) {
        if (d === diff) {
          // key's half at depth d+1 is empty; the other half holds all of ref's keys.
          siblings.push(this.#hashAt(ref, d + 1).slice());
          return done(undefined);
        }
        siblings.push(emptyMapRoot());
      }
      const right = keyBit(key, d) === 1;
      siblings.push(this.#hashAt(right ? this.#left[ref]! : this.#right[ref]!, d + 1).slice());
      ref = right ? this.#right[ref]! : this.#left[ref]!;
      d++;
    }
  }

  /** The leaf at the end of key's path (the only one that can hold key), or undefined in the empty map. */
  #leafOnPath(key: Uint8Array): number | undefined {
    let ref = this.#top;
    if (ref === undefined) return undefined;
    while (ref >= 0) ref = keyBit(key, this.#depth[ref]!) === 0 ? this.#left[ref]! : this.#right[ref]!;
    return ~ref;
  }

  #newLeaf(key: Uint8Array, value: Uint8Array): number {
    const l = this.#leafCount++;
    this.#leaves.reserve(l);
    const page = this.#leaves.page(l);
    const off = this.#leaves.offset(l);
    page.set(key, off + LEAF_KEY);
    page.set(value, off + LEAF_VALUE);
    this.#leafHashed = grownToHold(this.#leafHashed, l, (n) => new Uint8Array(n));
    this.#leafHashed[l] = 0;
    return l;
  }

  #newBranch(depth: number, left: number, right: number): number {
    const b = this.#branchCount++;
    this.#hashes.reserve(b);
    this.#hashed = grownToHold(this.#hashed, b, (n) => new Uint8Array(n));
    this.#depth = grownToHold(this.#depth, b, (n) => new Uint16Array(n));
    this.#left = grownToHold(this.#left, b, (n) => new Int32Array(n));
    this.#right = grownToHold(this.#right, b, (n) => new Int32Array(n));
    this.#rep = grownToHold(this.#rep, b, (n) => new Int32Array(n));
    this.#hashed[b] = 0;
    this.#depth[b] = depth;
    this.#left[b] = left;
    this.#right[b] = right;
    this.#rep[b] = left >= 0 ? this.#rep[left]! : ~left;
    return b;
  }

  /**
   * The hash of the subtree at depth d holding exactly ref's keys (d <= depth of a branching node),
   * caching the hashes of leaves and branching nodes. The result may be a view of the cache: copy it
   * before keeping it.
   */
  #hashAt(ref: number, d: number): Uint8Array {
    if (ref < 0) {
      const l = ~ref;
      if (this.#leafHashed[l] === 0) {
        const h = mapLeafHash(
          this.#leaves.view(l, LEAF_KEY, MAP_KEY_SIZE),
          this.#leaves.view(l, LEAF_VALUE, MAP_VALUE_SIZE),
        );
        this.#leaves.page(l).set(h, this.#leaves.offset(l) + LEAF_HASH);
        this.#leafHashed[l] = 1;
      }
      return this.#leaves.view(l, LEAF_HASH, HASH_SIZE);
    }
    const depth = this.#depth[ref]!;
    if (this.#hashed[ref] === 0) {
      const h = mapNodeHash(
        this.#hashAt(this.#left[ref]!, depth + 1),
        this.#hashAt(this.#right[ref]!, depth + 1),
      );
      this.#hashes.page(ref).set(h, this.#hashes.offset(ref));
      this.#hashed[ref] = 1;
    }
    let h = this.#hashes.view(ref, 0, HASH_SIZE);
    if (d === depth) return h;
    // The levels from d to depth-1 have one non-empty child each: NODE with an EMPTY sibling.
    const l = this.#rep[ref]!;
    const page = this.#leaves.page(l);
    const off = this.#leaves.offset(l);
    for (let j = depth - 1; j >= d; j--) {
      const bit = (page[off + (j >> 3)]! >> (7 - (j & 7))) & 1;
      h = bit === 0 ? mapNodeHash(h, ZERO_HASH) : mapNodeHash(ZERO_HASH, h);
    }
    return h;
  }
}

// ---------------------------------------------------------------------------------------------
// Lookup proofs

/** LookupProof is a lookup proof as bytes: the key looked up, the siblings (root side first), the leaf. */
export interface LookupProof {
  key: Uint8Array;
  siblings: Uint8Array[];
  leaf: { key: Uint8Array; value: Uint8Array } | null;
}

/** LookupProofJson is a lookup proof as it travels (SPEC.md "Lookup proof"), standard base64 inside. */
export interface LookupProofJson {
  key: string;
  siblings: string[];
  leaf: { key: string; value: string } | null;
}

/** LookupResult is what a lookup proof proves: the key's count and chain (0 and h0 when absent). */
export interface LookupResult {
  present: boolean;
  count: bigint;
  chain: Uint8Array;
}

/**
 * encodeLookupProof returns the wire form of a lookup proof: `{"key": b64(K), "siblings": [b64, ...],
 * "leaf": {"key": b64(K'), "value": b64(V')} | null}` (SPEC.md "Lookup proof"). Throws
 * LOOKUP_PROOF_INVALID for a proof verifyLookup would refuse on its shape.
 */
export function encodeLookupProof(proof: LookupProof): LookupProofJson {
  const p = checkLookupProof(proof);
  return {
    key: base64Encode(p.key),
    siblings: p.siblings.map(base64Encode),
    leaf: p.leaf === null ? null : { key: base64Encode(p.leaf.key), value: base64Encode(p.leaf.value) },
  };
}

/**
 * parseLookupProof returns the lookup proof in `json` (a parsed JSON value), strictly: an object with
 * exactly `key`, `siblings` and `leaf`; key and siblings canonical standard base64 of 32 bytes, at
 * most 256 siblings (counted before any is decoded); leaf null or exactly {key (32 bytes), value (40
 * bytes, count >= 1)}. Throws LOOKUP_PROOF_INVALID (details.field names the member) otherwise.
 */
export function parseLookupProof(json: unknown): LookupProof {
  if (!isPlainObject(json))
    badProof('proof', `an object {"key", "siblings", "leaf"}, found ${describe(json)}`);
  onlyMembers(json, ['key', 'siblings', 'leaf'], 'proof');
  const key = decodeB64(json.key, MAP_KEY_SIZE, 'proof.key');
  const sibs = json.siblings;
  if (!Array.isArray(sibs)) badProof('proof.siblings', `an array of base64 hashes, found ${describe(sibs)}`);
  checkSiblingCount(sibs.length);
  const siblings: Uint8Array[] = [];
  for (let i = 0; i < sibs.length; i++) siblings.push(decodeB64(sibs[i], HASH_SIZE, `proof.siblings[${i}]`));
  const leafJson = json.leaf;
  let leaf: LookupProof['leaf'] = null;
  if (leafJson !== null) {
    if (!isPlainObject(leafJson))
      badProof('proof.leaf', `null or an object {"key", "value"}, found ${describe(leafJson)}`);
    onlyMembers(leafJson, ['key', 'value'], 'proof.leaf');
    leaf = {
      key: decodeB64(leafJson.key, MAP_KEY_SIZE, 'proof.leaf.key'),
      value: decodeB64(leafJson.value, MAP_VALUE_SIZE, 'proof.leaf.value'),
    };
    checkLeafCount(leaf.value);
  }
  return { key, siblings, leaf };
}

/**
 * verifyLookup checks that `proof` proves key's value, or its absence, in the map whose root is
 * `root` (SPEC.md "Lookup proof", verification steps 1-4), and returns what it proves: present with
 * the leaf's count and chain when the leaf's key is key, absent (count 0, chain h0) when the leaf is
 * another key's or null. Throws HASH_INVALID unless key and root are 32 bytes, and
 * LOOKUP_PROOF_INVALID when the proof has a shape the format does not define (see parseLookupProof;
 * also a proof whose own key is not key), when its hashes do not fold to root, or when the leaf's key
 * does not share its first D bits with key (D = the number of siblings).
 */
export function verifyLookup(key: Uint8Array, proof: LookupProof, root: Uint8Array): LookupResult {
  checkKey(key, 'key');
  checkHash(root, 'root');
  const p = checkLookupProof(proof);
  if (!bytesEqual(p.key, key)) {
    badProof('proof.key', `the key looked up, ${hexEncode(key)}, found ${hexEncode(p.key)}`);
  }
  const depth = p.siblings.length;
  let t = p.leaf === null ? ZERO_HASH : mapLeafHash(p.leaf.key, p.leaf.value);
  for (let d = depth - 1; d >= 0; d--) {
    const s = p.siblings[d]!;
    t = keyBit(key, d) === 0 ? mapNodeHash(t, s) : mapNodeHash(s, t);
  }
  if (!bytesEqual(t, root)) {
    throw new LogError(
      'LOOKUP_PROOF_INVALID',
      `the lookup proof of key ${hexEncode(key)} leads to root ${hexEncode(t)}, expected ${hexEncode(root)}`,
      { field: 'proof' },
    );
  }
  if (p.leaf === null) return { present: false, count: 0n, chain: emptyChain() };
  const shared = firstDifference(p.leaf.key, key);
  if (shared < depth) {
    badProof(
      'proof.leaf.key',
      `a leaf key that shares its first ${depth} bits with ${hexEncode(key)}, found ${hexEncode(p.leaf.key)} (differs at bit ${shared})`,
    );
  }
  if (shared < KEY_BITS) return { present: false, count: 0n, chain: emptyChain() };
  const v = parseMapValue(p.leaf.value);
  return { present: true, count: v.count, chain: v.chain };
}

/** Checks a LookupProof given as bytes (callers in TypeScript can pass anything) and returns it. */
function checkLookupProof(proof: LookupProof): LookupProof {
  if (typeof proof !== 'object' || proof === null)
    badProof('proof', `a lookup proof, found ${describe(proof)}`);
  checkProofBytes(proof.key, MAP_KEY_SIZE, 'proof.key');
  if (!Array.isArray(proof.siblings))
    badProof('proof.siblings', `an array of hashes, found ${describe(proof.siblings)}`);
  checkSiblingCount(proof.siblings.length);
  for (let i = 0; i < proof.siblings.length; i++) {
    checkProofBytes(proof.siblings[i], HASH_SIZE, `proof.siblings[${i}]`);
  }
  const leaf = proof.leaf;
  if (leaf !== null) {
    if (typeof leaf !== 'object') badProof('proof.leaf', `null or {key, value}, found ${describe(leaf)}`);
    checkProofBytes(leaf.key, MAP_KEY_SIZE, 'proof.leaf.key');
    checkProofBytes(leaf.value, MAP_VALUE_SIZE, 'proof.leaf.value');
    checkLeafCount(leaf.value);
  }
  return proof;
}

function checkSiblingCount(n: number): void {
  if (n > MAX_LOOKUP_SIBLINGS) {
    badProof('proof.siblings', `at most ${MAX_LOOKUP_SIBLINGS} siblings (one per key bit), found ${n}`);
  }
}

/** A leaf's value must have a count of at least 1: the map holds no key without entries. */
function checkLeafCount(value: Uint8Array): void {
  if (value.subarray(0, 8).every((b) => b === 0)) {
    badProof(
      'proof.leaf.value',
      'a value with a count of at least 1 (a key without entries is absent), found 0',
    );
  }
}

function checkProofBytes(b: unknown, size: number, field: string): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== size) {
    badProof(field, `${size} bytes, found ${describeBytes(b)}`);
  }
}

function decodeB64(s: unknown, size: number, field: string): Uint8Array {
  const want = 4 * Math.ceil(size / 3);
  if (typeof s !== 'string') badProof(field, `base64 of ${size} bytes, found ${describe(s)}`);
  // Length first: a huge string is refused before it is decoded.
  const bytes = s.length === want ? base64DecodeStrict(s) : undefined;
  if (bytes === undefined || bytes.length !== size) {
    badProof(
      field,
      `canonical standard base64 (padded) of ${size} bytes, found ${JSON.stringify(s.slice(0, 64))}`,
    );
  }
  return bytes;
}

function badProof(field: string, expected: string): never {
  throw new LogError('LOOKUP_PROOF_INVALID', `lookup proof: expected ${expected} (at ${field})`, { field });
}

// ---------------------------------------------------------------------------------------------
// Index leaves and entry kinds

/** IndexLeaf is what an index leaf says: the map root over every entry at an index below `size`. */
export interface IndexLeaf {
  root: Uint8Array;
  size: bigint;
}

/** The longest valid index leaf: 18 + 44 + 9 + 16 digits + 14 = 101 bytes. Anything longer is refused unread. */
const MAX_INDEX_LEAF_BYTES = 101;
const INDEX_LEAF = /^\{"index":\{"root":"([A-Za-z0-9+/]{43}=)","size":(0|[1-9][0-9]{0,15}),"version":1\}\}$/;

/**
 * encodeIndexLeaf returns the entry bytes of an index leaf (SPEC.md "Index leaf"): the RFC 8785 JSON
 * `{"index":{"root":"<base64 of 32 bytes>","size":N,"version":1}}`, no timestamp. Throws HASH_INVALID
 * unless root is 32 bytes, INDEX_OUT_OF_RANGE unless size is a bigint from 0 to MAX_INDEX_LEAF_SIZE.
 */
export function encodeIndexLeaf(leaf: IndexLeaf): Uint8Array {
  checkHash(leaf.root, 'root');
  if (typeof leaf.size !== 'bigint' || leaf.size < 0n || leaf.size > MAX_INDEX_LEAF_SIZE) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `an index leaf's size must be a bigint from 0 to 2^53-1, found ${String(leaf.size)}`,
      { field: 'size' },
    );
  }
  const json = canonicalJson({
    index: { root: base64Encode(leaf.root), size: Number(leaf.size), version: INDEX_VERSION },
  });
  return utf8Encoder.encode(json);
}

/**
 * parseIndexLeaf returns the root and size of an index leaf. It accepts only the bytes
 * encodeIndexLeaf produces (no whitespace, sorted members, `version` 1, size a plain decimal integer
 * up to 2^53-1, root canonical standard base64 of 32 bytes, no escapes, no byte-order mark), and
 * throws ENTRY_INVALID (details.field, details.kind 'index') for anything else.
 */
export function parseIndexLeaf(bytes: Uint8Array): IndexLeaf {
  if (!(bytes instanceof Uint8Array)) badLeaf('$', `entry bytes (a Uint8Array), found ${describe(bytes)}`);
  if (bytes.length > MAX_INDEX_LEAF_BYTES) {
    badLeaf('$', `at most ${MAX_INDEX_LEAF_BYTES} bytes, found ${bytes.length}`);
  }
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  const m = INDEX_LEAF.exec(text);
  const root = m ? base64DecodeStrict(m[1]!) : undefined;
  const size = m ? BigInt(m[2]!) : -1n;
  if (m === null || root === undefined || root.length !== HASH_SIZE || size > MAX_INDEX_LEAF_SIZE) {
    diagnoseLeaf(text);
  }
  const leaf = { root, size };
  // The pattern admits only canonical text; encoding again is the definition, checked once more.
  if (!bytesEqual(encodeIndexLeaf(leaf), bytes))
    throw new Error('parseIndexLeaf: pattern admitted non-canonical bytes');
  return leaf;
}

/** Says why text is not an index leaf, as precisely as it can, and throws ENTRY_INVALID. */
function diagnoseLeaf(text: string): never {
  const shape = '{"index":{"root":"<base64 of 32 bytes>","size":N,"version":1}}';
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    badLeaf('$', `the RFC 8785 JSON ${shape}, found text that is not JSON`);
  }
  if (!isPlainObject(v) || !isPlainObject(v.index)) badLeaf('index', `an object ${shape}`);
  const extra = Object.keys(v).find((k) => k !== 'index');
  if (extra !== undefined) badLeaf(extra, `only the member "index", found "${extra}"`);
  const idx = v.index;
  const extraInner = Object.keys(idx).find((k) => k !== 'root' && k !== 'size' && k !== 'version');
  if (extraInner !== undefined)
    badLeaf(`index.${extraInner}`, `only "root", "size" and "version", found "${extraInner}"`);
  if (idx.version !== INDEX_VERSION)
    badLeaf('index.version', `version 1, found ${JSON.stringify(idx.version)}`);
  const root = typeof idx.root === 'string' ? base64DecodeStrict(idx.root) : undefined;
  if (root === undefined || root.length !== HASH_SIZE) {
    badLeaf('index.root', `canonical standard base64 of 32 bytes, found ${JSON.stringify(idx.root)}`);
  }
  if (typeof idx.size !== 'number' || !Number.isSafeInteger(idx.size) || idx.size < 0) {
    badLeaf('index.size', `an integer from 0 to 2^53-1, found ${JSON.stringify(idx.size)}`);
  }
  badLeaf('$', 'the RFC 8785 canonical bytes (no whitespace, sorted members, plain numbers, no escapes)');
}

function badLeaf(field: string, expected: string): never {
  throw new LogError('ENTRY_INVALID', `index leaf: expected ${expected} (at ${field})`, {
    field,
    kind: 'index',
  });
}

/**
 * isIndexLeaf reports whether entry bytes are an index leaf (parseIndexLeaf accepts them). It never
 * throws, and reads at most 101 bytes.
 */
export function isIndexLeaf(entry: Uint8Array): boolean {
  try {
    parseIndexLeaf(entry);
    return true;
  } catch {
    return false;
  }
}

/**
 * KindedEntry is an entry by its kind (SPEC.md "Entry kinds"): an attestation entry, with the map keys
 * it contributes, or an index leaf, which contributes none.
 */
export type KindedEntry =
  | { kind: 'attestation'; attestation: Attestation; keys: AttestationMapKeys }
  | { kind: 'index'; leaf: IndexLeaf };

/**
 * classifyEntry returns the kind of the entry bytes (SPEC.md "Entry kinds"). An entry with a top-level
 * member `index` is an index leaf and must be exactly the bytes encodeIndexLeaf makes (parseIndexLeaf).
 * An entry with a top-level member `attestation` (and no `index`) is an attestation entry: the bytes
 * must be RFC 8785 canonical JSON (SPEC.md "The log": Entry) and `attestation` must pass
 * parseAttestation; the other top-level members are the server's fields, not read here (so logs whose
 * server fields differ from ours, e.g. loggedAt without milliseconds, still replay). Throws
 * ENTRY_TOO_LARGE above MAX_ENTRY_BYTES and ENTRY_INVALID (details.field; details.cause for an
 * attestation error) for bytes that are not UTF-8 JSON of an object, for the reserved kinds (neither
 * member), and for an entry that claims both.
 */
export function classifyEntry(entry: Uint8Array): KindedEntry {
  if (!(entry instanceof Uint8Array)) badEntry('$', `entry bytes (a Uint8Array), found ${describe(entry)}`);
  if (entry.length > MAX_ENTRY_BYTES) {
    throw new LogError(
      'ENTRY_TOO_LARGE',
      `entry is ${entry.length} bytes; an entry is at most ${MAX_ENTRY_BYTES} bytes (c2sp.org/tlog-tiles)`,
      { size: entry.length, limit: MAX_ENTRY_BYTES },
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(entry);
  } catch {
    badEntry('$', 'UTF-8 text, found invalid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    badEntry('$', 'JSON text, found a syntax error');
  }
  if (!isPlainObject(value)) badEntry('$', `a JSON object, found ${describe(value)}`);
  const hasIndex = Object.hasOwn(value, 'index');
  const hasAttestation = Object.hasOwn(value, 'attestation');
  if (hasIndex && hasAttestation) badEntry('$', 'one kind of entry, found both "attestation" and "index"');
  if (hasIndex) return { kind: 'index', leaf: parseIndexLeaf(entry) };
  if (!hasAttestation) {
    badEntry(
      '$',
      'an attestation entry ("attestation") or an index leaf ("index"); other kinds are reserved',
    );
  }
  let attestation: Attestation;
  try {
    attestation = parseAttestation(value.attestation);
  } catch (err) {
    if (!(err instanceof LogError)) throw err;
    const field = typeof err.details.field === 'string' ? `attestation.${err.details.field}` : 'attestation';
    throw new LogError('ENTRY_INVALID', `entry: ${err.message}`, { field, cause: err.code });
  }
  if (canonicalJson(value) !== text) {
    badEntry(
      '$',
      'the RFC 8785 canonical encoding (sorted members, no whitespace, canonical numbers and escapes)',
    );
  }
  return { kind: 'attestation', attestation, keys: attestationMapKeys(attestation) };
}

function badEntry(field: string, expected: string): never {
  throw new LogError('ENTRY_INVALID', `entry: expected ${expected} (at ${field})`, { field });
}

// ---------------------------------------------------------------------------------------------
// The replayer

/**
 * ReplayStep is what IndexReplayer.append learned from one entry at log index `index`. For an index
 * leaf it carries the root recomputed from the entries before it, and whether the leaf names its own
 * position (sizeMatches) and holds that root (rootMatches): SPEC.md "What an auditor checks".
 */
export type ReplayStep =
  | { index: bigint; kind: 'attestation'; attestation: Attestation; keys: AttestationMapKeys }
  | {
      index: bigint;
      kind: 'index';
      leaf: IndexLeaf;
      root: Uint8Array;
      sizeMatches: boolean;
      rootMatches: boolean;
    };

/**
 * IndexReplayer replays a log's entries, in log order, into its index (SPEC.md "What an auditor
 * checks"): each attestation entry at index i appends i to the chains of its two map keys; index
 * leaves change nothing and are checked against the position and the root. root() is the map root at
 * the current position (over every entry appended so far); it costs only the paths touched since the
 * last call. Start it from an empty log, or from a map already built up to `size` entries.
 */
export class IndexReplayer {
  /** map is the index as of the current position (shared, not copied: setting it changes the replay). */
  readonly map: IndexMap;
  #size: bigint;

  /**
   * The constructor starts at position `size` (default 0) with `map` (default empty), which must be the
   * index of the first `size` entries. Throws INDEX_OUT_OF_RANGE unless size is a bigint from 0 to 2^64-1.
   */
  constructor(map: IndexMap = new IndexMap(), size = 0n) {
    checkUint64(size, 'size');
    this.map = map;
    this.#size = size;
  }

  /** size is the current position: the number of entries replayed (or started from). */
  get size(): bigint {
    return this.#size;
  }

  /** root returns the map root at the current position, over every entry before it. It never throws. */
  root(): Uint8Array {
    return this.map.root();
  }

  /**
   * append replays the entry at index `size` and moves to the next position. A wrong index leaf is a
   * verdict in the step, not an error. Throws as classifyEntry does for entry bytes of no valid kind
   * (ENTRY_INVALID, ENTRY_TOO_LARGE), leaving the replay where it was.
   */
  append(entry: Uint8Array): ReplayStep {
    const kinded = classifyEntry(entry);
    const index = this.#size;
    checkUint64(index, 'index');
    if (kinded.kind === 'index') {
      const root = this.map.root();
      this.#size++;
      return {
        index,
        kind: 'index',
        leaf: kinded.leaf,
        root,
        sizeMatches: kinded.leaf.size === index,
        rootMatches: bytesEqual(kinded.leaf.root, root),
      };
    }
    for (const key of [kinded.keys.identifier, kinded.keys.signer]) {
      const v = this.map.get(key);
      this.map.set(key, {
        count: (v?.count ?? 0n) + 1n,
        chain: chainStep(v?.chain ?? ZERO_HASH, index),
      });
    }
    this.#size++;
    return { index, kind: 'attestation', attestation: kinded.attestation, keys: kinded.keys };
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function uint64be(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

/** checkUint64 throws INDEX_OUT_OF_RANGE (details.field, details.item) unless value is a bigint from 0 to 2^64-1. */
export function checkUint64(value: unknown, field: string, item?: number): asserts value is bigint {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_UINT64) {
    const found = typeof value === 'bigint' ? String(value) : typeof value;
    throw new LogError('INDEX_OUT_OF_RANGE', `${field} must be a bigint from 0 to 2^64-1, found ${found}`, {
      field,
      ...(item === undefined ? {} : { item }),
    });
  }
}

function checkHash(h: unknown, field: string): asserts h is Uint8Array {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new LogError('HASH_INVALID', `${field} must be a 32-byte SHA-256 hash, found ${describeBytes(h)}`, {
      field,
    });
  }
}

function checkKey(k: unknown, field: string): asserts k is Uint8Array {
  if (!(k instanceof Uint8Array) || k.length !== MAP_KEY_SIZE) {
    throw new LogError('HASH_INVALID', `${field} must be a 32-byte map key, found ${describeBytes(k)}`, {
      field,
    });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function onlyMembers(obj: Record<string, unknown>, names: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!names.includes(k))
      badProof(`${field}.${k}`, `only the members ${names.map((n) => `"${n}"`).join(', ')}`);
  }
  for (const n of names) {
    if (!Object.hasOwn(obj, n)) badProof(`${field}.${n}`, `a member "${n}", found none`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}

function describeBytes(b: unknown): string {
  return b instanceof Uint8Array ? `${b.length} bytes` : describe(b);
}
