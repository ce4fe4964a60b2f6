/**
 * VerifiedTiles: a peer's tiles for one checkpoint, each fetched once and authenticated against the
 * checkpoint's root before anything uses it (the way golang.org/x/mod/sumdb/tlog's TileHashReader
 * authenticates downloaded tiles; the code here is ours):
 * - the right-edge tiles (the partial tile of each level, c2sp.org/tlog-tiles "Partial Tiles") hold
 *   exactly the complete subtrees the root is folded from (RFC 9162 §2.1.1): they are fetched together
 *   and the root computed from them must be the checkpoint's;
 * - a full tile at level L, index N hashes (all 256 hashes, 8 levels up) to the hash at position N mod 256
 *   of its parent tile (L+1, N div 256), which is authenticated first (parents before children).
 * - an entry bundle's entries hash (RFC 6962 leaf hash) to the level-0 tile of the same index.
 * A tile that fails is refused with PEER_TILE_MISMATCH naming it. Everything derived from authenticated
 * tiles (consistency proofs through log/tiles.ts tileHashReader, leaf hashes) is then the tree the peer
 * signed, so a bad proof built from them is evidence of a fork, never of a bad tile.
 *
 * Cost: one fetch per tile per checkpoint; a proof or a batch of entries needs its tiles and their
 * parents up to the right edge (about log256(size) tiles more).
 */
import { base64Encode, bytesEqual } from '../../log/bytes.js';
import { isLogError } from '../../log/errors.js';
import { emptyRoot, HASH_SIZE, hashChildren, hashLeaf } from '../../log/hash.js';
import {
  decodeEntryBundle,
  decodeHashTile,
  ENTRIES_LEVEL,
  type HashReader,
  TILE_HEIGHT,
  TILE_WIDTH,
  type TileCoord,
  tileHashReader,
  tilePath,
  tileWidthAt,
} from '../../log/tiles.js';
import { PeerError } from './errors.js';

/** RawTiles fetches one tile's data, unverified (PeerClient.tile). */
export type RawTiles = (t: TileCoord) => Promise<Uint8Array>;

/** VerifiedTiles reads a peer's tree of (treeSize, rootHash) through authenticated tiles. */
export class VerifiedTiles {
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  private readonly fetchRaw: RawTiles;
  /** verified: authenticated hash tiles by "L/N", at their width in this tree (promises: a tile asked
   *  for twice at once, by two batches, is fetched once). */
  private readonly verified = new Map<string, Promise<Uint8Array[]>>();
  private edge: Promise<void> | undefined;

  constructor(treeSize: bigint, rootHash: Uint8Array, fetchRaw: RawTiles) {
    this.treeSize = treeSize;
    this.rootHash = rootHash;
    this.fetchRaw = fetchRaw;
  }

  /** hashReader returns a log/tiles.ts HashReader over the authenticated tiles (for proveConsistency, treeHash). */
  hashReader(): HashReader {
    return tileHashReader(this.treeSize, async (tiles) => {
      const rows = await this.hashTiles(tiles);
      return rows.map((row) => joinHashes(row));
    });
  }

  /**
   * hashTiles returns the authenticated hashes of the given hash tiles (at this tree's widths).
   * Throws PEER_TILE_MISMATCH naming the tile that does not match, and what PeerClient throws.
   */
  async hashTiles(tiles: readonly TileCoord[]): Promise<Uint8Array[][]> {
    await this.checkEdge();
    const out: Uint8Array[][] = [];
    for (const t of tiles) out.push(await this.authenticated(t.level, t.index));
    return out;
  }

  /**
   * entries returns the entries of entry bundle `index` in this tree (width per treeSize), each checked
   * against the authenticated level-0 tile. Throws PEER_TILE_MISMATCH naming the bundle.
   */
  async entries(index: bigint): Promise<Uint8Array[]> {
    const [hashes] = await this.hashTiles([{ level: 0, index, width: 0 }]);
    const coord = { level: ENTRIES_LEVEL, index, width: hashes!.length };
    const path = tilePath(coord);
    let entries: Uint8Array[];
    try {
      entries = decodeEntryBundle(await this.fetchRaw(coord), coord.width);
    } catch (e) {
      if (!isLogError(e)) throw e;
      throw mismatch(path, `is not an entry bundle of ${coord.width} entries: ${e.message}`, this.treeSize);
    }
    entries.forEach((entry, i) => {
      if (!bytesEqual(hashLeaf(entry), hashes![i]!)) {
        throw mismatch(
          path,
          `entry ${i} does not hash to leaf ${index * 256n + BigInt(i)} of tile/0 ${tilePath({ level: 0, index, width: coord.width })}`,
          this.treeSize,
        );
      }
    });
    // Level-0 tiles are read once per batch: drop the full ones, so a long read holds only the edge
    // and the upper levels (about size/65536 tiles) in memory.
    if (coord.width === TILE_WIDTH) this.verified.delete(`0/${index}`);
    return entries;
  }

