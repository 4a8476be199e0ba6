/**
 * The data-key cache: an LRU bounded by entry count with a maximum age, single-flight loading
 * (a burst of concurrent misses for one key runs one loader, hence one KMS call), and a
 * `dispose` hook that wipes unwrapped keys when they leave the cache.
 *
 * Keys are strings built by the caller; keywarden prefixes them with the master key id so one
 * cache can serve several master keys without mixing them (partitioning).
 */
import { assertInt, assertOptions } from '../util/validate.js';

/** Options of {@link KeyCache}. */
export interface KeyCacheOptions {
  /** Most entries held; the least recently used is evicted beyond it. Default 10,000. */
  maxEntries?: number;
  /**
   * Most milliseconds an entry is used after it was loaded; older entries are reloaded (and
   * so re-read from the key store). Bounds how long a rotation on another instance takes to
   * reach this one. Default 300,000 (5 minutes).
   */
  maxAgeMs?: number;
}

/** Counters of a {@link KeyCache}. */
export interface KeyCacheStats {
  /** Lookups answered from the cache. */
  hits: number;
  /** Lookups not answered from the cache (absent or expired). */
  misses: number;
  /** Loader invocations (each a store read and, usually, one KMS call). */
  loads: number;
  /** Lookups that joined a load already in flight (single-flight). */
  coalesced: number;
  /** Entries removed for capacity or age. */
  evictions: number;
  /** Entries currently held. */
  size: number;
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/** Default capacity. */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Default maximum age. */
export const DEFAULT_MAX_AGE_MS = 5 * 60_000;

/**
 * LRU + max-age + single-flight cache.
 *
 * @example
 * ```ts
 * const cache = new KeyCache<Uint8Array>({ maxEntries: 1000, maxAgeMs: 60_000 }, (k) => k.fill(0));
 * const key = await cache.getOrLoad('conv-1#1', async () => unwrap());
 * ```
 */
export class KeyCache<V> {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly #map = new Map<string, Entry<V>>();
  readonly #inflight = new Map<string, Promise<V>>();
  readonly #dispose: (value: V) => void;
  readonly #now: () => number;
  #stats = { hits: 0, misses: 0, loads: 0, coalesced: 0, evictions: 0 };

  /**
   * @param options capacity and age bounds
   * @param dispose called once for every value that leaves the cache (wipe keys here)
   * @param now clock in milliseconds (tests inject one)
   */
  constructor(options?: KeyCacheOptions, dispose: (value: V) => void = () => {}, now: () => number = Date.now) {
    assertOptions('cache', options, ['maxEntries', 'maxAgeMs']);
    const maxEntries = options?.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const maxAgeMs = options?.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    assertInt('cache.maxEntries', maxEntries, 1, 2 ** 30);
    assertInt('cache.maxAgeMs', maxAgeMs, 0, 2 ** 40);
    this.maxEntries = maxEntries;
    this.maxAgeMs = maxAgeMs;
    this.#dispose = dispose;
    this.#now = now;
  }

  /** The live value for `key`, marking it most recently used; undefined if absent or expired. */
  get(key: string): V | undefined {
    const e = this.#map.get(key);
    if (e === undefined) {
      this.#stats.misses++;
      return undefined;
    }
    if (e.expiresAt <= this.#now()) {
      this.#remove(key, e, true);
      this.#stats.misses++;
      return undefined;
    }
    // Map iteration order is insertion order: re-inserting makes this the most recent.
    this.#map.delete(key);
    this.#map.set(key, e);
    this.#stats.hits++;
    return e.value;
  }

  /** Like get, but neither counts nor reorders: for re-checks on slow paths. */
  peek(key: string): V | undefined {
    const e = this.#map.get(key);
    return e !== undefined && e.expiresAt > this.#now() ? e.value : undefined;
  }

  /**
   * The cached value, or the result of `loader`, which is then cached. Concurrent calls for a
   * key that is loading share the one load. A loader that rejects caches nothing.
   */
  getOrLoad(key: string, loader: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    return this.load(key, loader);
  }

  /** Like getOrLoad without the lookup: joins an in-flight load or starts one. */
  load(key: string, loader: () => Promise<V>): Promise<V> {
    const pending = this.#inflight.get(key);
    if (pending) {
      this.#stats.coalesced++;
      return pending;
    }
    this.#stats.loads++;
    // A loader that throws synchronously settles before `p` is registered: `done` keeps a
    // settled promise out of the in-flight map, where it would poison the key for good.
    let done = false;
    const p = (async () => {
      try {
        const value = await loader();
        this.set(key, value);
        return value;
      } finally {
        done = true;
        this.#inflight.delete(key);
      }
    })();
    if (!done) this.#inflight.set(key, p);
    return p;
  }

  /** Inserts or replaces a value, evicting the least recently used beyond capacity. */
  set(key: string, value: V): void {
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#map.delete(key);
      if (old.value !== value) this.#dispose(old.value);
    }
    this.#map.set(key, { value, expiresAt: this.#now() + this.maxAgeMs });
    while (this.#map.size > this.maxEntries) {
      const oldest = this.#map.keys().next().value as string;
      this.#remove(oldest, this.#map.get(oldest)!, true);
    }
  }

  /** Removes one entry (disposing its value). */
  delete(key: string): boolean {
    const e = this.#map.get(key);
    if (e === undefined) return false;
    this.#remove(key, e, false);
    return true;
  }

  /** Removes every entry whose key starts with `prefix` (e.g. one partition or one conversation). */
  deletePrefix(prefix: string): number {
    let n = 0;
    for (const [k, e] of this.#map) {
      if (k.startsWith(prefix)) {
        this.#remove(k, e, false);
        n++;
      }
    }
    return n;
  }

  /** Removes and disposes every entry. */
  clear(): void {
    for (const [k, e] of this.#map) this.#remove(k, e, false);
  }

  /** A snapshot of the counters. */
  stats(): KeyCacheStats {
    return { ...this.#stats, size: this.#map.size };
  }

  #remove(key: string, e: Entry<V>, evicted: boolean): void {
    this.#map.delete(key);
    if (evicted) this.#stats.evictions++;
    this.#dispose(e.value);
  }
}
