/**
 * fsck class 5, TILES: every hash tile recomputed from the entries (log/tiles.ts appendLeaves, done by
 * the pass in s.tree) equals the stored one, at the width the tree has; no tile is missing or extra
 * (c2sp.org/tlog-tiles).
 */
import { base64Encode, bytesEqual } from '../../log/bytes.js';
import { tilePath, tilesForSize } from '../../log/tiles.js';
import type { FsckCheck, FsckScan, TileData } from './scan.js';
import { tileKey } from './scan.js';

/**
 * checkTiles returns the TILES check: before the pass it reads the stored tile coordinates (about
 * treeSize/256 rows); during the pass it compares the full tiles the pass recomputed, 256 at a time
 * (one read each); after it, the rest and the partial right edge, then which tiles a tree of
 * log_state.tree_size must have against those stored (TILE_MISSING, TILE_WIDTH_MISMATCH, TILE_EXTRA).
 */
export function checkTiles(s: FsckScan): FsckCheck {
  const storedWidths = new Map<string, number>();
  return {
    async before() {
      for (const t of await s.reader.tileWidths()) storedWidths.set(tileKey(t.level, t.index), t.width);
      return undefined;
    },
    async batch() {
      if (s.tree.full.length >= 256) await compareTiles(s, s.tree.full.splice(0));
    },
    async after() {
      await compareTiles(s, s.tree.full.splice(0));
      await compareTiles(
        s,
        [...s.tree.edge.values()].filter((t) => t.tile.width < 256),
      );
      checkCoverage(s, storedWidths);
    },
  };
}

/** compareTiles compares recomputed tiles with the stored ones (absent or narrower ones: checkCoverage). */
async function compareTiles(s: FsckScan, computed: readonly TileData[]): Promise<void> {
  if (computed.length === 0) return;
  const rows = await s.reader.tiles(computed.map((c) => c.tile));
  const stored = new Map(rows.map((r) => [tileKey(r.level, r.index), r]));
  for (const c of computed) {
    const st = stored.get(tileKey(c.tile.level, c.tile.index));
    s.report.tiles++;
    if (!st) continue; // reported as TILE_MISSING
    const w = c.tile.width;
    if (st.width < w) continue; // reported as TILE_WIDTH_MISMATCH
    if (bytesEqual(st.data.subarray(0, w * 32), c.data)) continue;
    let hash = 0;
    const at = (d: Uint8Array, i: number) => d.subarray(i * 32, i * 32 + 32);
    while (hash < w && bytesEqual(at(st.data, hash), at(c.data, hash))) hash++;
    s.problems.add(
      'TILES',
      'TILE_MISMATCH',
      `stored tile ${tilePath(c.tile)} differs from the one recomputed from the entries, first at hash ${hash}`,
      {
        tile: tilePath(c.tile),
        hash,
        expected: base64Encode(at(c.data, hash)),
        found: base64Encode(at(st.data, hash)),
      },
    );
  }
}

/** checkCoverage compares the tiles a tree of log_state.tree_size has with the stored ones. */
function checkCoverage(s: FsckScan, storedWidths: ReadonlyMap<string, number>): void {
  const size = s.stateSize;
  const expectedKeys = new Set<string>();
  for (const t of tilesForSize(size)) {
    const k = tileKey(t.level, t.index);
    expectedKeys.add(k);
    const w = storedWidths.get(k);
    if (w === undefined) {
      s.problems.add(
        'TILES',
        'TILE_MISSING',
        `tile ${tilePath(t)} is not stored, but a tree of size ${size} has it`,
        {
          tile: tilePath(t),
        },
      );
    } else if (w !== t.width) {
      s.problems.add(
        'TILES',
        'TILE_WIDTH_MISMATCH',
        `tile ${tilePath({ ...t, width: 256 })} is stored at width ${w}, but a tree of size ${size} has it at width ${t.width}`,
        { tile: tilePath(t), expected: t.width, found: w },
      );
    }
  }
  for (const k of storedWidths.keys()) {
    if (!expectedKeys.has(k)) {
      s.problems.add(
        'TILES',
        'TILE_EXTRA',
        `tile ${k} is stored but a tree of size ${size} does not have it`,
        {
          tile: k,
        },
      );
    }
  }
}
