/**
 * fsck class 7, CHECKPOINTS: there is one; every stored checkpoint carries valid Ed25519 and OpenPGP
 * lines by the log's keys (c2sp.org/signed-note), its body matches its row, its size is within the
 * tree and never goes down in signing order, its root equals the root recomputed at its size, and it
 * is consistent with the latest checkpoint by an RFC 9162 §2.1.4 proof built from the stored tiles
 * (log/proof.ts proveConsistency + verifyConsistency).
 */
import { base64Encode, bytesEqual } from '../../log/bytes.js';
import { parseCheckpoint } from '../../log/checkpoint.js';
import { emptyRoot } from '../../log/hash.js';
import { openNote } from '../../log/note.js';
import { proveConsistency, verifyConsistency } from '../../log/proof.js';
import { type TileCoord, tileHashReader, tilePath } from '../../log/tiles.js';
import type { FsckCheckpointRow } from './reader.js';
import type { FsckCheck, FsckScan } from './scan.js';
import { tileKey } from './scan.js';

/** CHECKPOINT_BATCH is how many checkpoint rows are read at a time. */
const CHECKPOINT_BATCH = 500;

/**
 * checkCheckpoints returns the CHECKPOINTS check. Before the pass it sets s.rootSizes to the stored
 * checkpoint sizes (the pass records the recomputed root at each); after it, it reads every checkpoint
 * in signing order and checks it as the file comment says, then proves every distinct (size, root)
 * consistent with the latest.
 */
export function checkCheckpoints(s: FsckScan): FsckCheck {
  return {
    async before() {
      s.rootSizes = new Set(await s.reader.checkpointSizes());
      if (s.rootSizes.has(0n)) s.rootsAt.set(0n, emptyRoot());
      return undefined;
    },
    async after() {
      // Every distinct (size, root) seen, for the consistency proofs.
      const seen = new Map<string, { size: bigint; root: Uint8Array }>();
      let latest: FsckCheckpointRow | undefined;
      let prevSize = -1n;
      for (let afterId = 0n; ; ) {
        const rows = await s.reader.checkpoints(afterId, CHECKPOINT_BATCH);
        for (const r of rows) {
          s.report.checkpoints++;
          await checkCheckpoint(s, r, prevSize);
          if (r.treeSize > prevSize) prevSize = r.treeSize;
          seen.set(`${r.treeSize}/${base64Encode(r.rootHash)}`, { size: r.treeSize, root: r.rootHash });
          latest = r;
        }
        if (rows.length < CHECKPOINT_BATCH) break;
        afterId = rows[rows.length - 1]!.id;
      }
      if (!latest) {
        s.problems.add(
          'CHECKPOINTS',
          'NO_CHECKPOINT',
          'no checkpoint is stored: the log never signed its tree',
        );
        return;
      }
      s.report.latestCheckpointSize = latest.treeSize;
      await checkConsistency(s, latest, [...seen.values()]);
    },
  };
}

/** checkCheckpoint checks one stored checkpoint; prevSize is the largest size signed before it. */
async function checkCheckpoint(s: FsckScan, r: FsckCheckpointRow, prevSize: bigint): Promise<void> {
  const id = r.id.toString();
  const where = `checkpoint #${id} (size ${r.treeSize})`;
  await checkNote(s, r, where);
  if (r.treeSize > s.stateSize) {
    s.problems.add(
      'CHECKPOINTS',
      'CHECKPOINT_BEYOND_STATE',
      `${where} is larger than the integrated tree (${s.stateSize})`,
      { id },
    );
  }
  if (r.treeSize < prevSize) {
    s.problems.add(
      'CHECKPOINTS',
      'CHECKPOINT_ROLLBACK',
      `${where} was signed after a checkpoint of size ${prevSize}: the tree went backwards`,
      { id },
    );
  }
  const recomputed = s.rootsAt.get(r.treeSize);
  if (recomputed && !bytesEqual(recomputed, r.rootHash)) {
    s.problems.add(
      'CHECKPOINTS',
      'CHECKPOINT_ROOT_MISMATCH',
      `${where} commits to root ${base64Encode(r.rootHash)}, but the entries give ${base64Encode(recomputed)} at that size`,
      { id, expected: base64Encode(recomputed), found: base64Encode(r.rootHash) },
    );
  } else if (!recomputed && r.treeSize <= s.stateSize) {
    s.problems.add('CHECKPOINTS', 'CHECKPOINT_ROOT_MISMATCH', `${where}: the entries do not reach its size`, {
      id,
    });
  }
}

