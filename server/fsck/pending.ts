/**
 * fsck class 8, PENDING: every pending row (a future entry) parses and agrees with its columns; rows
 * for attestations already logged are counted, not problems: a publish racing an integration in
 * another process can leave one, and the integrator drops it.
 */
import { bytesEqual } from '../../log/bytes.js';
import { attestationDigest, parseEntry } from '../../log/entry.js';

import type { FsckPendingRow } from './reader.js';
import type { FsckCheck, FsckScan } from './scan.js';

/** PENDING_BATCH is how many pending rows are read at a time. */
const PENDING_BATCH = 1000;

/**
 * checkPending returns the PENDING check: after the pass it counts the pending rows (and those already
 * logged), then reads them in seq order; a row that would be logged as a bad entry is PENDING_INVALID.
 */
export function checkPending(s: FsckScan): FsckCheck {
  return {
    async after() {
      const counts = await s.reader.pendingCounts();
      s.report.pending = counts.rows;
      s.report.pendingAlreadyLogged = counts.alreadyLogged;
      for (let afterSeq = -1n; ; ) {
        const rows = await s.reader.pending(afterSeq, PENDING_BATCH);
        for (const r of rows) checkPendingRow(s, r);
        if (rows.length < PENDING_BATCH) break;
        afterSeq = rows[rows.length - 1]!.seq;
      }
    },
  };
}

function checkPendingRow(s: FsckScan, r: FsckPendingRow): void {
  try {
    const att = parseEntry(r.entry).attestation;
    if (
      !bytesEqual(attestationDigest(att), r.digest) ||
      r.identifier !== att.data.id ||
      r.signer !== att.key
    ) {
      throw new Error('its digest, identifier or signer column disagrees with its entry bytes');
    }
  } catch (e) {
    s.problems.add(
      'PENDING',
      'PENDING_INVALID',
      `pending row ${r.seq} would be logged as a bad entry: ${(e as Error).message}`,
      { seq: r.seq.toString() },
    );
  }
}
