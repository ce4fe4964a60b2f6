/**
 * Carrying a batch of a peer's entries into this log (SPEC.md "Gossip"): every attestation entry is
 * submitted through the same admission as a publish (server/admission.ts check, then addPending), with
 * its signer's key fetched from the peer and merged under the verified rule (server/key-intake.ts
 * admitKeys, through PeerAdmission.storeKeys). Index leaves (SPEC.md "Entry kinds") are skipped: they
 * are the peer's, and ours come from our own integrator. Entries that fail our checks (an unknown kind, a
 * bad signature, over our limits, a key we refuse) are skipped and counted, never fatal: the follower
 * keeps going. Dedup (attestation digests, server/admission.ts) makes an attestation we already hold, or
 * one that came round a loop of peers (A -> B -> A), cost a check and nothing more.
 */
import { hexEncode } from '../../log/bytes.js';
import { canonicalJson } from '../../log/canonical-json.js';
import { attestationDigest } from '../../log/entry.js';
import { isLogError, type LogError } from '../../log/errors.js';
import { classifyEntry } from '../../log/index-map.js';
import { type Attestation, MAX_ATTESTATION_BYTES } from '../../log/signet.js';
import type { Admitted } from '../admission.js';
import type { PeerClient } from './client.js';
import type { Carried } from './store.js';

/** PeerAdmission is the admission a follower submits to (LogService wires it to server/admission.ts). */
export interface PeerAdmission {
  /** storeKeys takes signer keys through key-intake.ts admitKeys and stores the merge; throws as POST /v1/keys. */
  storeKeys(armored: string[]): Promise<void>;
  /** check is Admission.check(attestations, []): verifies with the stored keys, stores nothing. */
  check(attestations: unknown[]): Promise<Admitted>;
  /** addPending is Admission.addPending (then the sequencer is kicked); returns how many rows were new. */
  addPending(a: Admitted): Promise<number>;
  /** logged returns which of these attestation digests (log/entry.ts attestationDigest) are logged here. */
  logged(digests: readonly Uint8Array[]): Promise<Uint8Array[]>;
}

/** IndexedEntry is one entry of the peer's log and its index there. */
export interface IndexedEntry {
  index: bigint;
  entry: Uint8Array;
}

/** CarryCounts add to Carried the codes of the invalid entries (for /metrics) and the new rows. */
export interface CarryCounts extends Omit<Carried, 'to'> {
  added: number;
  invalidCodes: string[];
}

/**
 * carryBatch submits the attestation entries of `batch` (in log order) and returns the counts. Keys
 * are asked of the peer once per signer per round (`keysMerged`, shared by its batches); a key the
 * peer does not have (404) or that we refuse leaves the stored copy in use. Throws what PeerClient throws (the batch is then retried as a whole:
 * nothing is counted), and BACKLOG_FULL / KEY_BUSY / database errors from addPending.
 */