  /** checkEdge fetches the right-edge tiles and checks that they fold to the root (once). */
  private checkEdge(): Promise<void> {
    this.edge ??= this.foldEdge();
    return this.edge;
  }

  private async foldEdge(): Promise<void> {
    const edge: TileCoord[] = [];
    for (let level = 0; this.treeSize >> BigInt(TILE_HEIGHT * level) > 0n; level++) {
      const count = this.treeSize >> BigInt(TILE_HEIGHT * level);
      const w = Number(count & 255n);
      if (w > 0) edge.push({ level, index: count >> 8n, width: w });
    }
    const rows = await Promise.all(edge.map((t) => this.decodeRaw(t)));
    // The complete subtrees, largest first (highest level, then leftmost), folded from the right.
    const parts: Uint8Array[] = [];
    for (let i = edge.length - 1; i >= 0; i--) {
      const row = rows[i]!;
      let pos = 0;
      for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
        if (row.length & (1 << bit)) {
          parts.push(subtreeHash(row, pos, 1 << bit));
          pos += 1 << bit;
        }
      }
    }
    let root = parts.length === 0 ? emptyRoot() : parts[parts.length - 1]!;
    for (let i = parts.length - 2; i >= 0; i--) root = hashChildren(parts[i]!, root);
    if (!bytesEqual(root, this.rootHash)) {
      throw mismatch(
        edge.map(tilePath).join(', '),
        `(the right edge of the tree) fold to root ${base64Encode(root)}, not the checkpoint's ${base64Encode(this.rootHash)}`,
        this.treeSize,
      );
    }
    edge.forEach((t, i) => {
      this.verified.set(`${t.level}/${t.index}`, Promise.resolve(rows[i]!));
    });
  }

  /** authenticated returns the hashes of tile (level, index), fetching and checking it (and its parents) first. */
  private authenticated(level: number, index: bigint): Promise<Uint8Array[]> {
    const key = `${level}/${index}`;
    const got = this.verified.get(key);
    if (got) return got;
    const width = tileWidthAt(level, index, this.treeSize);
    if (width !== TILE_WIDTH) {
      // Not on the right edge (those are verified) and not full: the tree has no such tile.
      throw new Error(`VerifiedTiles: tile ${level}/${index} is not in a tree of size ${this.treeSize}`);
    }
    const p = this.fetchFull(level, index);
    this.verified.set(key, p);
    return p;
  }

  /** fetchFull fetches the full tile (level, index) and checks it against its authenticated parent. */
  private async fetchFull(level: number, index: bigint): Promise<Uint8Array[]> {
    const width = TILE_WIDTH;
    const parent = await this.authenticated(level + 1, index >> 8n);
    const coord = { level, index, width };
    const row = await this.decodeRaw(coord);
    const want = parent[Number(index & 255n)]!;
    if (!bytesEqual(subtreeHash(row, 0, TILE_WIDTH), want)) {
      throw mismatch(
        tilePath(coord),
        `does not hash to hash ${index & 255n} of its parent ${tilePath({ level: level + 1, index: index >> 8n, width: parent.length })}`,
        this.treeSize,
      );
    }
    return row;
  }

  private async decodeRaw(t: TileCoord): Promise<Uint8Array[]> {
    const data = await this.fetchRaw(t);
    try {
      // Copies: the rows outlive the response buffers only as small 32-byte arrays.
      return decodeHashTile(data, t.width).map((h) => h.slice());
    } catch (e) {
      if (!isLogError(e)) throw e;
      throw mismatch(tilePath(t), `is ${data.length} bytes, not ${t.width * HASH_SIZE}`, this.treeSize);
    }
  }
}

function mismatch(path: string, why: string, treeSize: bigint): PeerError {
  return new PeerError('PEER_TILE_MISMATCH', `${path} ${why} (checkpoint of size ${treeSize}): refused`, {
    tile: path,
    treeSize: treeSize.toString(),
  });
}

/** The hash of `count` (a power of two) consecutive hashes of one row, from `pos` (RFC 9162 §2.1.1). */
function subtreeHash(row: readonly Uint8Array[], pos: number, count: number): Uint8Array {
  let level = row.slice(pos, pos + count);
  while (level.length > 1) {
    const next: Uint8Array[] = new Array(level.length / 2);
    for (let i = 0; i < next.length; i++) next[i] = hashChildren(level[2 * i]!, level[2 * i + 1]!);
    level = next;
  }
  return level[0]!;
}

function joinHashes(row: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(row.length * HASH_SIZE);
  row.forEach((h, i) => {
    out.set(h, i * HASH_SIZE);
  });
  return out;
}
