/**
 * Helpers for tests of the server core: open a LogService on a test backend with small intervals,
 * make signers and attestations with real OpenPGP keys (Ed25519, fast), and verify receipts offline
 * with log/ only, the way a client would.
 */
import { createHash } from 'node:crypto';
import type * as openpgp from 'openpgp';
import { bytesEqual, hexEncode } from '../../log/bytes.js';
import { attestationDigest, parseEntry } from '../../log/entry.js';
import { hashLeaf } from '../../log/hash.js';
import { classifyEntry, IndexReplayer } from '../../log/index-map.js';
import { verifyInclusion } from '../../log/proof.js';
import { type Attestation, readPublicKey, signAttestation } from '../../log/signet.js';
import { decodeEntryBundle, entryBundlesForSize, tilePath, tilesForSize } from '../../log/tiles.js';
import { LogService, type Receipt, type ServiceOptions } from '../../server/log-service.js';
import { refLeafHash, refMth, refTiles } from '../reference.js';
import { newSigningKey, openLogCheckpoint } from './keys.js';
import type { StoreBackend } from './stores.js';

/** TEST_OPTIONS are small bounds so tests run fast (no timing is asserted). */
export const TEST_OPTIONS = {
  checkpointIntervalMs: 10,
  republishIntervalMs: 600_000,
  batchMaxSize: 256,
  batchMaxAgeMs: 10,
  maxBacklog: 100_000,
  publishWaitMs: 60_000,
  pollMs: 20,
  // Signatures are verified on the test's own thread unless a test asks for the worker (each worker
  // loads openpgp.js and tsx, about 0.4 s, and tests open many services).
  verifyWorkers: 0,
} as const;

/** openService opens a LogService on backend `b` with TEST_OPTIONS and `extra` on top. */
export function openService(b: StoreBackend, extra: Partial<ServiceOptions> = {}): Promise<LogService> {
  return LogService.open({ ...TEST_OPTIONS, databaseUrl: b.databaseUrl, dataDir: b.dataDir, ...extra });
}

/** TestSigner is an attestation signer with a fresh Ed25519 OpenPGP key. */
export interface TestSigner {
  privateKey: openpgp.PrivateKey;
  publicArmored: string;
  fingerprint: string;
  attest(id: string, ok?: boolean, extra?: Record<string, unknown>): Promise<Attestation>;
}

/** makeSigner returns a signer with a new v4 EdDSA key (no passphrase). */
export async function makeSigner(name = 'Test Signer'): Promise<TestSigner> {
  const { privateKey, publicKey, fingerprint } = await newSigningKey(name);
  return {
    privateKey,
    publicArmored: publicKey.armor(),
    fingerprint,
    attest: (id, ok = true, extra = {}) => signAttestation({ id, ok, ...extra }, privateKey),
  };
}

/** sha256Id returns a Signet identifier `sha256:<64 hex>`: the SHA-256 of String(n). */
export function sha256Id(n: number | string): string {
  return `sha256:${createHash('sha256').update(String(n)).digest('hex')}`;
}

/**
 * verifyReceipt checks a receipt offline with log/ only: both checkpoint signatures (Ed25519 with
 * info.vkey, OpenPGP with the server key), the inclusion proof of the entry against the checkpoint
 * root. Throws (LogError) when anything fails; returns the parsed checkpoint.
 */
export async function verifyReceipt(
  info: { origin: string; vkey: string; openpgpPublicKey: string },
  r: Pick<Receipt, 'index' | 'entry' | 'inclusionProof'> & { checkpoint: { note: string } },
) {
  const cp = await openLogCheckpoint(r.checkpoint.note, {
    origin: info.origin,
    vkey: info.vkey,
    openpgpPublicKey: await readPublicKey(info.openpgpPublicKey),
  });
  verifyInclusion(r.index, cp.treeSize, hashLeaf(r.entry), r.inclusionProof, cp.rootHash);
  return cp;
}

/**
 * reverifyLog re-checks the whole log as served by `svc` against the latest checkpoint: it reads
 * every entry bundle, recomputes every hash tile and the root with the naive reference
 * (test/reference.ts, node:crypto), and compares them with what readTile serves. Every entry must
 * parse, and no attestation may appear twice. Throws an Error naming the first difference; returns
 * the checkpoint, entries and leaf hashes.
 */
export async function reverifyLog(svc: LogService) {
  const cp = await svc.latestCheckpoint();
  const n = cp.checkpoint.treeSize;
  const entries: Uint8Array[] = [];
  for (const b of entryBundlesForSize(n)) {
    const data = await svc.readTile(b);
    if (!data) throw new Error(`entry bundle ${tilePath(b)} missing at size ${n}`);
    entries.push(...decodeEntryBundle(data, b.width));
  }
  if (BigInt(entries.length) !== n) throw new Error(`${entries.length} entries in bundles, tree size ${n}`);
  // Every entry is an attestation logged once or an index leaf holding the replayed map root at its
  // own position (SPEC.md "The index"), and the checkpoint's last leaf is an index leaf.
  const digests = new Set<string>();
  const replay = new IndexReplayer();
  let attestations = 0;
  for (const e of entries) {
    const step = replay.append(e);
    if (step.kind === 'index') {
      if (!step.sizeMatches || !step.rootMatches) throw new Error(`index leaf at ${step.index} is wrong`);
      continue;
    }
    attestations++;
    const d = hexEncode(attestationDigest(parseEntry(e).attestation));
    if (digests.has(d)) throw new Error(`attestation ${d} logged twice`);
    digests.add(d);
  }
  if (n > 0n && classifyEntry(entries[entries.length - 1]!).kind !== 'index') {
    throw new Error(`the checkpoint of size ${n} does not end with an index leaf`);
  }
  const leaves = entries.map(refLeafHash);
  const ref = refTiles(leaves);
  const want = tilesForSize(n);
  if (ref.size !== want.length)
    throw new Error(`reference has ${ref.size} tiles, tilesForSize ${want.length}`);
  for (const tc of want) {
    const got = await svc.readTile(tc);
    const exp = ref.get(tilePath(tc));
    if (!got || !exp || !bytesEqual(got, exp)) {
      throw new Error(`tile ${tilePath(tc)} differs from the recomputed tree`);
    }
  }
  if (!bytesEqual(refMth(leaves), cp.checkpoint.rootHash)) {
    throw new Error(`checkpoint root differs from the recomputed root at size ${n}`);
  }
  return { checkpoint: cp, entries, leaves, attestations };
}
