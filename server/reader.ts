/**
 * LogReader: everything a client reads from the log (cf. Tessera's LogReader): the latest signed
 * checkpoint, tiles (c2sp.org/tlog-tiles), the entry feed, attestation queries, and proofs (through
 * server/prover.ts). It only reads, through ReadStore.
 *
 * Every answer is bounded by the latest signed checkpoint: tiles, proofs, entries and query results never
 * reach past it, so every answer can be checked against a checkpoint a client can get. Entries the
 * integrator has committed but no checkpoint covers yet are invisible here.
 */
import { type Checkpoint, parseCheckpoint } from '../log/checkpoint.js';
import { LogError } from '../log/errors.js';
import { parseNote } from '../log/note.js';
import { ENTRIES_LEVEL, encodeEntryBundle, TILE_WIDTH, type TileCoord, tileWidthAt } from '../log/tiles.js';
import { ServiceError } from './errors.js';
import { type IndexLookup, IndexReader, type IndexReadStore, type LookupQuery } from './index-reader.js';
import { checkpointTime, type ServerKeys } from './keys.js';
import { Prover } from './prover.js';
import type { StoredCheckpoint } from './sequencer.js';

/** MAX_PAGE is the most items findAttestations and entries return at once. */
export const MAX_PAGE = 10_000;

/** EntryRow is one integrated entry. */
export interface EntryRow {
  index: bigint;
  entry: Uint8Array;
}

/** ReadStore is the storage LogReader and the awaiter read (SqlStore in server/store.ts). Every method
 *  throws on database errors. */
export interface ReadStore extends IndexReadStore {
  /** latestCheckpoint returns the newest stored checkpoint, if any. */
  latestCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /** checkpointAt returns the newest stored checkpoint of tree size `size`, if any. */
  checkpointAt(size: bigint): Promise<StoredCheckpoint | undefined>;
  /** readTiles returns the hash tiles at the given widths (prefix of the stored one); throws if absent. */
  readTiles(tiles: readonly TileCoord[]): Promise<Uint8Array[]>;
  /** readStoredTile returns a stored tile's widest data, or undefined. */
  readStoredTile(level: number, index: bigint): Promise<Uint8Array | undefined>;
  /** readEntries returns the entries with start <= index < end, in order. */
  readEntries(start: bigint, end: bigint): Promise<EntryRow[]>;
  /** findEntries returns up to `limit` entries matching id and/or key with after < index < below. */
  findEntries(q: {
    id?: string;
    key?: string;
    after?: bigint;
    below: bigint;
    limit: number;
  }): Promise<EntryRow[]>;
  /** entriesByDigest returns, for each of the digests that is logged, its entry at the lowest index. */
  entriesByDigest(digests: readonly Uint8Array[]): Promise<(EntryRow & { digest: Uint8Array })[]>;
  /** checkpointHistory returns up to `points` (>= 2) stored checkpoints spread evenly over the signing
   *  order, oldest first, the first and the latest included (the explorer's plot, server/http/checkpoints.ts). */
  checkpointHistory(points: number): Promise<CheckpointSample[]>;
}

/** CheckpointSample is one stored checkpoint's size and the integrator's clock when it signed it. */
export interface CheckpointSample {
  treeSize: bigint;
  signedAt: Date;
}

/** SignedCheckpoint is a checkpoint as the log signed it: the note text, its parsed body, and the
 *  creation time of its OpenPGP signature (the checkpoint's timestamp, SPEC.md "Checkpoint"). */
export interface SignedCheckpoint {
  note: string;
  checkpoint: Checkpoint;
  timestamp: Date;
}

/** AttestationPage is one page of an attestation query: matches with their inclusion proofs against
 *  `checkpoint`, the index (SPEC.md "Query answers"), and `next`, the `after` of the next page, when
 *  there is one (pages after the first pass the checkpoint's size back, as `size`). */
