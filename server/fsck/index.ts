/**
 * fsck class INDEX (SPEC.md "The index", "What an auditor checks"): the stored log replayed into its
 * index with log/index-map.ts IndexReplayer, the code `sig audit --full` replays with. Every index leaf,
 * wherever it stands, must name its own position and hold the map root recomputed from the entries
 * before it; and once the log has an index (from its first index leaf on), every stored checkpoint must
 * end with an index leaf (the rule: a checkpoint of size M ends with the index leaf at M-1). Checkpoints
 * from before the first index leaf are index-less (a log migrated from schema 2).
 *
 * Problems, each naming the entry and the checkpoints that sign it (the evidence a client would hold):
 *   INDEX_ROOT_MISMATCH (the leaf's root is not the recomputed one), INDEX_SIZE_MISMATCH (the leaf names
 *   another size than its position), CHECKPOINT_WITHOUT_INDEX_LEAF, INDEX_REPLAY_STOPPED (an entry of no
 *   valid kind, or a gap: the replay cannot go past it; ENTRIES reports the entry itself).
 * Memory: the map, about 150 bytes a key; the checkpoint sizes.
 */
import { base64Encode } from '../../log/bytes.js';
import { LogError } from '../../log/errors.js';
import { IndexReplayer, type ReplayStep } from '../../log/index-map.js';
import type { FsckCheck, FsckScan, ScannedEntry } from './scan.js';

/**
 * checkIndex returns the INDEX check: before the pass it reads the stored checkpoint sizes; during it
 * replays every entry in order; after it judges each checkpoint's last leaf.
 */
export function checkIndex(s: FsckScan): FsckCheck {
  const replay = new IndexReplayer();
  let sizes: bigint[] = [];
  const wanted = new Set<bigint>();
  /** leafAt: for each checkpoint size M, whether entry M-1 is an index leaf. */
  const leafAt = new Map<bigint, boolean>();
  let firstLeaf: bigint | undefined;
  let stopped = false;
  /** next: the first of the sorted sizes above the entry being replayed (entries come in order). */
  let next = 0;
  return {
    async before() {
      sizes = (await s.reader.checkpointSizes()).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const m of sizes) if (m > 0n) wanted.add(m - 1n);
      return undefined;
    },
    async batch(entries) {
      for (const e of entries) {
        if (stopped) return;
        while (next < sizes.length && sizes[next]! <= e.index) next++;
        const step = replayOne(s, replay, e, sizes[next]);
        if (step === undefined) {
          stopped = true;
          return;
        }
        if (step.kind === 'index') firstLeaf ??= step.index;
        if (wanted.has(e.index)) leafAt.set(e.index + 1n, step.kind === 'index');
      }
    },
    async after() {
      if (firstLeaf === undefined) return;
      for (const m of sizes) {
        if (m <= firstLeaf || leafAt.get(m) !== false) continue;
        s.problems.add(
          'INDEX',
          'CHECKPOINT_WITHOUT_INDEX_LEAF',
          `the stored checkpoint of size ${m} does not end with an index leaf: entry ${m - 1n} is an attestation, but the log has had an index since entry ${firstLeaf} (every checkpoint of size M ends with the index leaf at M-1)`,
          { size: m.toString(), index: (m - 1n).toString() },
        );
      }
    },
  };
}

/**
 * Replays one entry (`signedBy`: the smallest stored checkpoint size that covers it); on a wrong index
 * leaf adds its problem. Returns undefined when the replay must stop.
 */
function replayOne(
  s: FsckScan,
  replay: IndexReplayer,
  e: ScannedEntry,
  signedBy: bigint | undefined,
): ReplayStep | undefined {
  const idx = e.index.toString();
  if (e.index !== replay.size) {
    s.problems.add(
      'INDEX',
      'INDEX_REPLAY_STOPPED',
      `the index replay expected entry ${replay.size} next, found ${idx}: it cannot go past a gap (ENTRIES reports it)`,
      { index: idx },
    );
    return undefined;
  }
  let step: ReplayStep;
  try {
    step = replay.append(e.entry);
  } catch (err) {
    if (!(err instanceof LogError)) throw err;
    s.problems.add(
      'INDEX',
      'INDEX_REPLAY_STOPPED',
      `entry ${idx} is of no valid kind (${err.code}: ${err.message}): the index cannot be replayed past it, so no index leaf after it is checked`,
      { index: idx, cause: err.code },
    );
    return undefined;
  }
  if (step.kind !== 'index') return step;
  const evidence =
    signedBy === undefined
      ? 'no stored checkpoint covers it yet'
      : `signed in the checkpoint of size ${signedBy}`;
  if (!step.sizeMatches) {
    s.problems.add(
      'INDEX',
      'INDEX_SIZE_MISMATCH',
      `entry ${idx} is an index leaf naming size ${step.leaf.size}, not its own position ${idx} (${evidence})`,
      { index: idx, found: step.leaf.size.toString(), checkpointSize: signedBy?.toString() },
    );
  }
  if (!step.rootMatches) {
    s.problems.add(
      'INDEX',
      'INDEX_ROOT_MISMATCH',
      `entry ${idx} is an index leaf holding map root ${base64Encode(step.leaf.root)}, but the ${idx} entries before it give ${base64Encode(step.root)} (${evidence})`,
      {
        index: idx,
        expected: base64Encode(step.root),
        found: base64Encode(step.leaf.root),
        checkpointSize: signedBy?.toString(),
      },
    );
  }
  return step;
}
