/**
 * LruMap is a Map bounded to `max` entries that forgets the least recently used one first. A JS Map
 * keeps insertion order, so moving an entry to the end on each hit makes the first key the oldest.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>();
  private readonly max: number;

  constructor(max: number) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`LruMap size must be at least 1, found ${max}`);
    this.max = max;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
}
