/**
 * The transparency-log core, pure (no I/O): RFC 6962/9162 hashing and proofs, c2sp.org/tlog-tiles,
 * c2sp.org/tlog-checkpoint (and judging a new checkpoint against a kept one), c2sp.org/signed-note
 * (Ed25519 and OpenPGP lines), RFC 8785 canonical JSON, bytes/hex/base64, Signet attestations, the
 * log's entry bytes, the verifiable index (SPEC.md "The index"), and witnessing:
 * c2sp.org/tlog-cosignature (cosignature/v1), c2sp.org/tlog-witness (add-checkpoint bodies and the
 * witness's decision) and c2sp.org/tlog-policy (policies and quorums). The server proves with this
 * code and the CLI verifies with the same code.
 */
export * from './bytes.js';
export * from './canonical-json.js';
export * from './checkpoint.js';
export * from './consistency.js';
export * from './cosignature.js';
export * from './entry.js';
export * from './errors.js';
export * from './hash.js';
export * from './index-map.js';
export * from './note.js';
export * from './policy.js';
export * from './proof.js';
export * from './signet.js';
export * from './tiles.js';
export * from './witness.js';
