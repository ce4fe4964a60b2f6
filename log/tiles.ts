/**
 * c2sp.org/tlog-tiles with tile height 8: tile addressing, tile and entry-bundle encoding, reading
 * Merkle tree nodes out of hash tiles, and computing the tiles that change when leaves are appended.
 *
 * Vocabulary (c2sp.org/tlog-tiles, "Merkle Tree"): the tile at level L, index N holds up to 256
 * consecutive hashes of tree level 8L, namely MTH(D[(N*256 + i) * 256^L : (N*256 + i + 1) * 256^L])
 * for i in 0..255. A tree of size s has floor(s / 256^L) hashes at tile level L: floor(s / 256^(L+1))
 * full tiles, then one partial tile of width floor(s / 256^L) mod 256 when that is not 0.
 *
 * Pure: no I/O. Storage is reached only through the TileFetcher the caller passes in.
 */
import { LogError } from './errors.js';
import { emptyRoot, HASH_SIZE, hashChildren } from './hash.js';

/** TILE_HEIGHT is the number of tree levels one tile spans (c2sp.org/tlog-tiles: 8). */
export const TILE_HEIGHT = 8;
/** TILE_WIDTH is the number of hashes in a full tile, 2^TILE_HEIGHT. */
export const TILE_WIDTH = 256;
/** ENTRIES_LEVEL is the TileCoord.level of entry bundles (`tile/entries/...`). */
export const ENTRIES_LEVEL = -1;

/** The highest tile level a path may name (c2sp.org/tlog-tiles: 0 to 63). */
const MAX_LEVEL = 63;
/** Tree sizes and indexes are uint64 (RFC 9162 §2.1). */
const MAX_UINT64 = (1n << 64n) - 1n;

/**
 * TileCoord names a hash tile (level >= 0) or an entry bundle (level ENTRIES_LEVEL): its index within
 * the level and its width, 1..256 where 256 is a full tile.
 */
export interface TileCoord {
  level: number;
  index: bigint;
  width: number;
}

/** A complete subtree: 2^level leaves starting at leaf index * 2^level. level 0 = a leaf hash. */
export interface NodeId {
  level: number;
  index: bigint;
}

/** Returns the hashes of the given complete subtrees, in order. Called ONCE per proof. */
export type HashReader = (ids: readonly NodeId[]) => Promise<Uint8Array[]>;

/**
 * Returns the data of the given hash tiles (at the given widths), in order. Called once per read.
 * A fetcher may return a wider version of a tile than asked for (a later partial tile or the full
 * tile): tiles only ever grow to the right, so its first `width` hashes are the ones asked for.
 */
export type TileFetcher = (tiles: readonly TileCoord[]) => Promise<Uint8Array[]>;

// ---------------------------------------------------------------------------------------------
// Paths

function checkCoord(t: TileCoord): void {
  if (!Number.isSafeInteger(t.level) || t.level < ENTRIES_LEVEL || t.level > MAX_LEVEL) {
    throw new LogError(
      'TILE_PATH_INVALID',
      `tile level must be an integer from ${ENTRIES_LEVEL} (entries) to ${MAX_LEVEL}, found ${t.level}`,
      { field: 'level' },
    );
  }
  if (typeof t.index !== 'bigint' || t.index < 0n || t.index > MAX_UINT64) {
    throw new LogError(
      'TILE_PATH_INVALID',
      `tile index must be a bigint from 0 to 2^64-1, found ${t.index}`,
      {
        field: 'index',
      },
    );
  }
  if (!Number.isSafeInteger(t.width) || t.width < 1 || t.width > TILE_WIDTH) {
    throw new LogError('TILE_PATH_INVALID', `tile width must be an integer from 1 to 256, found ${t.width}`, {
      field: 'width',
    });
  }
}

/**
 * tilePath returns the c2sp.org/tlog-tiles path of a tile, without the log prefix:
 * `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]`, where <N> is split into zero-padded 3-digit
 * elements, all but the last prefixed with `x` (index 1234067 is `x001/x234/067`), and `.p/<W>`
 * appears only for partial tiles (width < 256). Throws TILE_PATH_INVALID for a coordinate no path can
 * name (level outside -1..63, negative index, width outside 1..256).
 */
