/**
 * bulkLoad builds a big log directly in a Postgres database, for the query benchmarks: the schema by
 * the server's own migrations, the log identity and keys by server/keys.ts (so a server started on
 * the same DATA_DIR, DATABASE_URL and ORIGIN serves it), entries in large multi-row INSERTs (unnest),
 * hash tiles from log/tiles.ts appendLeaves, log_state, the index map of every entry with the index
 * leaf after them (server/index-state.ts buildIndex, server/index-round.ts), and one checkpoint signed
 * by the log's keys over all of it.
 *
 * The entries are real entry bytes (log/entry.ts encodeEntry: canonical JSON of an attestation and
 * loggedAt) of realistic size, with distinct ids and digests, but their signatures are copied from one
 * real signature per signer: they do NOT verify (signing 10^6 attestations would take many minutes of
 * CPU). Queries never verify stored signatures, so query timings are unaffected; fsck on such a log
 * reports SIGNATURES (run it with --no-signatures). They are stored packed, as the integrator stores them
 * (server/entry-codec.ts packEntry; each row compressed on its own, so the copied signatures do not
 * compress better than fresh ones would).
 *
 * Each batch (entries, its tiles, the state) is one transaction, and node builds batch k+1 while
 * Postgres stores batch k (2 cores).
 */
import { createHash } from 'node:crypto';
import { attestationDigest, encodeEntry } from '../log/entry.js';
import { hashLeaf } from '../log/hash.js';
import { type Attestation, signAttestation } from '../log/signet.js';
import { appendLeaves, type TileCoord } from '../log/tiles.js';
import { openDb } from '../server/db.js';
import { packEntry } from '../server/entry-codec.js';
import { IndexRound } from '../server/index-round.js';
import { buildIndex } from '../server/index-state.js';
import { loadKeys, signCheckpoint } from '../server/keys.js';
import { openStore } from '../server/store.js';
import type { Signer } from '../test/helpers/child-server.js';

/** BULK_BATCH is the number of entries per INSERT and transaction. */
export const BULK_BATCH = 10_000;

/** bulkId returns the data.id of entry i of a bulk-loaded log (what queries ask for). */
export function bulkId(i: number): string {
  return `sha256:${createHash('sha256').update(`bulk ${i}`).digest('hex')}`;
}

/**
 * bulkLoad fills the (empty) database at `url` with a log of `size` entries by `signers`, origin
 * `origin`, keys made in `dataDir`, and returns the seconds it took, the mean entry size and the root.
 * Throws on any database error.
 */
