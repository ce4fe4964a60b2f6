-- Sig Server schema, version 005: cosignatures of this log's checkpoints (SPEC.md "Witnesses"), the log role
-- of c2sp.org/tlog-witness. Written by the cosigning loop (server/cosigning/), OUTSIDE the integration
-- transaction: a checkpoint is committed first, then submitted to the witnesses of WITNESS_POLICY, and what
-- they answer is stored here. Every write is a single statement (or one short transaction), so a crash
-- leaves either the old row or the new one; a lost cosignature is asked for again.

CREATE TABLE cosignatures (
  checkpoint_id bigint NOT NULL REFERENCES checkpoints (id),
  witness_vkey text NOT NULL,
  line text NOT NULL,
  cosigned_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (checkpoint_id, witness_vkey)
);
COMMENT ON TABLE cosignatures IS 'Cosignatures (c2sp.org/tlog-cosignature, cosignature/v1) that witnesses returned for this log''s checkpoints. Only lines verified with the witness''s key from WITNESS_POLICY, over that checkpoint''s text, are stored.';
COMMENT ON COLUMN cosignatures.checkpoint_id IS 'The checkpoint cosigned (checkpoints.id).';
COMMENT ON COLUMN cosignatures.witness_vkey IS 'The witness''s cosigner verifier key (<name>+<hex8>+<base64(0x04 || key)>) as named in WITNESS_POLICY.';
COMMENT ON COLUMN cosignatures.line IS 'The signature line exactly as appended to the note: "— <name> <base64(key ID || timestamp || signature)>" and a newline.';
COMMENT ON COLUMN cosignatures.cosigned_at IS 'The cosignature''s timestamp (the witness''s clock, whole seconds), as signed.';
COMMENT ON COLUMN cosignatures.received_at IS 'When this log stored the cosignature (its own clock).';

CREATE TABLE served_checkpoints (
  checkpoint_id bigint PRIMARY KEY REFERENCES checkpoints (id),
  tree_size bigint NOT NULL CHECK (tree_size >= 0),
  note text NOT NULL,
  quorum boolean NOT NULL,
  served_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE served_checkpoints IS 'Checkpoints that may be served (GET /log/checkpoint, receipts, query answers) when WITNESS_POLICY names witnesses: the one with the highest checkpoint_id is served. A checkpoint gets a row when its cosignatures reach the quorum, or, with WITNESS_FAIL_OPEN, when every witness has been tried once for it.';
COMMENT ON COLUMN served_checkpoints.checkpoint_id IS 'The checkpoint (checkpoints.id); a higher id is newer.';
COMMENT ON COLUMN served_checkpoints.tree_size IS 'Its tree size (checkpoints.tree_size), so readers need no join.';
COMMENT ON COLUMN served_checkpoints.note IS 'The note as served: the log''s signed note (checkpoints.note) with the cosignature lines appended (c2sp.org/signed-note: extra signature lines), in policy order.';
COMMENT ON COLUMN served_checkpoints.quorum IS 'Whether the cosignatures in note meet the policy''s quorum; false only for a checkpoint served fail-open.';
COMMENT ON COLUMN served_checkpoints.served_at IS 'When the row was last written (first served, or a later cosignature appended).';
CREATE INDEX served_checkpoints_tree_size_idx ON served_checkpoints (tree_size);

CREATE TABLE witness_progress (
  witness_vkey text PRIMARY KEY,
  tree_size bigint NOT NULL CHECK (tree_size >= 0),
  root_hash bytea NOT NULL CHECK (octet_length(root_hash) = 32),
  last_success_at timestamptz NOT NULL
);
COMMENT ON TABLE witness_progress IS 'Per witness, the latest checkpoint of this log it cosigned: the old size of the next add-checkpoint request (c2sp.org/tlog-witness). Only a hint: a witness that answers 409 with another size is resynced to it.';
COMMENT ON COLUMN witness_progress.witness_vkey IS 'The witness''s cosigner verifier key, as in WITNESS_POLICY.';
COMMENT ON COLUMN witness_progress.tree_size IS 'Size of the latest checkpoint it cosigned.';
COMMENT ON COLUMN witness_progress.root_hash IS 'Root hash of that checkpoint.';
COMMENT ON COLUMN witness_progress.last_success_at IS 'When it last returned a valid cosignature (this log''s clock).';
