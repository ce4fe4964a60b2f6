-- Sig Server schema, version 006: peers this server follows (SPEC.md "Gossip: servers that follow each other").
-- A follower (server/peers/) keeps, per peer, the last checkpoint it verified and how far it has read the
-- peer's log; a fork or rollback it catches is kept here as evidence and served on GET /v1/peers.

CREATE TABLE peer_state (
  peer_url text NOT NULL,
  vkey text NOT NULL,
  origin text NOT NULL,
  state text NOT NULL DEFAULT 'following' CHECK (state IN ('following', 'forked')),
  checkpoint text,
  tree_size bigint NOT NULL DEFAULT 0 CHECK (tree_size >= 0),
  root_hash bytea CHECK (root_hash IS NULL OR octet_length(root_hash) = 32),
  verified_at timestamptz,
  carried bigint NOT NULL DEFAULT 0 CHECK (carried >= 0 AND carried <= tree_size),
  attestations bigint NOT NULL DEFAULT 0 CHECK (attestations >= 0),
  index_leaves bigint NOT NULL DEFAULT 0 CHECK (index_leaves >= 0),
  invalid bigint NOT NULL DEFAULT 0 CHECK (invalid >= 0),
  last_invalid text,
  last_error text,
  last_error_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (peer_url, vkey)
);
COMMENT ON TABLE peer_state IS 'One row per followed peer log (the PEERS setting) and pinned key: the last checkpoint verified and consistent with every one before it, and how many of its entries were read and submitted. Written only by the follower holding the peers lock, compare-and-set on the size and position it read, so two followers never move it backwards.';
COMMENT ON COLUMN peer_state.peer_url IS 'The peer''s base URL as in the PEERS file (its tlog-tiles are under <url>/log).';
COMMENT ON COLUMN peer_state.vkey IS 'The pinned Ed25519 note verifier key (signed-note text form): a new key in PEERS starts a new row, never trusts this one''s state.';
COMMENT ON COLUMN peer_state.origin IS 'The peer log''s origin: the vkey''s name, first line of each of its checkpoints.';
COMMENT ON COLUMN peer_state.state IS 'following, or forked: the peer signed two checkpoints that cannot both be true (evidence in peer_evidence); a forked peer is never followed again under this key.';
COMMENT ON COLUMN peer_state.checkpoint IS 'The last verified checkpoint, the signed note exactly as the peer served it; NULL before the first.';
COMMENT ON COLUMN peer_state.tree_size IS 'Its tree size: the follower never accepts a smaller one.';
COMMENT ON COLUMN peer_state.root_hash IS 'Its root hash (RFC 6962); NULL before the first checkpoint.';
COMMENT ON COLUMN peer_state.verified_at IS 'When the follower last fetched a checkpoint of the peer and found it consistent with this one (the peer is stale when this is old).';
COMMENT ON COLUMN peer_state.carried IS 'Entries of the peer''s log read, checked against the root and submitted (indexes 0 to carried-1): a restart resumes here. Moved only after the submitted attestations are stored as pending, so a crash re-reads a batch (dedup makes that harmless) and never skips one.';
COMMENT ON COLUMN peer_state.attestations IS 'Attestation entries carried: found already logged here (not checked again), or submitted to this log''s admission and accepted (new or pending).';
COMMENT ON COLUMN peer_state.index_leaves IS 'Index leaves (SPEC.md "Entry kinds") skipped: they belong to the peer''s tree, not ours.';
COMMENT ON COLUMN peer_state.invalid IS 'Entries skipped because they failed our checks (bad signature, over our limits, unknown kind, key refused).';
COMMENT ON COLUMN peer_state.last_invalid IS 'The latest of those: peer index, error code and message.';
COMMENT ON COLUMN peer_state.last_error IS 'The latest failed round: error code and message (the peer unreachable, a tile that does not match, ...); NULL after a round that succeeded.';
COMMENT ON COLUMN peer_state.last_error_at IS 'When that round failed.';
COMMENT ON COLUMN peer_state.updated_at IS 'When the row last changed.';

CREATE TABLE peer_evidence (
  id bigserial PRIMARY KEY,
  peer_url text NOT NULL,
  vkey text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('root-mismatch', 'proof-invalid', 'rollback')),
  kept_checkpoint text NOT NULL,
  next_checkpoint text NOT NULL,
  consistency_proof text NOT NULL,
  prefix_root bytea CHECK (prefix_root IS NULL OR octet_length(prefix_root) = 32),
  message text NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE peer_evidence IS 'Forks and rollbacks of followed peers, with what proves them (cli/fork-evidence.ts checks it: sig audit --evidence). Kept forever.';
COMMENT ON COLUMN peer_evidence.id IS 'Detection order.';
COMMENT ON COLUMN peer_evidence.peer_url IS 'The peer (peer_state.peer_url).';
COMMENT ON COLUMN peer_evidence.vkey IS 'The pinned key both checkpoints are signed by.';
COMMENT ON COLUMN peer_evidence.kind IS 'root-mismatch: two checkpoints of one size with different roots; proof-invalid: the larger tree''s own hashes give another root at the kept size (prefix_root); rollback: a smaller tree signed after a larger one.';
COMMENT ON COLUMN peer_evidence.kept_checkpoint IS 'The signed checkpoint kept before (peer_state.checkpoint then).';
COMMENT ON COLUMN peer_evidence.next_checkpoint IS 'The signed checkpoint that contradicts it, as the peer served it.';
COMMENT ON COLUMN peer_evidence.consistency_proof IS 'proof-invalid: the consistency proof from the kept size to the next size (RFC 9162 §2.1.4.1), built from the peer''s tiles (verified against the next root), base64 hashes one per line; empty otherwise.';
COMMENT ON COLUMN peer_evidence.prefix_root IS 'proof-invalid: the root of the first kept-size entries of the next tree, which that proof proves and which differs from the kept root.';
COMMENT ON COLUMN peer_evidence.message IS 'What was found, for people.';
COMMENT ON COLUMN peer_evidence.detected_at IS 'When the follower caught it.';
CREATE INDEX peer_evidence_peer_idx ON peer_evidence (peer_url, vkey, id);