export interface AttestationPage {
  checkpoint: SignedCheckpoint;
  items: { index: bigint; entry: Uint8Array; inclusionProof: Uint8Array[] }[];
  index: IndexAnswer | null;
  next?: bigint;
}

/** IndexAnswer is the `index` object of an answer: the checkpoint's index leaf, included, and the lookups. */
export interface IndexAnswer {
  leafIndex: bigint;
  entry: Uint8Array;
  inclusionProof: Uint8Array[];
  lookups: IndexLookup[];
}

/** LogReader reads and proves; see the file comment. */
export class LogReader {
  private readonly store: ReadStore;
  private readonly keys: ServerKeys;
  /** prover proves from the stored tiles, with its node cache. */
  readonly prover: Prover;
  /** index proves the lookups of answers (server/index-reader.ts). */
  readonly index: IndexReader;
  private cpCache: { note: string; signed: SignedCheckpoint } | undefined;
  /** seen: the latest checkpoint's size and timestamp, as last read (gauges of server/metrics.ts). */
  readonly seen: { treeSize: number; checkpointTimestamp: Date | undefined } = {
    treeSize: 0,
    checkpointTimestamp: undefined,
  };

  /** served picks the checkpoint that answers are bounded by (default: the newest stored one). */
  private readonly served: () => Promise<StoredCheckpoint | undefined>;

  /** `served` chooses the served checkpoint (server/cosigning/witnessing.ts with witnesses; default
   *  ReadStore.latestCheckpoint). */
  constructor(store: ReadStore, keys: ServerKeys, served?: () => Promise<StoredCheckpoint | undefined>) {
    this.store = store;
    this.keys = keys;
    this.served = served ?? (() => store.latestCheckpoint());
    this.prover = new Prover((t) => store.readTiles(t));
    this.index = new IndexReader(store);
  }

  /** latestCheckpoint returns the latest signed checkpoint. Throws NOT_FOUND before the first one
   *  (only on a new database whose integrator has not run yet). */
  async latestCheckpoint(): Promise<SignedCheckpoint> {
    const c = await this.served();
    if (!c) {
      throw new ServiceError(
        'NOT_FOUND',
        'the log has no checkpoint yet: no integrator has run; start one',
        {},
        1,
      );
    }
    return this.signedCheckpoint(c.note);
  }

  /** checkpointHistory: ReadStore.checkpointHistory (one query, `points` index lookups). */
  checkpointHistory(points: number): Promise<CheckpointSample[]> {
    return this.store.checkpointHistory(points);
  }

  /** signedCheckpoint returns the note of a checkpoint this log signed, parsed, with its timestamp. */
  async signedCheckpoint(note: string): Promise<SignedCheckpoint> {
    if (this.cpCache?.note === note) return this.cpCache.signed;
    const signed: SignedCheckpoint = {
      note,
      checkpoint: parseCheckpoint(parseNote(note).text),
      timestamp: await checkpointTime(this.keys, note),
    };
    this.cpCache = { note, signed };
    this.seen.treeSize = Number(signed.checkpoint.treeSize);
    this.seen.checkpointTimestamp = signed.timestamp;
    return signed;
  }

  /**
   * readTile returns a hash tile (level >= 0) or entry bundle (level ENTRIES_LEVEL) at the requested
   * width, or undefined when the tree of the latest checkpoint does not have that tile at least that
   * wide (c2sp.org/tlog-tiles). Narrower partial tiles are the prefix of the stored one.
   */
  async readTile(t: TileCoord): Promise<Uint8Array | undefined> {
    const cp = await this.latestCheckpoint();
    const size = cp.checkpoint.treeSize;
    if (t.width < 1 || t.width > TILE_WIDTH || t.index < 0n) return undefined;
    if (t.level === ENTRIES_LEVEL) {
      if (tileWidthAt(0, t.index, size) < t.width) return undefined;
      const start = t.index * BigInt(TILE_WIDTH);
      const rows = await this.store.readEntries(start, start + BigInt(t.width));
      if (rows.length !== t.width) throw new Error(`entries ${start}..+${t.width} are not all stored`);
      return encodeEntryBundle(rows.map((r) => r.entry));
    }
    if (t.level < 0 || tileWidthAt(t.level, t.index, size) < t.width) return undefined;
    const data = await this.store.readStoredTile(t.level, t.index);
    if (!data || data.length < t.width * 32)
      throw new Error(`tile ${t.level}/${t.index} is not stored wide enough`);
    return data.subarray(0, t.width * 32);
  }

