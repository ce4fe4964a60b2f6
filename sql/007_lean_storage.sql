-- Sig Server schema, version 7: leaner storage (BENCHMARKS.md "Storage (bench/storage.ts)"). Nothing the
-- log commits to changes: entries keep their bytes, idx, dedup key, identifier and signer; only copies and
-- index shapes go, and the tables that churn get vacuumed sooner.
--
-- A log made by an earlier version opens as it is: DROP COLUMN only hides the column (rows written before
-- keep its bytes until they are rewritten); the digest index is rebuilt here, in the migration's
-- transaction (a few seconds at 10^6 entries).

-- The leaf hash is the level-0 tile's hash at the same index (tiles): a copy, 33 bytes and alignment per
-- entry. fsck recomputes SHA-256(0x00 || entry) for every entry and compares it with the stored tiles
-- (server/fsck: TILES), so an altered entry is still found; it reads entries.leaf_hash only where an
-- older schema has it.
ALTER TABLE entries DROP COLUMN leaf_hash;

-- The dedup key is only ever compared for equality (entriesByDigest, insertPending's NOT EXISTS, the
-- integrator's DELETE ... USING, fsck): a hash index stores a 4-byte hash code per row instead of the
-- 32-byte digest and the index (about 25 bytes per entry instead of 90, the digests being random). The
-- few rows of a digest are sorted by idx after the probe (a receipt names the lowest index).
DROP INDEX entries_attestation_digest_idx;
CREATE INDEX entries_attestation_digest_idx ON entries USING hash (attestation_digest);

-- entries are appended in idx order and never updated: full primary-key pages.
ALTER INDEX entries_pkey SET (fillfactor = 100);

-- pending is a queue: every accepted attestation is inserted, then deleted by the integrator a batch
-- later, so its pages are dead rows until VACUUM. With the default settings autovacuum waits for 50 +
-- 20 % of the live rows, and looks at most once a minute (autovacuum_naptime, a server setting). The
-- integrator also vacuums it itself after every few hundred rows it deletes (server/store.ts
-- PENDING_VACUUM_ROWS). Here: a vacuum after 1,000 dead rows whatever the table's size, never throttled.
ALTER TABLE pending SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 1000,
  autovacuum_vacuum_cost_delay = 0
);

-- tiles: the right edge of each level is rewritten every round (a new TOASTed version of up to 8 KiB;
-- the old one is dead). Same settings for the table and its TOAST. No truncation: it would take an
-- ACCESS EXCLUSIVE lock on a table every reader uses (and replays as one on a read replica), for the
-- few trailing pages a growing table might give back.
ALTER TABLE tiles SET (
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 200,
  vacuum_truncate = false,
  toast.autovacuum_vacuum_scale_factor = 0,
  toast.autovacuum_vacuum_threshold = 200,
  toast.vacuum_truncate = false
);

COMMENT ON TABLE entries IS 'The log: one row per integrated entry, in tree order. Entry bundles (tile/entries/N) are built from range reads here, never stored twice. Leaf hashes are in the level-0 tiles (schema 7 dropped the copy here). bench/storage.ts prints what each column and index costs per entry.';
COMMENT ON TABLE checkpoints IS 'The checkpoints the log signed, newest last: the first one of every tree size, and the newest. A re-signing of an unchanged tree replaces the previous re-signing of it when no witness has cosigned or served that one (server/integration-tx.ts addCheckpoint), so an idle log keeps two rows of its size, not one per REPUBLISH_INTERVAL_MS.';
