/**
 * fsck class 3, ENTRIES: entries.idx runs 0..tree_size-1 with no gap and nothing past
 * log_state.tree_size; every entry parses (log/entry.ts parseEntry: canonical JSON); its stored digest,
 * identifier, signer and logged_at agree with the entry bytes (the digest is log/entry.ts
 * attestationDigest); no attestation digest appears twice from log_state.canonical_dedup_from on (below it,
 * entries logged before canonical dedup took effect may repeat one: counted, not problems); the stored
 * leaf hash, when the schema has the column, is SHA-256(0x00 || entry) (the level-0 tiles are checked
 * again under TILES). An index leaf has NULL digest, identifier and signer; whether it holds the right
 * root is the INDEX class's to check.
 */
import { bytesEqual, hexEncode } from '../../log/bytes.js';
import { attestationDigest } from '../../log/entry.js';
import type { FsckCheck, FsckScan, ScannedEntry } from './scan.js';

/**
 * checkEntries returns the ENTRIES check: each batch of the pass is checked row by row, and after the
 * pass the entries missing at the end (below log_state.tree_size) are one ENTRY_GAP. It keeps one
 * stored digest per entry (the duplicate check): the one thing fsck's memory grows with.
 */
export function checkEntries(s: FsckScan): FsckCheck {
  let expectIdx = 0n;
  const digests = new Set<string>();
  return {
    async batch(entries) {
      for (const e of entries) {
        checkIndex(s, e.index, expectIdx);
        expectIdx = e.index + 1n;
        checkEntry(s, e, digests);
      }
    },
    async after() {
      if (s.dedupFrom > s.stateSize) {
        s.problems.add(
          'ENTRIES',
          'DEDUP_FROM_BEYOND_STATE',
          `log_state.canonical_dedup_from is ${s.dedupFrom}, past log_state.tree_size ${s.stateSize}`,
          { found: s.dedupFrom.toString(), treeSize: s.stateSize.toString() },
        );
      }
      if (expectIdx < s.stateSize) {
        s.problems.add(
          'ENTRIES',
          'ENTRY_GAP',
          `entries ${expectIdx}..${s.stateSize - 1n} are missing: log_state.tree_size is ${s.stateSize}`,
          { from: expectIdx.toString(), to: (s.stateSize - 1n).toString() },
        );
      }
    },
  };
}

function checkIndex(s: FsckScan, idx: bigint, expectIdx: bigint): void {
  if (idx !== expectIdx) {
    s.problems.add(
      'ENTRIES',
      'ENTRY_GAP',
      `entries ${expectIdx}..${idx - 1n} are missing: the next stored entry is ${idx}`,
      { from: expectIdx.toString(), to: (idx - 1n).toString() },
    );
  }
  if (idx >= s.stateSize) {
    s.problems.add(
      'ENTRIES',
      'ENTRY_BEYOND_STATE',
      `entry ${idx} is stored but log_state.tree_size is ${s.stateSize}`,
      { index: idx.toString() },
    );
  }
}

function checkEntry(s: FsckScan, e: ScannedEntry, digests: Set<string>): void {
  const idx = e.index.toString();
  if (e.leafHash && !bytesEqual(e.leaf, e.leafHash)) {
    s.problems.add(
      'ENTRIES',
      'ENTRY_LEAF_HASH_MISMATCH',
      `entry ${idx}: stored leaf_hash ${hexEncode(e.leafHash)} is not SHA-256(0x00 || entry) = ${hexEncode(e.leaf)}: the entry bytes or the leaf hash were altered`,
      { index: idx },
    );
  }
  if (!e.parsed && e.indexLeaf === undefined) {
    s.problems.add(
      'ENTRIES',
      'ENTRY_INVALID',
      `entry ${idx} does not parse: ${(e.parseError as Error).message}`,
      {
        index: idx,
        cause: (e.parseError as { code?: string }).code,
      },
    );
  }
  if (e.indexLeaf !== undefined || e.digest === null) {
    // An index leaf has no dedup key, identifier or signer (sql/003); an attestation has all three.
    if (e.indexLeaf === undefined || e.digest !== null || e.identifier !== null || e.signer !== null) {
      s.problems.add(
        'ENTRIES',
        'ENTRY_COLUMNS_MISMATCH',
        `entry ${idx}: ${e.indexLeaf ? 'an index leaf with attestation columns' : 'an attestation without its digest, identifier or signer columns'}`,
        { index: idx },
      );
    }
    return;
  }
  const dKey = Buffer.from(e.digest).toString('latin1');
  if (digests.has(dKey) && e.index < s.dedupFrom) {
    // Logged before canonical dedup took effect (sql/002): another spelling of a logged signature.
    s.report.duplicatesBeforeDedup++;
  } else if (digests.has(dKey)) {
    s.problems.add(
      'ENTRIES',
      'DUPLICATE_DIGEST',
      `entry ${idx}: attestation digest ${hexEncode(e.digest)} was already logged at a lower index`,
      { index: idx, digest: hexEncode(e.digest) },
    );
  }
  digests.add(dKey);
  const mismatch = columnsMismatch(e);
  if (mismatch.length > 0) {
    s.problems.add('ENTRIES', 'ENTRY_COLUMNS_MISMATCH', `entry ${idx}: stored ${mismatch.join(', ')}`, {
      index: idx,
    });
  }
}

/** columnsMismatch lists the stored columns of a parsed entry that disagree with its bytes. */
function columnsMismatch(e: ScannedEntry): string[] {
  if (!e.parsed) return [];
  const att = e.parsed.attestation;
  const digest = attestationDigest(att);
  const out: string[] = [];
  if (e.digest === null || !bytesEqual(digest, e.digest))
    out.push(
      `attestation_digest ${e.digest ? hexEncode(e.digest) : 'NULL'} (entry says ${hexEncode(digest)})`,
    );
  if (e.identifier !== att.data.id)
    out.push(`identifier ${JSON.stringify(e.identifier)} (entry says ${JSON.stringify(att.data.id)})`);
  if (e.signer !== att.key) out.push(`signer_fingerprint ${e.signer} (entry says ${att.key})`);
  const loggedAt = e.loggedAt.toISOString();
  if (loggedAt !== e.parsed.loggedAt) out.push(`logged_at ${loggedAt} (entry says ${e.parsed.loggedAt})`);
  return out;
}