export async function carryBatch(
  batch: readonly IndexedEntry[],
  client: PeerClient,
  admission: PeerAdmission,
  keysMerged: Set<string> = new Set(),
  maxAttestationBytes = MAX_ATTESTATION_BYTES,
): Promise<CarryCounts> {
  const counts: CarryCounts = {
    attestations: 0,
    indexLeaves: 0,
    invalid: 0,
    lastInvalid: undefined,
    added: 0,
    invalidCodes: [],
  };
  const skip = (index: bigint, code: string, message: string) => {
    counts.invalid++;
    counts.invalidCodes.push(code);
    counts.lastInvalid = `entry ${index}: ${code}: ${message}`.slice(0, 1000);
  };
  const atts: { index: bigint; att: Attestation }[] = [];
  for (const { index, entry } of batch) {
    try {
      const k = classifyEntry(entry);
      if (k.kind === 'index') {
        counts.indexLeaves++;
        continue;
      }
      // Our limit (MAX_ATTESTATION_BYTES), as POST /v1/attestations applies it: a peer may take larger.
      const size = Buffer.byteLength(canonicalJson(k.attestation), 'utf8');
      if (size > maxAttestationBytes) {
        skip(
          index,
          'ATTESTATION_TOO_LARGE',
          `${size} bytes of canonical JSON; this server's limit is ${maxAttestationBytes}`,
        );
        continue;
      }
      atts.push({ index, att: k.attestation });
    } catch (e) {
      if (!isLogError(e)) throw e;
      skip(index, e.code, e.message);
    }
  }
  if (atts.length === 0) return counts;
  // What this log already holds (an attestation that came round a loop of peers, or was published here
  // too) was checked when it was logged, and would be deduplicated after its check: it is counted, not
  // verified again. Only the same attestation (data, key, canonical signature) has the same digest.
  const held = new Set((await admission.logged(atts.map((a) => attestationDigest(a.att)))).map(hexEncode));
  const fresh = atts.filter((a) => !held.has(hexEncode(attestationDigest(a.att))));
  counts.attestations += atts.length - fresh.length;
  atts.splice(0, atts.length, ...fresh);
  if (atts.length === 0) return counts;
  // Each signer's key is asked of the peer once per round (keysMerged), not once per batch.
  const signers = [...new Set(atts.map((a) => a.att.key))].filter((fp) => !keysMerged.has(fp));
  await mergeSignerKeys(signers, client, admission);
  for (const fp of signers) keysMerged.add(fp);
  const rows = await checkAll(atts, admission, skip);
  if (rows.length > 0) {
    counts.added = await admission.addPending({ rows, keys: [] });
    counts.attestations += rows.length;
  }
  return counts;
}

/**
 * checkAll returns the admitted rows of `atts`. The whole batch is checked at once first (one key read,
 * the signatures verified in parallel by the verify workers); when that fails, each attestation is
 * checked on its own, all at once: a bad item costs its own check, never a re-check of the others, so
 * a batch full of bad signatures costs two verifications per entry, never a number that grows with the
 * batch. Invalid items are passed to `skip`.
 */
async function checkAll(
  atts: readonly { index: bigint; att: Attestation }[],
  admission: PeerAdmission,
  skip: (index: bigint, code: string, message: string) => void,
): Promise<Admitted['rows']> {
  try {
    return (await admission.check(atts.map((a) => a.att))).rows;
  } catch (e) {
    if (!isLogError(e) && !isBudget(e)) throw e;
  }
  const settled = await Promise.allSettled(atts.map((a) => admission.check([a.att])));
  const rows: Admitted['rows'] = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      rows.push(...r.value.rows);
      return;
    }
    const e = r.reason;
    if (!isLogError(e) && !isBudget(e)) throw e;
    skip(atts[i]!.index, (e as LogError).code, (e as Error).message);
  });
  return rows;
}

/** mergeSignerKeys asks the peer for each signer's key and stores the merge; refused keys are left out. */
async function mergeSignerKeys(fps: string[], client: PeerClient, admission: PeerAdmission): Promise<void> {
  for (let i = 0; i < fps.length; i += 8) {
    const armored = await Promise.all(fps.slice(i, i + 8).map((fp) => client.key(fp)));
    for (const a of armored) {
      if (a === undefined) continue;
      try {
        await admission.storeKeys([a]);
      } catch (e) {
        // A key we refuse (malformed, too large, an algorithm we do not take, past the work budget):
        // its attestations are checked with the stored copy, if any, and skipped otherwise.
        if (!isRefusedKey(e)) throw e;
      }
    }
  }
}

/** isBudget: the OpenPGP work of an item ran past the verify budget (a hostile key or signature). */
function isBudget(e: unknown): boolean {
  return e instanceof Error && (e as { code?: unknown }).code === 'WORK_BUDGET_EXCEEDED';
}

/** isRefusedKey: what the key intake throws for a key we do not take, or one merged concurrently. */
function isRefusedKey(e: unknown): boolean {
  return (
    isLogError(e) || isBudget(e) || (e instanceof Error && (e as { code?: unknown }).code === 'KEY_BUSY')
  );
}