  /**
   * findAttestations returns the logged attestations matching `id` and/or `key` (at least one is
   * required: else ATTESTATION_INVALID), ordered by index, with index > `after`, at most `limit`
   * (1..MAX_PAGE), each with its entry and inclusion proof against the checkpoint of tree size `size`
   * (a cursor's: NOT_FOUND unless this log signed one of that size, within the latest) or else the
   * latest one, and the index of that checkpoint (null with noIndex: the Signet answer). `next` is the `after` for the next
   * page, when there is one. One query for the entries and one for all the proofs' hashes.
   */
  async findAttestations(q: {
    id?: string;
    key?: string;
    after?: bigint;
    size?: bigint;
    limit: number;
    noIndex?: boolean;
  }): Promise<AttestationPage> {
    if (q.id === undefined && q.key === undefined) {
      throw new LogError('ATTESTATION_INVALID', 'a query needs an id, a key, or both', { field: 'id' });
    }
    checkLimit(q.limit);
    const checkpoint = await this.checkpointOfSize(q.size);
    const size = checkpoint.checkpoint.treeSize;
    const rows = await this.store.findEntries({
      ...(q.id !== undefined ? { id: q.id } : {}),
      ...(q.key !== undefined ? { key: q.key.toUpperCase() } : {}),
      ...(q.after !== undefined ? { after: q.after } : {}),
      below: size,
      limit: q.limit + 1,
    });
    const page = rows.slice(0, q.limit);
    const indexes = page.map((r) => r.index);
    const { proofs, index } = q.noIndex
      ? { proofs: await this.prover.proveMany(indexes, size), index: null }
      : await this.proveWithIndex(indexes, size, lookupQueries(q));
    const items = page.map((r, i) => ({ index: r.index, entry: r.entry, inclusionProof: proofs[i]! }));
    return rows.length > q.limit
      ? { checkpoint, items, index, next: page[page.length - 1]!.index }
      : { checkpoint, items, index };
  }

  /**
   * findIndex returns the latest checkpoint and its index for a query by `id` and/or `key`
   * (GET /v1/index): what findAttestations answers, without the entries.
   */
  async findIndex(q: { id?: string; key?: string }): Promise<{
    checkpoint: SignedCheckpoint;
    index: IndexAnswer | null;
  }> {
    if (q.id === undefined && q.key === undefined) {
      throw new LogError('ATTESTATION_INVALID', 'a query needs an id, a key, or both', { field: 'id' });
    }
    const checkpoint = await this.latestCheckpoint();
    const { index } = await this.proveWithIndex([], checkpoint.checkpoint.treeSize, lookupQueries(q));
    return { checkpoint, index };
  }

  /** The checkpoint of tree size `size` (latest when undefined); NOT_FOUND when this log signed none. */
  private async checkpointOfSize(size: bigint | undefined): Promise<SignedCheckpoint> {
    const latest = await this.latestCheckpoint();
    if (size === undefined || size === latest.checkpoint.treeSize) return latest;
    const c = size < latest.checkpoint.treeSize ? await this.store.checkpointAt(size) : undefined;
    if (!c) {
      throw new ServiceError(
        'NOT_FOUND',
        `this log signed no checkpoint of size ${size} (the cursor's): start the query again without a cursor`,
        { field: 'cursor' },
      );
    }
    return this.signedCheckpoint(c.note);
  }

