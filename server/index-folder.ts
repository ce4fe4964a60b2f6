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

  async close(): Promise<void> {}
}

type Final = Exclude<TopAnswer, { writes: PackedWrites }>;
type Waiter = {
  resolve: (r: Final) => void;
  reject: (e: Error) => void;
  /** writes: a fold's bucket rows, which come before its final answer. */
  writes?: (w: BucketWrite[]) => void;
};
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

  #start(): Worker {
    const w = startWorker(import.meta.url, 'index-top-worker');
    this.#worker = w;
    this.#version = undefined;
    w.unref();
    w.on('message', (a: TopAnswer) => {
      const waiter = this.#waiting.get(a.id);
      if ('writes' in a) {
        waiter?.writes?.(unpackWrites(a.writes));
        return;
      }
      this.#waiting.delete(a.id);
      if (this.#waiting.size === 0) w.unref();
      waiter?.resolve(a);
    });
    const fail = (err: Error) => {
      if (this.#worker === w) {
        this.#worker = undefined;
        this.#version = undefined;
      }
      for (const waiter of this.#waiting.values()) waiter.reject(err);
      this.#waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`index top worker exited (${code})`)));
    return w;
  }

  async #call(
    op: Op,
    transfer: ArrayBuffer[] = [],
    writes?: (w: BucketWrite[]) => void,
  ): Promise<{ root: Uint8Array } | null> {
    const w = this.#worker ?? this.#start();
    const id = ++this.#seq;
    const answer = await new Promise<Final>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, writes });
      // Held while an answer is awaited: an idle folder never keeps the process alive.
      w.ref();
      w.postMessage({ id, ...op }, transfer);
    });
    if ('error' in answer) {
      this.#version = undefined;
      throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
    }
    return answer.result;
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
      await this.#call({ op: changed ? 'apply' : 'load', heads: packed }, buffersOf(packed));
    }
    const keys = mapKeys(entries);
    const reading = records.bucketRecords(touchedBuckets(keys), mapSize);
    reading.catch(() => undefined); // awaited below
    // One turn of the event loop lets the driver put the read on the wire (a pool hands out an idle
    // connection asynchronously); then the caller may keep this thread busy until it answers.
    await new Promise((resolve) => setImmediate(resolve));
    readSent?.();
    const additions = groupByBucket(entries, keys);
    const fold = packFold(additions, await reading);
    const out = await this.#call({ op: 'fold', fold }, buffersOf(fold), writes);
    if (out === null) throw new Error('index top worker: fold answered nothing');
    return out.root;
  }

  moved(size: bigint): void {
    if (this.#worker !== undefined) this.#version = size;
  }

  forget(): void {
    this.#version = undefined;
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    this.#version = undefined;
    await w?.terminate();
  }
}