export function tilePath(t: TileCoord): string {
  checkCoord(t);
  const digits = t.index.toString();
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const elems: string[] = [];
  for (let i = 0; i < padded.length; i += 3) elems.push(padded.slice(i, i + 3));
  const n = elems.map((e, i) => (i < elems.length - 1 ? `x${e}` : e)).join('/');
  const level = t.level === ENTRIES_LEVEL ? 'entries' : String(t.level);
  const partial = t.width < TILE_WIDTH ? `.p/${t.width}` : '';
  return `tile/${level}/${n}${partial}`;
}

const TILE_PATH_RE =
  /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * parseTilePath returns the coordinate named by a c2sp.org/tlog-tiles path such as
 * `tile/0/x001/x234/067.p/5` or `tile/entries/000` (no log prefix, no leading slash). It is strict,
 * accepting exactly the paths tilePath makes: it throws TILE_PATH_INVALID for anything else, among
 * them levels above 63 or with leading zeros, index elements that are not 3 digits or that start with
 * a redundant `x000/`, widths 0, 256 or more, or with leading zeros, and any leading or trailing text.
 */
export function parseTilePath(path: string): TileCoord {
  const bad = (why: string): LogError =>
    new LogError(
      'TILE_PATH_INVALID',
      `expected a tile path like tile/0/x001/x234/067.p/5 or tile/entries/000 (c2sp.org/tlog-tiles), found ${JSON.stringify(path.slice(0, 100))}: ${why}`,
      { field: 'path' },
    );
  if (typeof path !== 'string') throw bad('not a string');
  const m = TILE_PATH_RE.exec(path);
  if (!m) throw bad('it does not match tile/<L>/<N>[.p/<W>]');
  const [, levelText, xs, last, widthText] = m;
  const level = levelText === 'entries' ? ENTRIES_LEVEL : Number(levelText);
  if (level > MAX_LEVEL) throw bad(`level ${level} is above ${MAX_LEVEL}`);
  const elems = xs!
    .split('/')
    .filter((e) => e !== '')
    .map((e) => e.slice(1));
  if (elems.length > 0 && elems[0] === '000') throw bad('the index has a redundant leading x000/ element');
  if (elems.length > 6) throw bad('the index is above 2^64');
  const index = BigInt(elems.join('') + last!);
  if (index > MAX_UINT64) throw bad('the index is above 2^64');
  let width = TILE_WIDTH;
  if (widthText !== undefined) {
    width = Number(widthText);
    if (width >= TILE_WIDTH) throw bad(`a partial tile's width must be 1 to 255, found ${width}`);
  }
  return { level, index, width };
}

// ---------------------------------------------------------------------------------------------
// Which tiles a tree has

function checkTreeSize(treeSize: bigint, field = 'treeSize'): void {
  if (typeof treeSize !== 'bigint' || treeSize < 0n || treeSize > MAX_UINT64) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `${field} must be a bigint from 0 to 2^64-1, found ${String(treeSize)}`,
      {
        field,
      },
    );
  }
}

/** The number of hashes at tile level `level` (tree level 8*level) in a tree of treeSize. */
function hashesAtLevel(level: number, treeSize: bigint): bigint {
  return treeSize >> BigInt(TILE_HEIGHT * level);
}

function tilesOfRow(level: number, count: bigint, out: TileCoord[]): void {
  const full = count >> 8n;
  for (let i = 0n; i < full; i++) out.push({ level, index: i, width: TILE_WIDTH });
  const w = Number(count & 255n);
  if (w > 0) out.push({ level, index: full, width: w });
}

/**
 * tilesForSize returns every hash tile a tree of treeSize has (c2sp.org/tlog-tiles "Partial
 * Tiles"), ordered by level then index: full tiles at width 256, the rightmost tile of each level at
 * its partial width when that is not 0. A tree of size 70,000 has 273 full level-0 tiles, a level-0
 * tile of width 112, a full level-1 tile, a level-1 tile of width 17 and a level-2 tile of width 1.
 * The list has about treeSize/256 elements. Throws INDEX_OUT_OF_RANGE unless treeSize is a bigint
 * from 0 to 2^64-1.
 */
