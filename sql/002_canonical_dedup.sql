-- Sig Server schema, version 2: dedup on the canonical signature packet (log/entry.ts attestationDigest,
-- log/signature-canonical.ts).
-- The runner (server/migrate.ts migrate) applies this, then, in the same transaction, its step for
-- version 2 (recomputeDigests) rewrites attestation_digest of every entry and pending row from the entry
-- bytes, deleting pending rows that turn out to repeat an earlier one. A crash anywhere rolls all of it back.
--
-- A log made before this version may already hold the same attestation several times, once per spelling
-- of its signature packet (header format, unhashed subpackets): those entries now share a digest, and an
-- entry is never removed from the log. So entries.attestation_digest is no longer UNIQUE, and the tree
-- size at which canonical dedup took effect is recorded: from that index on, no digest repeats (fsck).

ALTER TABLE entries DROP CONSTRAINT entries_attestation_digest_key;
CREATE INDEX entries_attestation_digest_idx ON entries (attestation_digest, idx);
COMMENT ON COLUMN entries.attestation_digest IS 'Dedup key: SHA-256 of the canonical JSON of the attestation with its signature packet in canonical form (log/entry.ts attestationDigest, log/signature-canonical.ts). Unique from log_state.canonical_dedup_from on; entries logged before may repeat one (a receipt names the lowest index).';
COMMENT ON COLUMN pending.attestation_digest IS 'Dedup key, as entries.attestation_digest (log/entry.ts attestationDigest).';

ALTER TABLE log_state ADD COLUMN canonical_dedup_from bigint NOT NULL DEFAULT 0 CHECK (canonical_dedup_from >= 0);
UPDATE log_state SET canonical_dedup_from = tree_size;
COMMENT ON COLUMN log_state.canonical_dedup_from IS 'Tree size when canonical dedup took effect (schema version 2): entries at this index and above never repeat an attestation digest; entries below may (logged under the earlier, byte-exact dedup). 0 for a log made at version 2 or later.';
