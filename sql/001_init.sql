-- Sig Server schema, version 1 (SPEC.md "The log", "Storage and processes").
-- Applied by server/migrate.ts migrate() inside one transaction under an advisory lock; the runner records
-- the version in schema_migrations. Every table and column carries a comment: \d+ explains the schema.

CREATE TABLE log_identity (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  origin text NOT NULL,
  note_vkey text NOT NULL,
  openpgp_fingerprint text NOT NULL CHECK (openpgp_fingerprint ~ '^[0-9A-F]{40}$'),
  openpgp_public_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE log_identity IS 'The log''s identity, recorded at first start (one row). A process whose key files or origin differ refuses to start: processes sharing a database must sign one tree with one set of keys.';
COMMENT ON COLUMN log_identity.id IS 'Always true: makes this a single-row table.';
COMMENT ON COLUMN log_identity.origin IS 'Checkpoint origin line (c2sp.org/tlog-checkpoint), also the note key name.';
COMMENT ON COLUMN log_identity.note_vkey IS 'Ed25519 note verifier key (c2sp.org/signed-note text form, name+keyhash+base64).';
COMMENT ON COLUMN log_identity.openpgp_fingerprint IS 'Primary fingerprint (40 upper-case hex, v4) of the OpenPGP key that signs checkpoints.';
COMMENT ON COLUMN log_identity.openpgp_public_key IS 'That OpenPGP public key, armored.';
COMMENT ON COLUMN log_identity.created_at IS 'When the identity was recorded (first start).';

CREATE TABLE log_state (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  tree_size bigint NOT NULL CHECK (tree_size >= 0),
  root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE log_state IS 'Integration state (one row): the tree as integrated so far. Changed only by the integrator, in the same transaction as the entries and tiles it describes, so it never disagrees with them.';
COMMENT ON COLUMN log_state.id IS 'Always true: makes this a single-row table.';
COMMENT ON COLUMN log_state.tree_size IS 'Number of entries integrated: entries.idx runs from 0 to tree_size - 1 without gaps.';
COMMENT ON COLUMN log_state.root_hash IS 'RFC 6962 Merkle tree hash of those tree_size entries (SHA-256 of the empty string at size 0).';
COMMENT ON COLUMN log_state.updated_at IS 'When the last batch was integrated.';
INSERT INTO log_state (tree_size, root_hash) VALUES (0, sha256(''::bytea));

CREATE TABLE entries (
  idx bigint PRIMARY KEY CHECK (idx >= 0),
  leaf_hash bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
  entry bytea NOT NULL CHECK (octet_length(entry) <= 65535),
  attestation_digest bytea NOT NULL UNIQUE CHECK (octet_length(attestation_digest) = 32),
  identifier text NOT NULL,
  signer_fingerprint text NOT NULL,
  logged_at timestamptz NOT NULL
);
COMMENT ON TABLE entries IS 'The log: one row per integrated entry, in tree order. Entry bundles (tile/entries/N) are built from range reads here, never stored twice (storage per entry, with indexes and tiles, is about 2.45x the entry bytes for small 330-byte Ed25519 attestations, less for larger ones).';
COMMENT ON COLUMN entries.idx IS 'Leaf index in the Merkle tree, from 0; assigned once by the integrator, never reused.';
COMMENT ON COLUMN entries.leaf_hash IS 'RFC 6962 leaf hash SHA-256(0x00 || entry) (also in the level-0 tile; kept here so fsck can check each row on its own).';
COMMENT ON COLUMN entries.entry IS 'The exact entry bytes (canonical JSON, log/entry.ts) that the leaf hash covers.';
COMMENT ON COLUMN entries.attestation_digest IS 'SHA-256 of the canonical JSON of the attestation: the same attestation is logged once.';
COMMENT ON COLUMN entries.identifier IS 'The attestation''s data.id (what it is about), for GET /v1/attestations?id=.';
COMMENT ON COLUMN entries.signer_fingerprint IS 'The attestation''s key: the signer''s primary fingerprint, 40 upper-case hex, for ?key=.';
COMMENT ON COLUMN entries.logged_at IS 'The loggedAt field of the entry (when the server accepted it).';
-- Lookups by identifier, by signer, or both (identifier index, signer filtered): the indexes hold a
-- 64-bit hash of the text and the index, not the text (a third of the size); queries compare the
-- hash and then the text itself, so a hash collision costs a row read, never a wrong answer.
CREATE INDEX entries_identifier_idx ON entries (hashtextextended(identifier, 0), idx);
CREATE INDEX entries_signer_idx ON entries (hashtextextended(signer_fingerprint, 0), idx);

CREATE TABLE pending (
  seq bigserial PRIMARY KEY,
  attestation_digest bytea NOT NULL UNIQUE CHECK (octet_length(attestation_digest) = 32),
  entry bytea NOT NULL CHECK (octet_length(entry) <= 65535),
  identifier text NOT NULL,
  signer_fingerprint text NOT NULL,
  accepted_at timestamptz NOT NULL
);
COMMENT ON TABLE pending IS 'Accepted attestations not yet integrated: verified and durably stored by publish, moved into entries by the integrator (deleted here in the same transaction). Nothing here is acknowledged yet.';
COMMENT ON COLUMN pending.seq IS 'Acceptance order; the integrator takes the lowest first.';
COMMENT ON COLUMN pending.attestation_digest IS 'SHA-256 of the canonical JSON of the attestation (dedup key, as entries.attestation_digest).';
COMMENT ON COLUMN pending.entry IS 'The entry bytes, made at acceptance (loggedAt = acceptance time).';
COMMENT ON COLUMN pending.identifier IS 'data.id of the attestation (copied to entries.identifier).';
COMMENT ON COLUMN pending.signer_fingerprint IS 'key of the attestation (copied to entries.signer_fingerprint).';
COMMENT ON COLUMN pending.accepted_at IS 'When publish accepted it: the entry''s loggedAt (becomes entries.logged_at; batch age is measured from here).';

CREATE TABLE tiles (
  level smallint NOT NULL CHECK (level >= 0),
  idx bigint NOT NULL CHECK (idx >= 0),
  width smallint NOT NULL CHECK (width BETWEEN 1 AND 256),
  data bytea NOT NULL CHECK (octet_length(data) = 32 * width),
  PRIMARY KEY (level, idx)
);
COMMENT ON TABLE tiles IS 'Hash tiles (c2sp.org/tlog-tiles, height 8): the widest version of each tile, overwritten as it grows. A narrower partial tile is the prefix of this one (tiles are append-only).';
COMMENT ON COLUMN tiles.level IS 'Tile level L (level 0 holds leaf hashes).';
COMMENT ON COLUMN tiles.idx IS 'Tile index N within its level.';
COMMENT ON COLUMN tiles.width IS 'Number of hashes stored, 1..256 (256 = full, immutable).';
COMMENT ON COLUMN tiles.data IS 'The hashes, 32 bytes each, concatenated.';

CREATE TABLE checkpoints (
  id bigserial PRIMARY KEY,
  tree_size bigint NOT NULL CHECK (tree_size >= 0),
  root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
  note text NOT NULL,
  signed_at timestamptz NOT NULL
);
COMMENT ON TABLE checkpoints IS 'Every checkpoint the log signed, newest last (re-signed ones included): auditors may ask for old ones.';
COMMENT ON COLUMN checkpoints.id IS 'Signing order; the highest is the latest checkpoint.';
COMMENT ON COLUMN checkpoints.tree_size IS 'Tree size the checkpoint commits to.';
COMMENT ON COLUMN checkpoints.root_hash IS 'Root hash the checkpoint commits to.';
COMMENT ON COLUMN checkpoints.note IS 'The signed note text (c2sp.org/signed-note) exactly as served at /log/checkpoint.';
COMMENT ON COLUMN checkpoints.signed_at IS 'When the integrator signed it (its clock, ms). The checkpoint''s timestamp is the creation time of the OpenPGP signature in the note (1 s resolution).';
CREATE INDEX checkpoints_tree_size_idx ON checkpoints (tree_size);

CREATE TABLE signer_keys (
  fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9A-F]{40}$'),
  armored text NOT NULL,
  added_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE signer_keys IS 'Public keys of attestation signers (POST /v1/keys, or keys sent with a publish).';
COMMENT ON COLUMN signer_keys.fingerprint IS 'Primary key fingerprint, 40 upper-case hex (v4).';
COMMENT ON COLUMN signer_keys.armored IS 'The public key, armored; new subkeys and signatures are merged in on update.';
COMMENT ON COLUMN signer_keys.added_at IS 'When the key was first stored.';
COMMENT ON COLUMN signer_keys.updated_at IS 'When the key was last merged with a newer copy.';

CREATE TABLE rate_limits (
  key text PRIMARY KEY,
  hits integer NOT NULL CHECK (hits >= 0),
  reset_at timestamptz NOT NULL
);
COMMENT ON TABLE rate_limits IS 'express-rate-limit counters shared by every process (LogService.rateLimitStore); expired rows are swept.';
COMMENT ON COLUMN rate_limits.key IS 'Limiter prefix and client key (usually the IP address).';
COMMENT ON COLUMN rate_limits.hits IS 'Requests counted in the current window.';
COMMENT ON COLUMN rate_limits.reset_at IS 'When the window ends and the count starts again (database clock).';
CREATE INDEX rate_limits_reset_at_idx ON rate_limits (reset_at);