export async function bulkLoad(opts: {
  url: string;
  dataDir: string;
  origin: string;
  size: number;
  signers: Signer[];
  onProgress?: (done: number) => void;
}): Promise<{ seconds: number; indexSeconds: number; meanEntryBytes: number; rootHash: Uint8Array }> {
  const t0 = performance.now();
  const db = await openDb({ databaseUrl: opts.url, dataDir: opts.dataDir });
  const store = await openStore(db, { migrate: true });
  try {
    const keys = await loadKeys({ dataDir: opts.dataDir, origin: opts.origin });
    await store.recordIdentity({
      origin: opts.origin,
      vkey: keys.vkey,
      openpgpFingerprint: keys.openpgpFingerprint,
      openpgpPublicKey: keys.openpgpPublicKey,
    });
    await store.putKeys(
      opts.signers.map((s) => ({
        fingerprint: s.fingerprint,
        armored: s.armoredPublicKey,
        previous: undefined,
      })),
    );
    // One real signature per signer, reused (see the file comment).
    const templates: Attestation[] = [];
    for (const s of opts.signers)
      templates.push(await signAttestation({ id: 'template', ok: true }, s.privateKey));

    const edge = new Map<string, Uint8Array>();
    const fetchEdge = async (tiles: readonly TileCoord[]) =>
      tiles.map((t) => {
        const d = edge.get(`${t.level}/${t.index}`);
        if (!d || d.length !== t.width * 32) throw new Error(`bulk: edge tile ${t.level}/${t.index} missing`);
        return d;
      });
    // Some schema versions keep a copy of each leaf hash in entries.leaf_hash.
    const [lh] = await db.query(
      `SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'entries' AND column_name = 'leaf_hash'`,
    );
    const leafColumn = Number(lh?.n) > 0;
    let size = 0n;
    let root: Uint8Array = new Uint8Array(32);
    let bytes = 0;
    let storing: Promise<unknown> = Promise.resolve();
    const loggedAt = new Date().toISOString();
    for (let start = 0; start < opts.size; start += BULK_BATCH) {
      const n = Math.min(BULK_BATCH, opts.size - start);
      const entries: Uint8Array[] = [];
      const digests: Uint8Array[] = [];
      const ids: string[] = [];
      const signerFps: string[] = [];
      const leaves: Uint8Array[] = [];
      for (let i = start; i < start + n; i++) {
        const tpl = templates[i % templates.length]!;
        const attestation: Attestation = {
          data: { id: bulkId(i), ok: i % 10 !== 0 },
          key: tpl.key,
          sig: tpl.sig,
        };
        const entry = encodeEntry({ attestation, loggedAt });
        // Stored as the integrator stores it (server/integration-tx.ts, server/entry-codec.ts).
        entries.push(packEntry(entry));
        digests.push(attestationDigest(attestation));
        ids.push(attestation.data.id);
        signerFps.push(tpl.key);
        leaves.push(hashLeaf(entry));
        bytes += entry.length;
      }
      const r = await appendLeaves(size, leaves, fetchEdge);
      for (const t of r.tiles) {
        const k = `${t.tile.level}/${t.tile.index}`;
        if (t.tile.width === 256) edge.delete(k);
        else edge.set(k, t.data);
      }
      size = r.treeSize;
      root = r.rootHash;
      await storing;
      const state = { treeSize: size, rootHash: root };
      storing = db.transaction(async (q) => {
        await q.query(
          leafColumn
            ? `INSERT INTO entries (idx, entry, attestation_digest, identifier, signer_fingerprint, logged_at, leaf_hash)
               SELECT $1::bigint + o - 1, e, d, i, s, $6::timestamptz, l
                 FROM unnest($2::bytea[], $3::bytea[], $4::text[], $5::text[], $7::bytea[]) WITH ORDINALITY AS u(e, d, i, s, l, o)`
            : `INSERT INTO entries (idx, entry, attestation_digest, identifier, signer_fingerprint, logged_at)
               SELECT $1::bigint + o - 1, e, d, i, s, $6::timestamptz
                 FROM unnest($2::bytea[], $3::bytea[], $4::text[], $5::text[]) WITH ORDINALITY AS u(e, d, i, s, o)`,
          [String(start), entries, digests, ids, signerFps, loggedAt, ...(leafColumn ? [leaves] : [])],
        );
        await q.query(
          `INSERT INTO tiles (level, idx, width, data)
           SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])
           ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, data = EXCLUDED.data`,
          [
            r.tiles.map((t) => t.tile.level),
            r.tiles.map((t) => t.tile.index.toString()),
            r.tiles.map((t) => t.tile.width),
            r.tiles.map((t) => t.data),
          ],
        );
        await q.query('UPDATE log_state SET tree_size = $1, root_hash = $2, updated_at = now()', [
          state.treeSize.toString(),
          state.rootHash,
        ]);
      });
      opts.onProgress?.(start + n);
    }
    await storing;
    // The index (SPEC.md "The index"): the map of every entry, built as a migration builds it, and the
    // index leaf the checkpoint ends with, appended by the integrator's own step.
    const tIndex = performance.now();
    const indexed = await store.integrate(async (tx) => {
      await buildIndex(tx.index, size);
      return new IndexRound().appendLeaf(tx, { treeSize: size, rootHash: root }, new Date());
    });
    if (!indexed.ran) throw new Error('bulk: the integrator lock is held by another process');
    const indexSeconds = (performance.now() - tIndex) / 1000;
    size = indexed.value.treeSize;
    root = indexed.value.rootHash;
    const signed = await signCheckpoint(keys, {
      origin: opts.origin,
      treeSize: size,
      rootHash: root,
      extensions: [],
    });
    await db.query(
      'INSERT INTO checkpoints (tree_size, root_hash, note, signed_at) VALUES ($1, $2, $3, $4)',
      [size.toString(), root, signed.note, signed.signedAt],
    );
    await db.query('ANALYZE');
    return {
      seconds: (performance.now() - t0) / 1000,
      indexSeconds,
      meanEntryBytes: bytes / opts.size,
      rootHash: root,
    };
  } finally {
    await store.close();
  }
}
