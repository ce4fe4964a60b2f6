/**
 * Where the integrator's map top lives and a round's map hashing runs (server/index-round.ts): a
 * MapFolder moves the top to the stored map's size, folds a round's entries into it and answers the
 * bucket rows to write and the new root.
 *
 * WorkerFolder (the default) keeps the top in a worker thread (server/index-top-worker.ts) and hashes
 * there: a round's map costs about 6,000 SHA-256 calls at 10^6 keys and their bookkeeping, about 7 ms
 * of CPU, which the main thread would otherwise spend while its own part of the round (packing the
 * entries, their leaf and tile hashes, the statements) waits. The main thread reads what the worker
 * needs (the bucket heads when the top must move, the touched buckets' records) and sends it in flat,
 * transferred arrays (server/index-top-messages.ts); the worker does no I/O and answers the bucket rows
 * as soon as they are hashed, then the root. InThreadFolder does the same on the main thread (the
 * TopCache of server/index-state.ts).
 *
 * Both keep the top's size as the index round says: unknown from the moment a fold starts until the
 * round's COMMIT (`moved`), so a round that rolls back, or a worker that dies, makes the next fold load
 * the whole top again from the stored bucket heads.
 */
import type { Worker } from 'node:worker_threads';
import { BUCKETS } from '../log/index-buckets.js';
import {
  type BucketWrite,
  foldEntries,
  groupByBucket,
  type KeyedEntry,
  type MapReadStore,
  mapKeys,
  TopCache,
  touchedBuckets,
} from './index-state.js';
import {
  buffersOf,
  type PackedWrites,
  packFold,
  packHeads,
  packRecords,
  type TopAnswer,
  type TopRequest,
  unpackWrites,
} from './index-top-messages.js';
import { startWorker } from './worker-start.js';

/** Folding is a fold under way: the touched buckets' new rows as soon as they are hashed, then the root. */
export interface Folding {
  writes: Promise<BucketWrite[]>;
  root: Promise<Uint8Array>;
}

/** MapFolder folds a round's entries into the map at mapSize (see the file comment). */
export interface MapFolder {
  /**
   * fold moves the top to the map at `mapSize` (reading bucket heads from `heads` when it is not
   * there: the round's transaction, which may itself have written them, as a bulk load does), adds
   * `entries` (attestation entries in log order, the first at mapSize or later; the touched buckets
   * read from `records` as of mapSize) and answers the bucket rows to write, then the new root (if the
   * fold fails, both reject). `readSent` is called once the read of the touched buckets is on its way
   * and the calling thread is free until it answers (WorkerFolder; InThreadFolder, which hashes on the
   * calling thread, calls it when done), so the caller can do its own work meanwhile.
   */
  fold(
    heads: MapReadStore,
    records: MapReadStore,
    mapSize: bigint,
    entries: readonly KeyedEntry[],
    readSent?: () => void,
  ): Folding;
  /** moved says that the last fold's round committed: the top is the map at `size`. */
  moved(size: bigint): void;
  /** forget says that the last fold's round did not commit. */
  forget(): void;
  /** filled says whether the folder reads no more before a fold than it must (always, for InThreadFolder). */
  filled(): boolean;
  /** close stops the folder's thread, if it has one. */
  close(): Promise<void>;
}

/** InThreadFolder folds on the calling thread, with a TopCache. */
export class InThreadFolder implements MapFolder {
  readonly #cache = new TopCache();

  fold(
    heads: MapReadStore,
    records: MapReadStore,
    mapSize: bigint,
    entries: readonly KeyedEntry[],
    readSent?: () => void,
  ): Folding {
    const out = (async () => {
      const top = await this.#cache.take(heads, mapSize);
      const folded = await foldEntries(records, top, mapSize, entries);
      readSent?.();
      return folded;
    })();
    return { writes: out.then((o) => o.writes), root: out.then((o) => o.root) };
  }

  moved(size: bigint): void {
    this.#cache.moved(size);
  }

  forget(): void {
    // take() left the cache at no size: the next fold loads the top again.
  }