export function tilesForSize(treeSize: bigint): TileCoord[] {
  checkTreeSize(treeSize);
  const out: TileCoord[] = [];
  for (let level = 0; ; level++) {
    const count = hashesAtLevel(level, treeSize);
    if (count === 0n) break;
    tilesOfRow(level, count, out);
  }
  return out;
}

/**
 * entryBundlesForSize returns every entry bundle a tree of treeSize has (same indexes and widths as
 * its level-0 tiles, level ENTRIES_LEVEL). Throws INDEX_OUT_OF_RANGE like tilesForSize.
 */
export function entryBundlesForSize(treeSize: bigint): TileCoord[] {
  checkTreeSize(treeSize);
  const out: TileCoord[] = [];
  tilesOfRow(ENTRIES_LEVEL, treeSize, out);
  return out;
}

/**
 * tileWidthAt returns the width the tile (or, at level ENTRIES_LEVEL, the entry bundle) at level and
 * index has in a tree of treeSize: 256 for a full tile, 1..255 for the partial one, 0 when the tree
 * has no such tile. Throws INDEX_OUT_OF_RANGE for a bad treeSize, TILE_PATH_INVALID for a bad level.
 */
export function tileWidthAt(level: number, index: bigint, treeSize: bigint): number {
  checkTreeSize(treeSize);
  if (!Number.isSafeInteger(level) || level < ENTRIES_LEVEL || level > MAX_LEVEL) {
    throw new LogError('TILE_PATH_INVALID', `tile level must be an integer from -1 to 63, found ${level}`, {
      field: 'level',
    });
  }
  const count = hashesAtLevel(level === ENTRIES_LEVEL ? 0 : level, treeSize);
  const full = count >> 8n;
  if (index < 0n) return 0;
  if (index < full) return TILE_WIDTH;
  if (index === full) return Number(count & 255n);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Encodings

/**
 * encodeHashTile returns the tile data: the hashes concatenated (c2sp.org/tlog-tiles). Throws
 * HASH_INVALID if a hash is not 32 bytes, TILE_INVALID unless there are 1 to 256 hashes.
 */
export function encodeHashTile(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length < 1 || hashes.length > TILE_WIDTH) {
    throw new LogError('TILE_INVALID', `a hash tile holds 1 to 256 hashes, found ${hashes.length}`);
  }
  const out = new Uint8Array(hashes.length * HASH_SIZE);
  hashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new LogError('HASH_INVALID', `tile hash ${i} must be 32 bytes, found ${h?.length}`, { item: i });
    }
    out.set(h, i * HASH_SIZE);
  });
  return out;
}

/**
 * decodeHashTile returns the `width` hashes of a hash tile, as views into `data` (no copy). Throws
 * TILE_INVALID unless width is 1..256 and data is exactly width * 32 bytes.
 */
export function decodeHashTile(data: Uint8Array, width: number): Uint8Array[] {
  if (!Number.isSafeInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new LogError('TILE_INVALID', `tile width must be 1 to 256, found ${width}`, { field: 'width' });
  }
  if (!(data instanceof Uint8Array) || data.length !== width * HASH_SIZE) {
    throw new LogError(
      'TILE_INVALID',
      `a hash tile of width ${width} is ${width * HASH_SIZE} bytes, found ${data?.length} bytes`,
      { width, length: data?.length },
    );
  }
  const out: Uint8Array[] = new Array(width);
  for (let i = 0; i < width; i++) out[i] = data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  return out;
}

/** MAX_BUNDLE_ENTRY is the largest entry a uint16 length prefix can frame. */
const MAX_BUNDLE_ENTRY = 0xffff;

