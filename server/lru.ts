/**
 * LruMap is a Map bounded to `max` entries, and optionally to `maxWeight` by a weight per entry, that
 * forgets the least recently used entries first. A JS Map keeps insertion order, so moving an entry to
 * the end on each hit makes the first key the oldest.
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private readonly max: number;
  private readonly maxWeight: number;
  private total = 0;

  /** max bounds the entries; maxWeight (default: unbounded) bounds the sum of the weights given to set. */
  constructor(max: number, maxWeight = Number.POSITIVE_INFINITY) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`LruMap size must be at least 1, found ${max}`);
    if (!(maxWeight > 0)) throw new RangeError(`LruMap weight bound must be positive, found ${maxWeight}`);
    this.max = max;
    this.maxWeight = maxWeight;
  }

  /** size is the number of entries. */
  get size(): number {
    return this.map.size;
  }

  /** weight is the sum of the weights of the entries. */
  get weight(): number {
    return this.total;
  }

  /** get returns the value for `key` (and makes it the most recently used), or undefined. */
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e !== undefined) {
      this.map.delete(key);
      this.map.set(key, e);
    }
    return e?.value;
  }

  /**
   * set stores `value` under `key` with `weight` (default 1), then forgets the least recently used
   * entries until both bounds hold. A value heavier than maxWeight alone is not kept at all.
   */
  set(key: K, value: V, weight = 1): void {
    this.delete(key);
    if (weight > this.maxWeight) return;
    this.map.set(key, { value, weight });
    this.total += weight;
    while (this.map.size > this.max || this.total > this.maxWeight) {
      this.delete(this.map.keys().next().value as K);
    }
  }

  private delete(key: K): void {
    const e = this.map.get(key);
    if (e === undefined) return;
    this.map.delete(key);
    this.total -= e.weight;
  }
}