/** checkNote verifies a checkpoint's signature lines by the log's keys and its body against its row. */
async function checkNote(s: FsckScan, r: FsckCheckpointRow, where: string): Promise<void> {
  const v = s.verifiers;
  if (!v) return; // IDENTITY reported why the keys do not load
  const id = r.id.toString();
  try {
    const opened = await openNote(r.note, [v.ed, v.pgp]);
    const ids = new Set(opened.verified.map((x) => x.keyId));
    const missing = [ids.has(v.ed.keyId) ? '' : 'Ed25519', ids.has(v.pgp.keyId) ? '' : 'OpenPGP'].filter(
      Boolean,
    );
    if (missing.length > 0) {
      s.problems.add(
        'CHECKPOINTS',
        'CHECKPOINT_SIGNATURE_MISSING',
        `${where} has no ${missing.join(' or ')} line by the log`,
        { id },
      );
    }
    const body = parseCheckpoint(opened.text);
    if (body.origin !== s.origin || body.treeSize !== r.treeSize || !bytesEqual(body.rootHash, r.rootHash)) {
      s.problems.add(
        'CHECKPOINTS',
        'CHECKPOINT_BODY_MISMATCH',
        `${where}: its note says origin ${body.origin}, size ${body.treeSize}, root ${base64Encode(body.rootHash)}; its row says ${s.origin}, ${r.treeSize}, ${base64Encode(r.rootHash)}`,
        { id },
      );
    }
  } catch (e) {
    s.problems.add('CHECKPOINTS', 'CHECKPOINT_SIGNATURE_INVALID', `${where}: ${(e as Error).message}`, {
      id,
      cause: (e as { code?: string }).code,
    });
  }
}

/**
 * checkConsistency proves each (size, root) consistent with the latest checkpoint, from the stored
 * tiles (RFC 9162 §2.1.4). Skipped when the latest is past the integrated tree (reported above).
 */
async function checkConsistency(
  s: FsckScan,
  latest: FsckCheckpointRow,
  pairs: readonly { size: bigint; root: Uint8Array }[],
): Promise<void> {
  const latestSize = latest.treeSize;
  if (latestSize > s.stateSize) return;
  const fetchStored = async (tiles: readonly TileCoord[]) => {
    const m = new Map((await s.reader.tiles(tiles)).map((r) => [tileKey(r.level, r.index), r]));
    return tiles.map((t) => {
      const st = m.get(tileKey(t.level, t.index));
      if (!st || st.width < t.width) throw new Error(`tile ${tilePath(t)} is not stored at width ${t.width}`);
      return st.data.subarray(0, t.width * 32);
    });
  };
  for (const { size, root } of pairs) {
    // Every tree extends the empty one (RFC 9162 has no proof from size 0); its root was checked above.
    if (size === 0n || size > latestSize) continue;
    try {
      const proof = await proveConsistency(size, latestSize, tileHashReader(latestSize, fetchStored));
      verifyConsistency(size, latestSize, proof, root, latest.rootHash);
      s.report.consistencyProofs++;
    } catch (e) {
      s.problems.add(
        'CHECKPOINTS',
        'CHECKPOINT_INCONSISTENT',
        `the checkpoint of size ${size} (root ${base64Encode(root)}) is not consistent with the latest (size ${latestSize}): ${(e as Error).message}`,
        { size: size.toString(), latest: latestSize.toString() },
      );
    }
  }
}