/**
 * encodeEntryBundle returns an entry bundle: each entry prefixed with its length as a big-endian
 * uint16 (c2sp.org/tlog-tiles "Log entries"). Throws ENTRY_TOO_LARGE for an entry over 65,535 bytes,
 * TILE_INVALID unless there are 1 to 256 entries.
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length < 1 || entries.length > TILE_WIDTH) {
    throw new LogError('TILE_INVALID', `an entry bundle holds 1 to 256 entries, found ${entries.length}`);
  }
  let size = 0;
  entries.forEach((e, i) => {
    if (e.length > MAX_BUNDLE_ENTRY) {
      throw new LogError(
        'ENTRY_TOO_LARGE',
        `entry ${i} is ${e.length} bytes; an entry bundle frames at most 65,535 bytes per entry`,
        { item: i, size: e.length },
      );
    }
    size += 2 + e.length;
  });
  const out = new Uint8Array(size);
  let off = 0;
  for (const e of entries) {
    out[off] = e.length >> 8;
    out[off + 1] = e.length & 0xff;
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  return out;
}

/**
 * decodeEntryBundle returns the entries of an entry bundle (copies, not views). Throws TILE_INVALID
 * when a length prefix or entry is cut short, when the bundle holds no entries or more than 256, or,
 * when `width` is given, when it does not hold exactly `width` entries.
 */
