/**
 * fsck class INDEX (server/fsck/index.ts) on the shared vector log (../shared/vectors/index/log.json:
 * 25 entries, index leaves at 3, 5, 11, 14, 22, 24, checkpoints of sizes 4, 6, 12, 15, 23, 25), read in
 * place through a small in-memory FsckReader, and on copies of it broken one way at a time: an index
 * leaf with another root, one naming another size, a checkpoint that does not end with an index leaf,
 * an entry of no valid kind. The class runs through its hooks exactly as fsckLog runs them (before, the
 * one pass in batches, after). The same class on a real stored log, with a sequencer that signs a wrong
 * root, is in test/cli-index-audit.test.ts.
 */
import test from 'ava';
import { encodeIndexLeaf } from '../log/index-map.js';
import { checkIndex } from '../server/fsck/index.js';
import type { FsckReader } from '../server/fsck/reader.js';
import { emptyReport, type FsckProblem, Problems } from '../server/fsck/report.js';
import { newScan, type ScannedEntry } from '../server/fsck/scan.js';
import { readVectorJson, vectorPath } from './helpers/vectors.js';

interface VectorLog {
  entries: { index: number; kind: string; entryB64: string }[];
  indexLeaves: { index: number; rootB64: string }[];
  checkpoints: { size: number }[];
}

const path = vectorPath('index/log.json');
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

/** Runs the INDEX class over `entries` (in batches of `batch`) with these checkpoint sizes. */
async function runIndex(entries: Uint8Array[], sizes: number[], batch = 4): Promise<FsckProblem[]> {
  const reader = { checkpointSizes: async () => sizes.map(BigInt) } as unknown as FsckReader;
  const problems = new Problems();
  const s = newScan(reader, problems, emptyReport('pglite', ''), {
    signatures: false,
    batchSize: batch,
    onProgress: undefined,
  });
  const c = checkIndex(s);
  t0(await c.before?.());
  for (let i = 0; i < entries.length; i += batch) {
    const rows = entries
      .slice(i, i + batch)
      .map((entry, j) => ({ index: BigInt(i + j), entry }) as ScannedEntry);
    await c.batch?.(rows);
  }
  await c.after?.();
  return problems.sorted();
}

function t0(v: unknown): void {
  if (v !== undefined) throw new Error(`before returned ${String(v)}`);
}

if (path === undefined) {
  test('fsck INDEX (skipped: ../shared/vectors/index not found)', (t) => t.pass());
} else {
  const log = readVectorJson<VectorLog>(path);
  const entries = log.entries.map((e) => unb64(e.entryB64));
  const sizes = log.checkpoints.map((c) => c.size);

  test('the vector log replays clean, in batches of 1, 4 and all', async (t) => {
    for (const batch of [1, 4, 25]) t.deepEqual(await runIndex(entries, sizes, batch), []);
  });

  test('checkpoints before the first index leaf are index-less: no problem', async (t) => {
    // Sizes 1, 2 and 3 end before the first index leaf (at 3): a log migrated from schema 2.
    t.deepEqual(await runIndex(entries, [1, 2, 3, ...sizes]), []);
  });

  test('an index leaf with another root is INDEX_ROOT_MISMATCH, naming it and the checkpoint signing it', async (t) => {
    const broken = [...entries];
    broken[11] = encodeIndexLeaf({ root: new Uint8Array(32).fill(7), size: 11n });
    const p = await runIndex(broken, sizes);
    t.is(p.length, 1, JSON.stringify(p));
    t.is(p[0]!.class, 'INDEX');
    t.is(p[0]!.code, 'INDEX_ROOT_MISMATCH');
    t.is(p[0]!.details.index, '11');
    t.is(p[0]!.details.checkpointSize, '12');
    t.is(p[0]!.details.expected, log.indexLeaves.find((l) => l.index === 11)!.rootB64);
    t.regex(
      p[0]!.message,
      /entry 11 is an index leaf holding map root .* \(signed in the checkpoint of size 12\)/,
    );
  });

  test('an index leaf naming another size than its position is INDEX_SIZE_MISMATCH', async (t) => {
    const broken = [...entries];
    const root = unb64(log.indexLeaves.find((l) => l.index === 14)!.rootB64);
    broken[14] = encodeIndexLeaf({ root, size: 13n });
    const p = await runIndex(broken, sizes);
    t.deepEqual(
      p.map((x) => [x.code, x.details.index]),
      [['INDEX_SIZE_MISMATCH', '14']],
    );
    t.regex(p[0]!.message, /naming size 13, not its own position 14/);
  });

  test('a checkpoint that does not end with an index leaf, once the log has an index', async (t) => {
    // Size 24 would end at entry 23, an attestation; size 4 ends at the first index leaf.
    t.is(log.entries[23]!.kind, 'attestation');
    const p = await runIndex(entries, [...sizes, 24]);
    t.deepEqual(
      p.map((x) => [x.code, x.details.size]),
      [['CHECKPOINT_WITHOUT_INDEX_LEAF', '24']],
    );
    t.regex(p[0]!.message, /checkpoint of size 24 does not end with an index leaf/);
  });

  test('an entry of no valid kind stops the replay (one problem); later leaves are not judged', async (t) => {
    const broken = [...entries];
    broken[7] = new TextEncoder().encode('{"other":1}');
    broken[11] = encodeIndexLeaf({ root: new Uint8Array(32), size: 11n });
    const p = await runIndex(broken, sizes);
    t.deepEqual(
      p.map((x) => [x.code, x.details.index]),
      [['INDEX_REPLAY_STOPPED', '7']],
    );
    t.is(p[0]!.details.cause, 'ENTRY_INVALID');
  });

  test('a gap in the entries stops the replay', async (t) => {
    const reader = { checkpointSizes: async () => [] } as unknown as FsckReader;
    const problems = new Problems();
    const s = newScan(reader, problems, emptyReport('pglite', ''), {
      signatures: false,
      batchSize: 10,
      onProgress: undefined,
    });
    const c = checkIndex(s);
    await c.before?.();
    await c.batch?.([
      { index: 0n, entry: entries[0]! },
      { index: 2n, entry: entries[2]! },
    ] as ScannedEntry[]);
    await c.after?.();
    t.deepEqual(
      problems.sorted().map((x) => x.code),
      ['INDEX_REPLAY_STOPPED'],
    );
  });
}