  /**
   * proveWithIndex returns the inclusion proofs of `indexes` and the index of the checkpoint of `size`:
   * its index leaf (proved in the same batched read) and the lookups. The index is null for size 0 and
   * for a checkpoint signed before the index existed (its last leaf is not an index leaf).
   */
  private async proveWithIndex(
    indexes: readonly bigint[],
    size: bigint,
    queries: readonly LookupQuery[],
  ): Promise<{ proofs: Uint8Array[][]; index: IndexAnswer | null }> {
    const leaf = await this.index.leafOf(size);
    if (leaf === undefined) return { proofs: await this.prover.proveMany(indexes, size), index: null };
    const [proofs, lookups] = await Promise.all([
      this.prover.proveMany([...indexes, leaf.index], size),
      this.index.lookups(leaf.leaf, queries),
    ]);
    const inclusionProof = proofs.pop()!;
    return { proofs, index: { leafIndex: leaf.index, entry: leaf.entry, inclusionProof, lookups } };
  }

  /**
   * proveInclusion returns the RFC 9162 §2.1.3 inclusion proof of `index` in the tree of `treeSize`.
   * Throws INDEX_OUT_OF_RANGE unless index < treeSize <= the latest checkpoint's size.
   */
  async proveInclusion(index: bigint, treeSize: bigint): Promise<Uint8Array[]> {
    const cp = await this.latestCheckpoint();
    checkSize('treeSize', treeSize, cp.checkpoint.treeSize);
    if (index < 0n || index >= treeSize) {
      throw new LogError(
        'INDEX_OUT_OF_RANGE',
        `index must be from 0 to treeSize - 1 = ${treeSize - 1n}, found ${index}`,
        { field: 'index' },
      );
    }
    return this.prover.proveInclusion(index, treeSize);
  }

  /**
   * proveConsistency returns the RFC 9162 §2.1.4 consistency proof between sizes size1 <= size2 <=
   * the latest checkpoint's size (else INDEX_OUT_OF_RANGE).
   */
  async proveConsistency(size1: bigint, size2: bigint): Promise<Uint8Array[]> {
    const cp = await this.latestCheckpoint();
    checkSize('size2', size2, cp.checkpoint.treeSize);
    if (size1 < 0n || size1 > size2) {
      throw new LogError('INDEX_OUT_OF_RANGE', `size1 must be from 0 to size2 = ${size2}, found ${size1}`, {
        field: 'from',
      });
    }
    return this.prover.proveConsistency(size1, size2);
  }

  /**
   * entries returns up to `limit` (1..MAX_PAGE) entries from index `start`, in log order, within the
   * latest checkpoint (empty past its end). Throws INDEX_OUT_OF_RANGE for a negative start or bad limit.
   */
  async entries(start: bigint, limit: number): Promise<EntryRow[]> {
    if (start < 0n)
      throw new LogError('INDEX_OUT_OF_RANGE', `start must be >= 0, found ${start}`, { field: 'start' });
    checkLimit(limit);
    const cp = await this.latestCheckpoint();
    const end =
      start + BigInt(limit) < cp.checkpoint.treeSize ? start + BigInt(limit) : cp.checkpoint.treeSize;
    if (end <= start) return [];
    return this.store.readEntries(start, end);
  }
}

/** The lookups of a query: one per parameter, id first (SPEC.md "Query answers"). */
function lookupQueries(q: { id?: string; key?: string }): LookupQuery[] {
  const out: LookupQuery[] = [];
  if (q.id !== undefined) out.push({ by: 'id', value: q.id });
  if (q.key !== undefined) out.push({ by: 'key', value: q.key });
  return out;
}

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `limit must be an integer from 1 to ${MAX_PAGE}, found ${limit}`,
      {
        field: 'limit',
      },
    );
  }
}

function checkSize(field: string, size: bigint, max: bigint): void {
  if (size < 0n || size > max) {
    throw new LogError(
      'INDEX_OUT_OF_RANGE',
      `${field} must be from 0 to the latest checkpoint's size ${max}, found ${size}`,
      { field, max: max.toString() },
    );
  }
}