export function decodeEntryBundle(data: Uint8Array, width?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    if (off + 2 > data.length) {
      throw new LogError('TILE_INVALID', `entry bundle: a 2-byte length prefix is cut short at byte ${off}`, {
        offset: off,
      });
    }
    const len = (data[off]! << 8) | data[off + 1]!;
    if (off + 2 + len > data.length) {
      throw new LogError(
        'TILE_INVALID',
        `entry bundle: entry ${out.length} claims ${len} bytes at byte ${off}, only ${data.length - off - 2} remain`,
        { offset: off, item: out.length },
      );
    }
    out.push(data.slice(off + 2, off + 2 + len));
    off += 2 + len;
    if (out.length > TILE_WIDTH) {
      throw new LogError('TILE_INVALID', 'entry bundle holds more than 256 entries');
    }
  }
  if (out.length === 0)
    throw new LogError('TILE_INVALID', 'entry bundle is empty; empty bundles do not exist');
  if (width !== undefined && out.length !== width) {
    throw new LogError('TILE_INVALID', `entry bundle of width ${width} holds ${out.length} entries`, {
      width,
      found: out.length,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading nodes out of tiles

/** The hash of `count` (a power of two) consecutive hashes of one row, starting at `pos`. */
function subtreeHash(row: readonly Uint8Array[], pos: number, count: number): Uint8Array {
  if (count === 1) return row[pos]!;
  const level: Uint8Array[] = new Array(count / 2);
  for (let i = 0; i < count / 2; i++) level[i] = hashChildren(row[pos + 2 * i]!, row[pos + 2 * i + 1]!);
  for (let n = count / 2; n > 1; n /= 2) {
    for (let i = 0; i < n / 2; i++) level[i] = hashChildren(level[2 * i]!, level[2 * i + 1]!);
  }
  return level[0]!;
}

/** Checks data a fetcher returned for a tile asked for at `width`; returns its first `width` hashes. */
function decodeFetched(data: Uint8Array, t: TileCoord): Uint8Array[] {
  if (
    data instanceof Uint8Array &&
    data.length > t.width * HASH_SIZE &&
    data.length <= TILE_WIDTH * HASH_SIZE &&
    data.length % HASH_SIZE === 0
  ) {
    // A wider version of the same tile: same first `width` hashes (tiles only grow to the right).
    return decodeHashTile(data.subarray(0, t.width * HASH_SIZE), t.width);
  }
  return decodeHashTile(data, t.width);
}

async function fetchExactly(fetchTiles: TileFetcher, tiles: TileCoord[]): Promise<Uint8Array[][]> {
  if (tiles.length === 0) return [];
  const data = await fetchTiles(tiles);
  if (data.length !== tiles.length) {
    throw new Error(`TileFetcher returned ${data.length} tiles for ${tiles.length} asked for`);
  }
  return data.map((d, i) => decodeFetched(d, tiles[i]!));
}

/**
 * tileHashReader returns a HashReader over the stored hash tiles of a tree of treeSize. For each call
 * it works out which tiles hold the requested nodes (c2sp.org/tlog-tiles: a node at tree level h lives
 * in the tile at level floor(h/8); when h is not a multiple of 8 it is hashed up from 2^(h mod 8)
 * consecutive hashes of that tile), asks `fetchTiles` for them ONCE (deduplicated, at the widths a
 * tree of treeSize has; no call when no nodes are asked for), and computes each node. The reader
 * throws INDEX_OUT_OF_RANGE for a node that is not a complete subtree of the tree, TILE_INVALID when
 * fetched data has the wrong length; treeSize is checked at once (INDEX_OUT_OF_RANGE).
 */
export function tileHashReader(treeSize: bigint, fetchTiles: TileFetcher): HashReader {
  checkTreeSize(treeSize);
  return async (ids) => {
    const tiles: TileCoord[] = [];
    const slots = new Map<string, number>();
    const plans = ids.map((id, i) => {
      if (!Number.isSafeInteger(id.level) || id.level < 0 || id.level > 63 || typeof id.index !== 'bigint') {
        throw new LogError('INDEX_OUT_OF_RANGE', `node ${i}: level must be 0..63 and index a bigint`, {
          item: i,
        });
      }
      const level = Math.floor(id.level / TILE_HEIGHT);
      const sub = id.level - level * TILE_HEIGHT;
      const first = id.index << BigInt(sub); // position in the row of tree level 8*level
      const count = 1 << sub;
      const tileIndex = first >> 8n;
      const pos = Number(first & 255n);
      const width = id.index < 0n ? 0 : tileWidthAt(level, tileIndex, treeSize);
      if (pos + count > width) {
        throw new LogError(
          'INDEX_OUT_OF_RANGE',
          `node (level ${id.level}, index ${id.index}) is not a complete subtree of a tree of size ${treeSize}`,
          { item: i },
        );
      }
      const key = `${level}/${tileIndex}`;
      let slot = slots.get(key);
      if (slot === undefined) {
        slot = tiles.length;
        slots.set(key, slot);
        tiles.push({ level, index: tileIndex, width });
      }
      return { slot, pos, count };
    });
    const rows = await fetchExactly(fetchTiles, tiles);
    // Nodes of one read often share subtrees (the proofs of neighbouring leaves, or a batch of
    // proofs read at once): each in-tile subtree is hashed at most once per read.
    const memos = rows.map(() => [] as (Uint8Array | undefined)[][]);
    return plans.map((p) => {
      const h = Math.log2(p.count);
      return nodeInTile(rows[p.slot]!, memos[p.slot]!, h, p.pos >> h);
    });
  };
}

/**
 * The hash of the subtree of height h (0..8) at position j of that height inside a tile whose
 * hashes are `row`, remembering every subtree it hashes in memo[height][position].
 */
function nodeInTile(
  row: readonly Uint8Array[],
  memo: (Uint8Array | undefined)[][],
  h: number,
  j: number,
): Uint8Array {
  if (h === 0) return row[j]!;
  let level = memo[h];
  if (!level) {
    level = new Array(TILE_WIDTH >> h);
    memo[h] = level;
  }
  let hash = level[j];
  if (!hash) {
    hash = hashChildren(nodeInTile(row, memo, h - 1, 2 * j), nodeInTile(row, memo, h - 1, 2 * j + 1));
    level[j] = hash;
  }
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Appending

/**
 * edgeTiles returns the partial hash tiles at the right edge of a tree of treeSize, one per level at
 * most, lowest level first: exactly what appendLeaves reads through its fetcher, so a caller can start
 * that read early (server/index-round.ts) and hand appendLeaves the result.
 */
export function edgeTiles(treeSize: bigint): TileCoord[] {
  checkTreeSize(treeSize);
  const coords: TileCoord[] = [];
  for (let level = 0; ; level++) {
    const count = hashesAtLevel(level, treeSize);
    if (count === 0n) break;
    const w = Number(count & 255n);
    if (w > 0) coords.push({ level, index: count >> 8n, width: w });
  }
  return coords;
}

/**
 * appendLeaves returns the hash tiles that change when `leafHashes` are appended to a tree of
 * treeSize (at every level, each at its new width: 256 for tiles that are now full), the new tree
 * size and the new root hash (RFC 9162 §2.1.1). It reads the partial right-edge tiles of the current
 * tree with ONE call to `fetchTiles` (none when the tree has no partial tile). Appending no leaves
 * returns no tiles and the current root. Cost: about 2 hashes per leaf plus at most 255 per level.
 *
 * Nothing here writes anything: the caller stores the returned tiles. The tiles are a pure function
 * of the old partial tiles and the new leaves, so a caller that dies before storing them can compute
 * them again from the same inputs.
 *
 * Throws INDEX_OUT_OF_RANGE for a bad treeSize or when the new size would pass 2^64-1, HASH_INVALID
 * (details.item) for a leaf hash that is not 32 bytes, TILE_INVALID for fetched tiles of the wrong
 * length.
 */
export async function appendLeaves(
  treeSize: bigint,
  leafHashes: readonly Uint8Array[],
  fetchTiles: TileFetcher,
): Promise<{ treeSize: bigint; rootHash: Uint8Array; tiles: { tile: TileCoord; data: Uint8Array }[] }> {
  checkTreeSize(treeSize);
  leafHashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new LogError('HASH_INVALID', `leaf hash ${i} must be 32 bytes, found ${h?.length}`, { item: i });
    }
  });
  const newSize = treeSize + BigInt(leafHashes.length);
  checkTreeSize(newSize, 'new treeSize');

  const partialCoords = edgeTiles(treeSize);
  const fetched = await fetchExactly(fetchTiles, partialCoords);
  // partial[level] = the hashes of the rightmost, partial tile at that level of the tree being built.
  const partial = new Map<number, Uint8Array[]>();
  partialCoords.forEach((t, i) => {
    partial.set(t.level, fetched[i]!);
  });

  const tiles: { tile: TileCoord; data: Uint8Array }[] = [];
  let fresh: readonly Uint8Array[] = leafHashes; // new hashes at this level, in order
  for (let level = 0; fresh.length > 0; level++) {
    const oldCount = hashesAtLevel(level, treeSize);
    const newCount = hashesAtLevel(level, newSize);
    if (newCount - oldCount !== BigInt(fresh.length)) {
      throw new Error(
        `appendLeaves: level ${level} gained ${fresh.length} hashes, expected ${newCount - oldCount}`,
      );
    }
    const row = (partial.get(level) ?? []).concat(fresh);
    const firstTile = oldCount >> 8n;
    const next: Uint8Array[] = [];
    partial.delete(level);
    for (let off = 0; off < row.length; off += TILE_WIDTH) {
      const chunk = row.slice(off, off + TILE_WIDTH);
      tiles.push({
        tile: { level, index: firstTile + BigInt(off / TILE_WIDTH), width: chunk.length },
        data: encodeHashTile(chunk),
      });
      if (chunk.length === TILE_WIDTH) next.push(subtreeHash(chunk, 0, TILE_WIDTH));
      else partial.set(level, chunk);
    }
    fresh = next;
  }

  // The root: the complete subtrees of the new tree, largest (highest tile level) first, all in the
  // partial tiles; folded from the right (RFC 9162 §2.1.1).
  const parts: Uint8Array[] = [];
  const levels = [...partial.keys()].sort((a, b) => b - a);
  for (const level of levels) {
    const row = partial.get(level)!;
    let pos = 0;
    for (let bit = TILE_HEIGHT - 1; bit >= 0; bit--) {
      if (row.length & (1 << bit)) {
        parts.push(subtreeHash(row, pos, 1 << bit));
        pos += 1 << bit;
      }
    }
  }
  let rootHash = parts.length === 0 ? emptyRoot() : parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) rootHash = hashChildren(parts[i]!, rootHash);
  return { treeSize: newSize, rootHash, tiles };
}
