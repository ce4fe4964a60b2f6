/**
 * Prover: inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4) from the stored hash tiles, each
 * in tlog's shape (STYLE.md): plan the nodes, one batched read of tiles, compute. Knows nothing of
 * checkpoints: callers (server/reader.ts, server/awaiter.ts) bound sizes by the latest signed one.
 *
 * The node cache holds hashes of complete subtrees that proofs of several entries needed. Such a node
 * never changes once the tree covers it (RFC 9162 §2.1: the log is append-only), so a hit skips the tile
 * read and the hashing inside the tile; recent entries share most of their proof, so hits are the rule.
 * A process that dies loses only the cache.
 */
import {
  planInclusionMany,
  proveConsistency,
  proveInclusion,
  proveInclusionManyFromHashes,
} from '../log/proof.js';
import { type NodeId, type TileFetcher, tileHashReader } from '../log/tiles.js';
import { LruMap } from './lru.js';

/** NODE_CACHE_ENTRIES bounds the proof node cache: 65,536 hashes, about 10 MB with the map's overhead. */
const NODE_CACHE_ENTRIES = 65_536;

const nodeKey = (n: NodeId) => `${n.level}/${n.index}`;

/** Prover proves from the tiles `readTiles` returns (one call per proof, or per batch of proofs). */
export class Prover {
  private readonly readTiles: TileFetcher;
  private readonly nodeCache = new LruMap<string, Uint8Array>(NODE_CACHE_ENTRIES);

  constructor(readTiles: TileFetcher) {
    this.readTiles = readTiles;
  }

  /**
   * proveMany returns inclusion proofs for several indexes (each < treeSize) in the tree of treeSize,
   * in order: plan every node the proofs need (log/proof.ts planInclusionMany), read the ones the cache
   * lacks in ONE batched read of stored tiles, compute. Throws when a needed tile is not stored.
   */
  async proveMany(indexes: readonly bigint[], treeSize: bigint): Promise<Uint8Array[][]> {
    if (indexes.length === 0) return [];
    const planned = planInclusionMany(indexes, treeSize);
    const hashes: (Uint8Array | undefined)[] = planned.map((n) => this.nodeCache.get(nodeKey(n)));
    const missing = planned.filter((_, i) => hashes[i] === undefined);
    if (missing.length > 0) {
      const read = await tileHashReader(treeSize, this.readTiles)(missing);
      let next = 0;
      planned.forEach((n, i) => {
        if (hashes[i] !== undefined) return;
        const h = read[next++]!;
        hashes[i] = h;
        // Proof nodes are complete subtrees of this tree; check anyway before keeping one forever.
        if ((n.index + 1n) << BigInt(n.level) <= treeSize) this.nodeCache.set(nodeKey(n), h);
      });
    }
    return proveInclusionManyFromHashes(indexes, treeSize, hashes as Uint8Array[]);
  }

  /** proveInclusion returns the inclusion proof of index < treeSize, with one read of stored tiles. */
  proveInclusion(index: bigint, treeSize: bigint): Promise<Uint8Array[]> {
    return proveInclusion(index, treeSize, tileHashReader(treeSize, this.readTiles));
  }

  /** proveConsistency returns the consistency proof between size1 <= size2, with one read of stored tiles. */
  proveConsistency(size1: bigint, size2: bigint): Promise<Uint8Array[]> {
    return proveConsistency(size1, size2, tileHashReader(size2, this.readTiles));
  }
}