  filled(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}

type Final = Exclude<TopAnswer, { writes: PackedWrites }>;
type Waiter = {
  resolve: (r: Final) => void;
  reject: (e: Error) => void;
  /** writes: a fold's bucket rows, which come before its final answer, and which of them the worker keeps. */
  writes?: (w: BucketWrite[], cached: Uint8Array) => void;
};

/**
 * MAP_CACHE_BYTES: the most of bucket records the integrator's map worker keeps in memory, with their
 * leaf hashes (256 MiB: a map of about 1.5 million keys; 10^6 entries make about 10^6 keys, 72 bytes
 * of record and 32 of leaf hash each, plus about 256 of bookkeeping per bucket: about 170 MiB). With
 * them all, a round reads no bucket and hashes only the leaves it changes; beyond, it reads the buckets
 * not kept.
 */
export const MAP_CACHE_BYTES = 256 * 1024 * 1024;

/** FILL_CHUNK: buckets read per statement when filling the worker's records between rounds. */
const FILL_CHUNK = 8192;

/** withEmpty adds to a read of `prefixes` (MapReadStore.bucketRecords) the empty ones it left out: they have no row. */
function withEmpty(got: Map<number, Uint8Array>, prefixes: readonly number[]): Map<number, Uint8Array> {
  for (const p of prefixes) if (!got.has(p)) got.set(p, new Uint8Array(0));
  return got;
}
type Op = TopRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * WorkerFolder keeps the top in a worker thread, started by the first fold (not at construction: a
 * process's start stays as quick as before, and one that never appends an index leaf never starts it).
 */
export class WorkerFolder implements MapFolder {
  #worker: Worker | undefined;
  /** The map size the worker's top is at; undefined when unknown (no top, or a fold not committed). */
  #version: bigint | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, Waiter>();
  /**
   * kept[p] is 1 when the worker keeps bucket p's records as of the top's size (it said so in its
   * answers: server/index-top-worker.ts), so a fold reads only the others. Emptied whenever the worker's
   * top is: at load, on forget, when the worker dies.
   */
  readonly #kept = new Uint8Array(BUCKETS);
  readonly #cacheBytes: number;
  /** Where and how far the background fill of the worker's kept records has come (see #fill). */
  #fillFrom: MapReadStore | undefined;
  #fillNext = 0;
  #filling = false;
  #fillDone = false;

  /**
   * cacheBytes: the most the worker keeps of bucket records (MAP_CACHE_BYTES by default; 0 keeps none,
   * so every fold reads its buckets).
   */
  constructor(opts: { cacheBytes?: number } = {}) {
    this.#cacheBytes = opts.cacheBytes ?? MAP_CACHE_BYTES;
  }

  #start(): Worker {
    const w = startWorker(import.meta.url, 'index-top-worker');
    this.#worker = w;
    this.#unknown();
    w.unref();
    w.on('message', (a: TopAnswer) => {
      const waiter = this.#waiting.get(a.id);
      if ('writes' in a) {
        waiter?.writes?.(unpackWrites(a.writes), a.cached);
        return;
      }
      this.#waiting.delete(a.id);
      if (this.#waiting.size === 0) w.unref();
      waiter?.resolve(a);
    });
    const fail = (err: Error) => {
      if (this.#worker === w) {
        this.#worker = undefined;
        this.#unknown();
      }
      for (const waiter of this.#waiting.values()) waiter.reject(err);
      this.#waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`index top worker exited (${code})`)));
    return w;
  }

  /** #unknown: the worker's top is at no known size, and nothing it keeps may be relied on. */
  #unknown(): void {
    this.#version = undefined;
    this.#kept.fill(0);
    this.#fillNext = 0;
    this.#fillDone = false;
  }

  async #call(
    op: Op,
    transfer: ArrayBuffer[] = [],
    writes?: (w: BucketWrite[], cached: Uint8Array) => void,
  ): Promise<Extract<Final, { result: unknown }>> {
    const w = this.#worker ?? this.#start();
    const id = ++this.#seq;
    const answer = await new Promise<Final>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, writes });
      // Held while an answer is awaited: an idle folder never keeps the process alive.
      w.ref();
      w.postMessage({ id, ...op }, transfer);
    });
    if ('error' in answer) {
      this.#unknown();
      throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
    }
    return answer;
  }

  fold(
    heads: MapReadStore,
    records: MapReadStore,
    mapSize: bigint,
    entries: readonly KeyedEntry[],
    readSent?: () => void,
  ): Folding {
    let gotWrites: (w: BucketWrite[]) => void = () => {};
    let noWrites: (e: unknown) => void = () => {};
    const writes = new Promise<BucketWrite[]>((resolve, reject) => {
      gotWrites = resolve;
      noWrites = reject;
    });
    // The records store outlives the round only where it is not the round's transaction (Postgres's
    // pool beside it): only then can the worker's records be filled between rounds.
    this.#fillFrom = records === heads ? undefined : records;
    const root = this.#fold(heads, records, mapSize, entries, gotWrites, readSent);
    // A fold that fails before its rows came fails both (a later failure leaves the rows settled).
    root.catch(noWrites);
    return { writes, root };
  }

  async #fold(
    heads: MapReadStore,
    records: MapReadStore,
    mapSize: bigint,
    entries: readonly KeyedEntry[],
    writes: (w: BucketWrite[]) => void,
    readSent?: () => void,
  ): Promise<Uint8Array> {
    if (this.#worker === undefined) this.#start();
    const from = this.#version;
    // In motion: until the round commits, the worker's top is at no size anyone may use.
    this.#version = undefined;
    if (from !== mapSize) {
      const changed =
        from === undefined
          ? undefined
          : from < mapSize
            ? { after: from, upTo: mapSize }
            : { after: mapSize, upTo: from };
      const packed = packHeads(await heads.bucketHeads(mapSize, changed));
      if (changed) {
        for (const p of packed.prefixes) this.#kept[p] = 0;
        await this.#call({ op: 'apply', heads: packed }, buffersOf(packed));
      } else {
        this.#unknown();
        await this.#call({ op: 'load', heads: packed, cacheBytes: this.#cacheBytes }, buffersOf(packed));
      }
    }
    const keys = mapKeys(entries);
    // Only the buckets the worker does not keep are read.
    const missing = touchedBuckets(keys).filter((p) => this.#kept[p] === 0);
    const reading = missing.length > 0 ? records.bucketRecords(missing, mapSize) : Promise.resolve(new Map());
    reading.catch(() => undefined); // awaited below
    // One turn of the event loop lets the driver put the read on the wire (a pool hands out an idle
    // connection asynchronously); then the caller may keep this thread busy until it answers.
    await new Promise((resolve) => setImmediate(resolve));
    readSent?.();
    const additions = groupByBucket(entries, keys);
    const fold = packFold(additions, withEmpty(await reading, missing));
    const out = await this.#call({ op: 'fold', fold }, buffersOf(fold), (rows, cached) => {
      rows.forEach((r, i) => {
        this.#kept[r.prefix] = cached[i]!;
      });
      writes(rows);
    });
    if (out.result === null) throw new Error('index top worker: fold answered nothing');
    return out.result.root;
  }

  moved(size: bigint): void {
    if (this.#worker === undefined) return;
    this.#version = size;
    this.#fill(size);
  }

  /**
   * #fill reads, between rounds, the records of the buckets the worker does not keep yet, FILL_CHUNK
   * buckets a read, at the map size the top is at, and sends them to the worker, until it has them all
   * or is full: then a fold reads nothing. A round that starts meanwhile wins: a chunk read while the
   * top moved is dropped, and the next committed round takes the fill up again. A failed read stops it
   * until then too (the worker's records only save reads; folds read what it does not keep). If another
   * process has moved the map since `size` (this one learns it at its next fold), what a chunk read at
   * `size` got wrong is only buckets that changed since, which that fold's 'apply' drops before use.
   */
  #fill(size: bigint): void {
    const from = this.#fillFrom;
    if (from === undefined || this.#filling || this.#fillDone || this.#cacheBytes === 0) return;
    if (this.#version !== size) return; // a round has begun: the next one to commit goes on
    this.#filling = true;
    const seq = this.#seq;
    const lo = this.#fillNext;
    const prefixes: number[] = [];
    for (let p = lo; p < Math.min(BUCKETS, lo + FILL_CHUNK); p++) if (this.#kept[p] === 0) prefixes.push(p);
    const read = prefixes.length > 0 ? from.bucketRecords(prefixes, size) : Promise.resolve(new Map());
    read
      .then(async (got) => {
        // Sent only if no op went to the worker since the read began: the top is still at `size`.
        if (this.#seq !== seq || this.#version !== size || this.#worker === undefined) return false;
        if (prefixes.length > 0) {
          withEmpty(got, prefixes);
          const fill = packRecords(prefixes, got);
          const answer = await this.#call({ op: 'fill', fill }, buffersOf(fill));
          if (this.#version !== size) return false;
          const cached = answer.cached ?? new Uint8Array(0);
          prefixes.forEach((p, i) => {
            this.#kept[p] = cached[i] ?? 0;
          });
          if (cached.includes(0)) this.#fillDone = true; // full
        }
        this.#fillNext = lo + FILL_CHUNK;
        if (this.#fillNext >= BUCKETS) this.#fillDone = true;
        return !this.#fillDone;
      })
      .catch(() => false)
      .then((more) => {
        this.#filling = false;
        if (more) setImmediate(() => this.#fill(size));
      });
  }

  /**
   * filled says whether the background fill has nothing more to do: every bucket kept, the worker full,
   * or nothing to fill from (PGlite: the worker keeps only what folds wrote) or into (no cache).
   */
  filled(): boolean {
    return this.#fillDone || this.#fillFrom === undefined || this.#cacheBytes === 0;
  }

  forget(): void {
    this.#unknown();
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    this.#unknown();
    this.#fillFrom = undefined;
    await w?.terminate();
  }
}
