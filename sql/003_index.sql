-- Sig Server schema, version 3: the verifiable index (SPEC.md "The index: answers that are provably
-- complete"). The runner (server/migrate.ts) applies this, then, in the same transaction, its step for
-- version 3 (server/migration-steps.ts buildIndex): the map of every entry already logged, stored as
-- bucket rows of version tree_size. The next checkpoint then appends an index leaf that covers them all.
-- A crash anywhere rolls all of it back.

-- Index leaves are entries too (they are leaves of the tree, in the feed and the tiles), but they are
-- not attestations: no dedup key, identifier or signer. An attestation entry has all three.
ALTER TABLE entries ALTER COLUMN attestation_digest DROP NOT NULL;
ALTER TABLE entries ALTER COLUMN identifier DROP NOT NULL;
ALTER TABLE entries ALTER COLUMN signer_fingerprint DROP NOT NULL;
ALTER TABLE entries ADD CONSTRAINT entries_kind_check CHECK (
  (attestation_digest IS NULL) = (identifier IS NULL) AND (identifier IS NULL) = (signer_fingerprint IS NULL)
);
COMMENT ON COLUMN entries.identifier IS 'The attestation''s data.id (what it is about), for GET /v1/attestations?id=; NULL for an index leaf.';
COMMENT ON COLUMN entries.signer_fingerprint IS 'The attestation''s key: the signer''s primary fingerprint, 40 upper-case hex, for ?key=; NULL for an index leaf.';
COMMENT ON COLUMN entries.attestation_digest IS 'Dedup key: SHA-256 of the canonical JSON of the attestation with its signature packet in canonical form (log/entry.ts attestationDigest, log/signature-canonical.ts). Unique from log_state.canonical_dedup_from on; entries logged before may repeat one (a receipt names the lowest index). NULL for an index leaf.';

CREATE TABLE index_buckets (
  prefix integer NOT NULL CHECK (prefix >= 0 AND prefix < 262144),
  from_size bigint NOT NULL CHECK (from_size >= 0),
  key_count integer NOT NULL CHECK (key_count >= 0),
  hash bytea NOT NULL CHECK (octet_length(hash) = 32),
  records bytea NOT NULL CHECK (octet_length(records) = 72 * key_count),
  -- The key carries each version's count and hash too, so loading the top of the map (every bucket's
  -- head, server/index-state.ts TopCache) is an index-only scan of about 60 bytes a bucket instead of a
  -- read of every bucket's records.
  PRIMARY KEY (prefix, from_size) INCLUDE (key_count, hash)
);
COMMENT ON TABLE index_buckets IS 'The index map (log/index-buckets.ts), cut into 2^18 buckets by the first 18 bits of the key, versioned: a row is one bucket as of map size from_size, written by the integrator in the transaction that appends the index leaf of that size, and never changed. The map at size N is, for each bucket, its row with the largest from_size <= N. Rows superseded before log_state.map_pruned_to are deleted (server/index-sql.ts prune).';
COMMENT ON COLUMN index_buckets.prefix IS 'The bucket: the first 18 bits of its keys, as an integer.';
COMMENT ON COLUMN index_buckets.from_size IS 'The map size (number of log entries it covers) from which this version holds.';
COMMENT ON COLUMN index_buckets.key_count IS 'Number of keys in the bucket.';
COMMENT ON COLUMN index_buckets.hash IS 'Hash of the subtree at depth 18 holding exactly these keys (SPEC.md "Map root"); kept so the top of the map loads without reading a key.';
COMMENT ON COLUMN index_buckets.records IS 'The keys and their values, key (32 bytes) || uint64be(count) || chain (32 bytes), in increasing key order.';
-- Readers moving their in-memory top from one map size to another ask for the rows written in between
-- (server/index-sql.ts bucketHeads). Rows are appended in increasing from_size, so a BRIN index finds
-- them in a few KB, where a btree would cost about a tenth of the table.
CREATE INDEX index_buckets_from_size_brin ON index_buckets USING brin (from_size);

ALTER TABLE log_state ADD COLUMN map_size bigint NOT NULL DEFAULT 0 CHECK (map_size >= 0);
ALTER TABLE log_state ADD COLUMN map_pruned_to bigint NOT NULL DEFAULT 0 CHECK (map_pruned_to >= 0);
ALTER TABLE log_state ADD COLUMN index_leaf_at bigint CHECK (index_leaf_at >= 0);
COMMENT ON COLUMN log_state.map_size IS 'The map size of the newest index_buckets version: the stored map covers the entries below it. It equals index_leaf_at once an index leaf is logged (a migrated log has map_size = tree_size and no index leaf until its next checkpoint).';
COMMENT ON COLUMN log_state.index_leaf_at IS 'Position of the newest index leaf (NULL before the first). The tree ends with an index leaf when index_leaf_at = tree_size - 1; the next checkpoint appends one otherwise.';
COMMENT ON COLUMN log_state.map_pruned_to IS 'Versions of the map older than this size may have been pruned: lookups are served for map sizes >= it only.';
