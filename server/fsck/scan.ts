/**
 * The scan: the state every fsck class shares, and the one pass over the entries.
 *
 * fsck runs each class (server/fsck.ts CLASS_CHECKS) as an FsckCheck: `before` hooks in class order,
 * then ONE pass over the entries in batches (each batch read once, each entry hashed and parsed once,
 * then handed to every class's `batch` hook), then `after` hooks in class order. The pass also
 * rebuilds the tree from the leaf hashes (log/tiles.ts appendLeaves), keeping only its right edge and
 * the full tiles not yet compared: memory does not grow with the log, apart from what a class keeps
 * on purpose (ENTRIES keeps one digest per entry for the duplicate check).
 */
import { type Entry, parseEntry } from '../../log/entry.js';
import { emptyRoot, hashLeaf } from '../../log/hash.js';
import { type IndexLeaf, isIndexLeaf, parseIndexLeaf } from '../../log/index-map.js';
import type { Verifier } from '../../log/note.js';
import { appendLeaves, type TileCoord, tilePath } from '../../log/tiles.js';
import type { FsckEntryRow, FsckReader } from './reader.js';
import type { FsckReport, Problems } from './report.js';

/** ScanOptions say how the scan reads and what it verifies. */
export interface ScanOptions {
  /** signatures: verify every attestation's OpenPGP signature (the slow part). */
  signatures: boolean;
  /** batchSize: entries per read. */
  batchSize: number;
  /** onProgress is called after each batch with entries done and the tree size. */
  onProgress: ((done: number, total: bigint) => void) | undefined;
}

/** TileData is one recomputed hash tile. */
export interface TileData {
  tile: TileCoord;
  data: Uint8Array;
}

/** ScannedEntry is one stored entry as the pass hands it to the classes: hashed and parsed once. */
export interface ScannedEntry extends FsckEntryRow {
  /** leaf: the RFC 6962 leaf hash SHA-256(0x00 || entry), recomputed. */
  leaf: Uint8Array;
  /** parsed: the attestation entry, or undefined when it does not parse (then parseError says why) or
   *  is an index leaf (then indexLeaf holds it). */
  parsed: Entry | undefined;
  parseError: unknown;
  /** indexLeaf: the index leaf (SPEC.md "The index"), when the entry is one. */
  indexLeaf: IndexLeaf | undefined;
}

/** FsckScan is the state the classes share: the reader, the problems, the report, and what the pass found. */
export interface FsckScan {
  readonly reader: FsckReader;
  readonly problems: Problems;
  readonly report: FsckReport;
  readonly opts: ScanOptions;
  /** origin and verifiers: the log's, set by IDENTITY (verifiers stay undefined when its keys do not load). */
  origin: string | undefined;
  verifiers: { ed: Verifier; pgp: Verifier } | undefined;
  /** stateSize and stateRoot: log_state, read by ROOT before the pass (dedupFrom too). */
  stateSize: bigint;
  stateRoot: Uint8Array;
  /** dedupFrom: log_state.canonical_dedup_from (sql/002): no digest repeats at this index or above. */
  dedupFrom: bigint;
  /** rootSizes: the sizes at which the pass records the recomputed root (CHECKPOINTS sets them). */
  rootSizes: Set<bigint>;
  /** rootsAt: the recomputed root at each of rootSizes that the entries reach. */
  rootsAt: Map<bigint, Uint8Array>;
  /** tree: the tree recomputed from the entries read so far. */
  tree: {
    size: bigint;
    root: Uint8Array;
    /** edge: the partial tiles of the right edge, by `level/index`, not yet compared. */
    edge: Map<string, TileData>;
    /** full: full tiles not yet compared (TILES takes them). */
    full: TileData[];
  };
}

/**
 * FsckCheck is one class of checks, made per run by that class's function (the function keeps the
 * class's own state). `before` returns 'stop' when nothing later can be checked.
 */
