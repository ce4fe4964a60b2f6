-- Sig Server schema, version 004: the witness role (SPEC.md "Witnesses", c2sp.org/tlog-witness).
-- A server with WITNESS_LOGS set cosigns checkpoints of those logs (server/witness/). What it must
-- remember per log is the latest checkpoint it cosigned: every later cosignature is only given to a
-- checkpoint consistent with it. server/witness/sql-store.ts reads the row FOR UPDATE, decides, and
-- writes the new row in the same transaction, so two submissions never both win (the rollback race
-- of c2sp.org/tlog-witness), and a crash before COMMIT leaves the old row whole.

CREATE TABLE witness_identity (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  name text NOT NULL,
  vkey text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE witness_identity IS 'The witness''s cosigner key, recorded at its first start (one row). A process with another cosigner key refuses to start: processes sharing this database share the witness state, so they must cosign with one key.';
COMMENT ON COLUMN witness_identity.id IS 'Always true: makes this a single-row table.';
COMMENT ON COLUMN witness_identity.name IS 'The cosigner name (WITNESS_NAME): the name on its cosignature lines and in its vkey.';
COMMENT ON COLUMN witness_identity.vkey IS 'The cosigner verifier key, <name>+<hex8 key ID>+base64(0x04 || Ed25519 public key) (c2sp.org/tlog-cosignature).';
COMMENT ON COLUMN witness_identity.created_at IS 'When the witness first started on this database.';

CREATE TABLE witness_logs (
  origin text PRIMARY KEY,
  tree_size numeric(20, 0) NOT NULL CHECK (tree_size >= 0 AND tree_size <= 18446744073709551615),
  root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
  checkpoint text,
  cosigned_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((checkpoint IS NULL) = (cosigned_at IS NULL)),
  CHECK (checkpoint IS NOT NULL OR (tree_size = 0 AND root_hash = sha256(''::bytea)))
);
COMMENT ON TABLE witness_logs IS 'Per witnessed log, the latest checkpoint this witness cosigned (c2sp.org/tlog-witness). A row is made (size 0, never cosigned) when a log is first configured, so each add-checkpoint locks an existing row (SELECT ... FOR UPDATE). Rows are never deleted: a log removed from WITNESS_LOGS and added back resumes from its old state, never from zero.';
COMMENT ON COLUMN witness_logs.origin IS 'The log''s origin line (c2sp.org/tlog-checkpoint): the name of its key in WITNESS_LOGS.';
COMMENT ON COLUMN witness_logs.tree_size IS 'Size of the latest cosigned checkpoint; 0 before the first. numeric, not bigint: a checkpoint size is a uint64 (up to 2^64-1). The 409 answer of add-checkpoint.';
COMMENT ON COLUMN witness_logs.root_hash IS 'Root hash of the latest cosigned checkpoint (SHA-256 of the empty string before the first).';
COMMENT ON COLUMN witness_logs.checkpoint IS 'That checkpoint as a signed note: the text, the log signature lines that verified, and the cosignature lines this witness returned. NULL before the first cosignature.';
COMMENT ON COLUMN witness_logs.cosigned_at IS 'When that checkpoint was cosigned (the cosignature time). NULL before the first.';
COMMENT ON COLUMN witness_logs.created_at IS 'When the log was first configured on this witness.';
