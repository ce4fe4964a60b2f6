/**
 * FsckReader: everything fsck reads, and nothing else. A handful of read-only methods, defined here
 * where they are used (STYLE.md: narrow storage interfaces); server/fsck/sql-reader.ts implements them
 * over one READ ONLY REPEATABLE READ snapshot of the database. A reader over another source (a remote
 * log's tiles, a backup) needs only these methods.
 */

/** FsckIdentity is the log's recorded identity (log_identity). */
export interface FsckIdentity {
  origin: string;
  /** vkey: the Ed25519 note verifier key (c2sp.org/signed-note text form). */
  vkey: string;
  openpgpFingerprint: string;
  openpgpPublicKey: string;
}

/** FsckState is the integrated tree as stored (log_state). */
export interface FsckState {
  treeSize: bigint;
  rootHash: Uint8Array;
  /** canonicalDedupFrom: the tree size at which canonical dedup took effect (sql/002). */
  canonicalDedupFrom: bigint;
}

/** FsckEntryRow is one stored entry with the columns derived from it. */
export interface FsckEntryRow {
  index: bigint;
  /** entry: the entry bytes (unpacked from the stored form, server/entry-codec.ts). */
  entry: Uint8Array;
  /** storedError: set when the stored value does not unpack; `entry` then holds the stored bytes. */
  storedError?: Error & { code?: string };
  /** leafHash: the stored leaf hash column, when the schema has one. */
  leafHash: Uint8Array | undefined;
  /** digest, identifier, signer: NULL (null) for an index leaf (sql/003). */
  digest: Uint8Array | null;
  identifier: string | null;
  signer: string | null;
  loggedAt: Date;
}

/** FsckTileRow is one stored hash tile at its stored (widest) width. */
export interface FsckTileRow {
  level: number;
  index: bigint;
  width: number;
  /** data: width hashes of 32 bytes (empty from tileWidths). */
  data: Uint8Array;
}

/** FsckCheckpointRow is one stored checkpoint; `id` is signing order. */
export interface FsckCheckpointRow {
  id: bigint;
  treeSize: bigint;
  rootHash: Uint8Array;
  note: string;
}

/** FsckPendingRow is one accepted attestation waiting for integration. */
export interface FsckPendingRow {
  seq: bigint;
  entry: Uint8Array;
  digest: Uint8Array;
  identifier: string;
  signer: string;
}

/**
 * FsckReader is the read-only store fsck checks. Every method reads the same snapshot; every method
 * throws only when the source cannot be read (what is wrong with the log itself is fsck's to report).
 */
export interface FsckReader {
  readonly kind: 'pg' | 'pglite';
  /** schemaVersion returns the highest applied migration, or undefined when no schema is recorded. */
  schemaVersion(): Promise<number | undefined>;
  /** identity returns log_identity, or undefined when empty. */
  identity(): Promise<FsckIdentity | undefined>;
  /** state returns log_state, or undefined when it has no row. */
  state(): Promise<FsckState | undefined>;
  /** entries returns up to `limit` stored entries with index >= `from`, in index order. */
  entries(from: bigint, limit: number): Promise<FsckEntryRow[]>;
  /** tileWidths returns every stored tile's coordinates and width (data left empty). */
  tileWidths(): Promise<FsckTileRow[]>;
  /** tiles returns the stored tiles among `coords` (absent ones are left out), in any order. */
  tiles(coords: readonly { level: number; index: bigint }[]): Promise<FsckTileRow[]>;
  /** checkpointSizes returns the distinct tree sizes of the stored checkpoints. */
  checkpointSizes(): Promise<bigint[]>;
  /** checkpoints returns up to `limit` stored checkpoints with id > `afterId`, in signing order. */
  checkpoints(afterId: bigint, limit: number): Promise<FsckCheckpointRow[]>;
  /** pendingCounts returns the pending rows, and how many of them are for attestations already logged. */
  pendingCounts(): Promise<{ rows: number; alreadyLogged: number }>;
  /** pending returns up to `limit` pending rows with seq > `afterSeq`, in seq order. */
  pending(afterSeq: bigint, limit: number): Promise<FsckPendingRow[]>;
  /** keys returns the stored armored public keys among `fingerprints` (absent ones are left out). */
  keys(fingerprints: readonly string[]): Promise<{ fingerprint: string; armored: string }[]>;
}
