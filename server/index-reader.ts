/**
 * The index in query answers (SPEC.md "Query answers"): the index leaf of the answer's checkpoint and
 * one lookup per query parameter, proved against that leaf's root.
 *
 * The lookups are proved from the map at the leaf's size, whichever checkpoint that is (the latest, or
 * the one a cursor pins): the bucket rows are versioned (server/index-sql.ts), and the top comes from a
 * TopCache moved to that size. Before an answer leaves, every lookup is verified against the leaf's root
 * with the verifier clients use (log/index-map.ts verifyLookup): a map version pruned meanwhile, or a
 * store out of step, gives INDEX_UNAVAILABLE (503, retry) instead of a proof that fails at the client.
 */
import { bytesEqual } from '../log/bytes.js';
import { proveLookupFrom } from '../log/index-buckets.js';
import {
  classifyEntry,
  type IndexLeaf,
  type LookupProof,
  queryMapKey,
  verifyLookup,
} from '../log/index-map.js';
import { ServiceError } from './errors.js';
import { type MapReadStore, TopCache } from './index-state.js';

/** LookupQuery is one query parameter: by identifier or by signer, the value as asked. */
export interface LookupQuery {
  by: 'id' | 'key';
  value: string;
}

/** IndexLookup is a lookup of an answer: the key's count and chain, and the proof of its value. */
export interface IndexLookup extends LookupQuery {
  count: bigint;
  chain: Uint8Array;
  proof: LookupProof;
}

/** IndexLeafRow is the index leaf a checkpoint ends with: its position, entry bytes and content. */
export interface IndexLeafRow {
  index: bigint;
  entry: Uint8Array;
  leaf: IndexLeaf;
}

/** IndexReadStore is what IndexReader reads: the map, and entries (for the leaf). */
export interface IndexReadStore extends MapReadStore {
  readEntries(start: bigint, end: bigint): Promise<{ index: bigint; entry: Uint8Array }[]>;
}

/** IndexReader proves lookups for query answers; see the file comment. */
export class IndexReader {
  readonly #store: IndexReadStore;
  readonly #cache = new TopCache();

  constructor(store: IndexReadStore) {
    this.#store = store;
  }

  /**
   * leafOf returns the index leaf at size-1 of a checkpoint of `size`, or undefined when size is 0 or
   * that leaf is not an index leaf of size size-1 (a checkpoint signed before the index existed).
   */
  async leafOf(size: bigint): Promise<IndexLeafRow | undefined> {
    if (size === 0n) return undefined;
    // Every query against the same checkpoint needs the same leaf: keep the last one read (entries
    // never change once logged, so a cached leaf of a size is that size's leaf forever).
    if (this.#leaf?.size === size) return this.#leaf.row;
    const [row] = await this.#store.readEntries(size - 1n, size);
    if (!row) throw new Error(`entry ${size - 1n} of a signed checkpoint is not stored`);
    const kinded = classifyEntry(row.entry);
    const out =
      kinded.kind === 'index' && kinded.leaf.size === size - 1n
        ? { index: row.index, entry: row.entry, leaf: kinded.leaf }
        : undefined;
    this.#leaf = { size, row: out };
    return out;
  }

  #leaf: { size: bigint; row: IndexLeafRow | undefined } | undefined;

  /** lookups proves each query's key against `leaf` (see the file comment). Throws INDEX_UNAVAILABLE. */
  async lookups(leaf: IndexLeaf, queries: readonly LookupQuery[]): Promise<IndexLookup[]> {
    const keys = queries.map((q) => queryMapKey(q.by, q.value));
    const { root, walks } = await this.#cache.use(this.#store, leaf.size, (top) => ({
      root: top.root(),
      walks: keys.map((k) => top.walk(k)),
    }));
    if (!bytesEqual(root, leaf.root)) unavailable(leaf.size);
    const buckets = walks.flatMap((w) => (w.stop === 'empty' ? [] : [w.bucket]));
    const records = await this.#store.bucketRecords(buckets, leaf.size);
    return queries.map((q, i) => {
      const key = keys[i]!;
      const walk = walks[i]!;
      const proof = proveLookupFrom(
        key,
        walk,
        walk.stop === 'empty' ? new Uint8Array(0) : (records.get(walk.bucket) ?? new Uint8Array(0)),
      );
      let got: { count: bigint; chain: Uint8Array };
      try {
        got = verifyLookup(key, proof, leaf.root);
      } catch {
        unavailable(leaf.size);
      }
      return { ...q, count: got.count, chain: got.chain, proof };
    });
  }
}

function unavailable(size: bigint): never {
  throw new ServiceError(
    'INDEX_UNAVAILABLE',
    `the index map of size ${size} is not available (it was pruned, or is being written): retry; a query ` +
      'paging with a cursor older than 10 minutes starts again without the cursor',
    { size: size.toString() },
    1,
  );
}