export interface FsckCheck {
  before?(): Promise<'stop' | undefined>;
  batch?(entries: readonly ScannedEntry[]): Promise<void>;
  after?(): Promise<void>;
}

/** tileKey is the map key of a tile: `level/index`. */
export const tileKey = (level: number, index: bigint): string => `${level}/${index}`;

/** newScan returns the shared state before anything is read. */
export function newScan(
  reader: FsckReader,
  problems: Problems,
  report: FsckReport,
  opts: ScanOptions,
): FsckScan {
  return {
    reader,
    problems,
    report,
    opts,
    origin: undefined,
    verifiers: undefined,
    stateSize: 0n,
    stateRoot: emptyRoot(),
    dedupFrom: 0n,
    rootSizes: new Set(),
    rootsAt: new Map(),
    tree: { size: 0n, root: emptyRoot(), edge: new Map(), full: [] },
  };
}

/**
 * scanEntries is the one pass: it reads the entries in index order, batch by batch, appends their
 * leaf hashes to s.tree, then calls every check's `batch` hook. Throws only when the reader throws.
 */
export async function scanEntries(s: FsckScan, checks: readonly FsckCheck[]): Promise<void> {
  let from = 0n;
  for (;;) {
    const rows = await s.reader.entries(from, s.opts.batchSize);
    if (rows.length === 0) break;
    const scanned = rows.map(scanEntry);
    from = rows[rows.length - 1]!.index + 1n;
    s.report.entries += rows.length;
    await appendToTree(
      s,
      scanned.map((e) => e.leaf),
    );
    for (const c of checks) await c.batch?.(scanned);
    s.opts.onProgress?.(s.report.entries, s.stateSize);
    if (rows.length < s.opts.batchSize) break;
  }
}

function scanEntry(row: FsckEntryRow): ScannedEntry {
  // The leaf hash is stored in the level-0 tiles: a changed entry shows there (TILES) and as an entry
  // that no longer parses or no longer matches its own columns (ENTRIES).
  const leaf = hashLeaf(row.entry);
  if (row.storedError)
    return { ...row, leaf, parsed: undefined, parseError: row.storedError, indexLeaf: undefined };
  try {
    if (isIndexLeaf(row.entry)) {
      return { ...row, leaf, parsed: undefined, parseError: undefined, indexLeaf: parseIndexLeaf(row.entry) };
    }
    return { ...row, leaf, parsed: parseEntry(row.entry), parseError: undefined, indexLeaf: undefined };
  } catch (e) {
    return { ...row, leaf, parsed: undefined, parseError: e, indexLeaf: undefined };
  }
}

/** appendToTree appends leaves to s.tree, stopping at every size in s.rootSizes to record the root there. */
async function appendToTree(s: FsckScan, leaves: readonly Uint8Array[]): Promise<void> {
  const t = s.tree;
  const fetchEdge = async (tiles: readonly TileCoord[]) =>
    tiles.map((c) => {
      const got = t.edge.get(tileKey(c.level, c.index));
      if (!got || got.tile.width !== c.width) throw new Error(`fsck: edge tile ${tilePath(c)} not kept`);
      return got.data;
    });
  let off = 0;
  while (off < leaves.length) {
    let take = leaves.length - off;
    for (const size of s.rootSizes)
      if (size > t.size && size - t.size < BigInt(take)) take = Number(size - t.size);
    const r = await appendLeaves(t.size, leaves.slice(off, off + take), fetchEdge);
    for (const tile of r.tiles) {
      const k = tileKey(tile.tile.level, tile.tile.index);
      if (tile.tile.width === 256) {
        t.edge.delete(k);
        t.full.push(tile);
      } else {
        t.edge.set(k, tile);
      }
    }
    t.size = r.treeSize;
    t.root = r.rootHash;
    if (s.rootSizes.has(t.size)) s.rootsAt.set(t.size, t.root);
    off += take;
  }
}
