/**
 * The data-key cache: unwrapped conversation keys, bounded by entry count (LRU by conversation)
 * and by age, loaded single-flight (a burst of concurrent misses for one key runs one loader,
 * hence one KMS call), wiped when they leave, and partitioned so instances with different
 * master keys or stores never see each other's keys.
 *
 * Memory is the constraint at scale (1M keys): a key version is one small fixed-shape object
 * ({@link CachedKey}) plus 32 bytes in a {@link KeySlab}; the conversation id is the Map key.
 * No per-key typed arrays, strings or promises (measured by `npm run bench`, memory section).
 */
import type { SuiteInfo } from '../format/suites.js';
import { InvalidInputError, StoreError } from '../errors.js';
import { assertInt, ownOptions } from '../util/validate.js';
import { KeySlab } from './slab.js';

/** Runs of one load that shreds of its conversation may overlap before it gives up (retryable). */
const MAX_STALE_RUNS = 8;

/** @internal Thrown by a loader whose key a shred made stale: {@link CachePartition.load} runs it again. */
export class StaleLoad extends Error {}

/** Options of {@link KeyCache}. */
export interface KeyCacheOptions {
  /** Most key versions held; whole conversations are evicted least recently used first. Default 10,000. */
  maxEntries?: number;
  /**
   * Most milliseconds a key (and the knowledge of which version is active) is used after it
   * was loaded; then it is re-read from the key store and unwrapped again. Bounds how long a
   * rotation on another instance takes to reach this one. Default 300,000 (5 minutes).
   * Ages are kept in whole seconds, rounded so that entries expire early, never late.
   */
  maxAgeMs?: number;
}

/** Counters of a {@link KeyCache}. */
export interface KeyCacheStats {
  /** Lookups answered from the cache. */
  hits: number;
  /** Lookups not answered from the cache (absent or expired). */
  misses: number;
  /** Loads started (each a key store read and, usually, one KMS call). */
  loads: number;
  /** Lookups that joined a load already in flight (single-flight). */
  coalesced: number;
  /** Key versions removed for capacity or age. */
  evictions: number;
  /** Key versions currently held. */
  size: number;
}

/** Default capacity. */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** Default maximum age. */
export const DEFAULT_MAX_AGE_MS = 5 * 60_000;

/** @internal How long a key whose load outlasted the max age stays usable after it arrives (see KeyCache._loadedAt). */
export const LOAD_GRACE_MS = 1000;

/** One cached key version of one conversation. Eight fields and no buffers, by design. */
export class CachedKey {
  constructor(
    /** Key version. */
    public version: number,
    /** Suite the key seals and opens with. */
    public suite: SuiteInfo,
    /** Slab slot of the key bytes; -1 once wiped. */
    public slot: number,
    /** Load time, whole seconds since the cache's epoch (rounded down). */
    public loadedAt: number,
    /** Seals this process may still make under it; -1 when the suite needs no count. */
    public remaining: number,
    /** Whether it was the conversation's active version when loaded. */
    public active: boolean,
    /** Other cached versions of the same conversation. */
    public next: CachedKey | undefined,
    /** When the rotation policy wants it replaced (ms since 1970; Infinity for never): checked on seal. */
    public rotateAt: number,
  ) {}

  /**
   * Set when a shred removed it (forget): a holder that pinned it across awaits (decryptMany)
   * must not open anything with it afterwards, though its bytes live until unpinned (outside
   * review, 2026-12-02: a page returned plaintext of a version whose shred had completed).
   */
  revoked = false;
}

/** Marks a key a shred removed: nothing opens or seals with it any more (see CachedKey.revoked). */
function revoke(k: CachedKey): CachedKey {
  k.revoked = true;
  k.remaining = 0;
  return k;
}

/**
 * The cache. Create one per process (or let each Keywarden make its own) and pass it as the
 * `cache` option to share it.
 *
 * @example
 * ```ts
 * const cache = new KeyCache({ maxEntries: 100_000, maxAgeMs: 300_000 });
 * const a = new Keywarden({ masterKey: keyA, keyStore, cache });
 * const b = new Keywarden({ masterKey: keyB, keyStore, cache });
 * cache.stats(); // { hits, misses, loads, coalesced, evictions, size }
 * ```
 */
export class KeyCache {
  /**
   * A KeyCache of any copy of keywarden says so (ESM and CommonJS builds both loaded, or two
   * versions): another copy's cannot be shared here, and must be refused rather than read as an
   * options object (see {@link isForeignKeyCache}).
   * @internal
   */
  static readonly brand: unique symbol = Symbol.for('keywarden.KeyCache.v1') as never;
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly #slab = new KeySlab();
  readonly #parts = new Map<string, CachePartition>();
  readonly #inflight = new Map<string, Promise<unknown>>();
  readonly #pins = new Map<CachedKey, number>();
  readonly #doomed = new Set<CachedKey>();
  readonly #now: () => number;
  readonly #epoch: number;
  #size = 0;
  readonly #stats = { hits: 0, misses: 0, loads: 0, coalesced: 0, evictions: 0 };

  /**
   * @param now clock in milliseconds (tests inject one)
   * @param label @internal how the caller passed `options`, for error messages (Keywarden: `options.cache`)
   */
  constructor(options?: KeyCacheOptions, now: () => number = Date.now, label = 'options') {
    const o = ownOptions(label, options, ['maxEntries', 'maxAgeMs']);
    // `=== undefined`, not `??`: an explicit null is an error, not a request for the default.
    const maxEntries = o.maxEntries === undefined ? DEFAULT_MAX_ENTRIES : o.maxEntries;
    const maxAgeMs = o.maxAgeMs === undefined ? DEFAULT_MAX_AGE_MS : o.maxAgeMs;
    assertInt(`${label}.maxEntries`, maxEntries, 1, 2 ** 30);
    assertInt(`${label}.maxAgeMs`, maxAgeMs, 0, 2 ** 40);
    if (typeof now !== 'function') throw new InvalidInputError('now', 'expected a function returning milliseconds');
    this.maxEntries = maxEntries;
    this.maxAgeMs = maxAgeMs;
    this.#now = now;
    this.#epoch = now();
  }

  /**
   * Whether `value` is a KeyCache of this copy with its private state: `instanceof` alone also
   * answers true for a Proxy of one or an object made from its prototype, whose use then threw a
   * raw TypeError (review 7). @internal
   */
  static _owns(value: unknown): value is KeyCache {
    return typeof value === 'object' && value !== null && #parts in value;
  }

  /** @internal The partition for `id` (created on first use); Keywarden picks the id (docs: partitions). */
  partition(id: string): CachePartition {
    let p = this.#parts.get(id);
    if (p === undefined) {
      p = new CachePartition(this, id);
      this.#parts.set(id, p);
    }
    return p;
  }

  /** A snapshot of the counters. */
  stats(): KeyCacheStats {
    return { ...this.#stats, size: this.#size };
  }

  /** Removes (and wipes) every key of every partition. */
  clear(): void {
    for (const p of this.#parts.values()) p.clear();
  }

  // ---- internals used by CachePartition ---------------------------------------------------

  /** @internal */ _nowSec(): number {
    return Math.floor((this.#now() - this.#epoch) / 1000);
  }
  /**
   * The load time to record for a key inserted now that was loaded `loadedAt` (whole seconds
   * since the epoch; default now): no later than now, and no earlier than keeps it fresh for a
   * moment (LOAD_GRACE_MS) — a load that outlasted `maxAgeMs` (a throttled KMS) would otherwise
   * arrive expired, be dropped by the next lookup before its caller used it, and an encrypt
   * racing decrypts could load for ever (outside review, 2026-12-01). @internal
   */
  _loadedAt(loadedMs: number | undefined, capMs = Infinity): number {
    const now = this.#now() - this.#epoch;
    let at = Math.min(now, loadedMs ?? now);
    // Only a load that itself outlasted the max age, and never past what `capMs` (the wrapping
    // key's age) allows (outside review, 2026-12-01: the grace applied to any load that ended
    // near the bound, and outlived the branch key).
    if (loadedMs !== undefined && now - loadedMs >= this.maxAgeMs) {
      const grace = Math.min(LOAD_GRACE_MS, this.maxAgeMs);
      at = Math.max(at, (Math.floor((now + grace - this.maxAgeMs) / 1000) + 1) * 1000);
    }
    return Math.floor(Math.min(at, now, capMs) / 1000);
  }
  /** @internal Milliseconds since the cache's epoch. */ _nowMs(): number {
    return this.#now() - this.#epoch;
  }
  /** How long ago `k` was loaded (ms; its load time is kept in whole seconds, rounded down). @internal */
  ageMs(k: CachedKey): number {
    return Math.max(0, this.#now() - this.#epoch - k.loadedAt * 1000);
  }
  /** @internal */ _fresh(k: CachedKey): boolean {
    return this.#now() - this.#epoch - k.loadedAt * 1000 < this.maxAgeMs;
  }
  /** @internal */ _count(hit: boolean): void {
    if (hit) this.#stats.hits++;
    else this.#stats.misses++;
  }
  /** @internal */ _alloc(key: Uint8Array): number {
    this.#size++;
    return this.#slab.alloc(key);
  }
  /** @internal */ _view(k: CachedKey): Uint8Array {
    return this.#slab.view(k.slot);
  }
  /** @internal */ _drop(k: CachedKey, evicted: boolean): void {
    this.#size--;
    if (evicted) this.#stats.evictions++;
    if (this.#pins.has(k)) this.#doomed.add(k);
    else this.#wipe(k);
  }
  #wipe(k: CachedKey): void {
    if (k.slot >= 0) this.#slab.release(k.slot);
    k.slot = -1;
    k.remaining = 0;
  }
  /** @internal */ _evict(inserting: CachePartition, keep: string): void {
    // The inserting partition gives up its least recently used conversation first; when it
    // has nothing else to give (only the key just inserted), the other partitions do.
    while (this.#size > this.maxEntries) {
      if (inserting._evictOldest(keep)) continue;
      let evicted = false;
      for (const p of this.#parts.values()) {
        if (p !== inserting && p._evictOldest(undefined)) {
          evicted = true;
          break;
        }
      }
      if (!evicted) return;
    }
  }
  /** @internal */ _load<T>(key: string, loader: () => Promise<T>): Promise<T> {
    const pending = this.#inflight.get(key);
    if (pending !== undefined) {
      this.#stats.coalesced++;
      return pending as Promise<T>;
    }
    this.#stats.loads++;
    // A loader that throws synchronously settles before `p` is registered: `done` keeps a
    // settled promise out of the in-flight map, where it would poison the key for good.
    let done = false;
    const p = (async () => {
      try {
        return await loader();
      } finally {
        done = true;
        this.#inflight.delete(key);
      }
    })();
    if (!done) this.#inflight.set(key, p);
    return p;
  }
  /** @internal */ _pin(k: CachedKey): void {
    this.#pins.set(k, (this.#pins.get(k) ?? 0) + 1);
  }
  /** @internal */ _unpin(k: CachedKey): void {
    const n = (this.#pins.get(k) ?? 1) - 1;
    if (n > 0) return void this.#pins.set(k, n);
    this.#pins.delete(k);
    if (this.#doomed.delete(k)) this.#wipe(k);
  }
}

Object.defineProperty(KeyCache.prototype, KeyCache.brand, { value: true });

/**
 * True for a KeyCache of another copy of keywarden: it holds its keys in private fields this copy
 * cannot reach, so it cannot be shared with this copy's instances (outside review, 2026-12-02: it
 * was silently read as `{ maxEntries, maxAgeMs }` and each instance got a private cache).
 * @internal
 */
export function isForeignKeyCache(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !(value instanceof KeyCache) && (value as Record<symbol, unknown>)[KeyCache.brand] === true;
}

/** One partition's view of a {@link KeyCache}: conversations map to chains of key versions. */
export class CachePartition {
  readonly id: string;
  readonly #cache: KeyCache;
  /** conversation id → its cached versions (head first); Map order is LRU order. */
  readonly #map = new Map<string, CachedKey>();
  /** The conversation touched last: already at the most recent end of #map. */
  #mru: string | undefined;
  /** @internal */ _size = 0;
  /** Keywarden instances using this partition (see retain/release). */
  #users = 0;
  /**
   * Shred fencing (see {@link CachePartition.begin}). `#gen` counts forgets and clears;
   * `#forgotAt` holds, per conversation, the count at its last forget while a reader that began
   * before it may still be in flight; `#readers` counts readers by the count they began at (in
   * ascending order: the count never decreases).
   */
  #gen = 0;
  #clearedAt = -1;
  readonly #forgotAt = new Map<string, number>();
  readonly #readers = new Map<number, number>();
  /**
   * When each reader began (milliseconds since the cache's epoch): its key is cached as loaded
   * then, not when its unwrap finished, so `maxAgeMs` bounds how long this instance may use
   * what that read saw (outside review, 2026-12-01: a two-minute unwrap kept a key shredded
   * elsewhere usable for maxAgeMs plus two minutes, past retention's margin).
   */
  readonly #beganAt = new Map<number, number>();
  /**
   * The same fence for the active mark: per conversation, the count at its last change of active
   * version here (an active insert, a deactivate) while a reader that began before it may still
   * be in flight; `#deactivatedAllAt` for deactivateAll. A reader whose stamp is older caches its
   * key as inactive: it read which version was active before that changed (outside review,
   * 2026-12-01: a load of version 1 that finished after a rotation made version 1 active again).
   */
  readonly #activeChangedAt = new Map<string, number>();
  #deactivatedAllAt = -1;

  constructor(cache: KeyCache, id: string) {
    this.#cache = cache;
    this.id = id;
  }

  /** The active version's key if cached and fresh (counts a hit or miss; refreshes recency). */
  active(conversationId: string): CachedKey | undefined {
    const head = this.#map.get(conversationId);
    const k = this.#activeIn(head);
    this.#cache._count(k !== undefined);
    if (k !== undefined) this.#touch(conversationId, head!);
    return k;
  }

  #activeIn(head: CachedKey | undefined): CachedKey | undefined {
    // Usually the head; after a decrypt of an older version, further down the (short) chain.
    for (let k = head; k !== undefined; k = k.next) if (k.active) return this.#cache._fresh(k) ? k : undefined;
    return undefined;
  }

  /** One version's key if cached and fresh (counts a hit or miss; refreshes recency). */
  version(conversationId: string, version: number): CachedKey | undefined {
    const k = this.peekVersion(conversationId, version);
    this.#cache._count(k !== undefined);
    if (k !== undefined) this.#touch(conversationId, this.#map.get(conversationId)!);
    return k;
  }

  /** Like {@link CachePartition.active} without counting or reordering. */
  peekActive(conversationId: string): CachedKey | undefined {
    return this.#activeIn(this.#map.get(conversationId));
  }

  /** Like {@link CachePartition.version} without counting or reordering; drops an expired match. */
  peekVersion(conversationId: string, version: number): CachedKey | undefined {
    for (let k = this.#map.get(conversationId); k !== undefined; k = k.next) {
      if (k.version !== version) continue;
      if (this.#cache._fresh(k)) return k;
      this.#unlink(conversationId, k, true);
      return undefined;
    }
    return undefined;
  }

  /**
   * Caches a key version (copying `key`, which the caller then wipes) at the head of its
   * conversation, replacing a cached copy of the same version. With `active`, it becomes the
   * version new messages use and older versions lose that mark. `rotateAt` (ms since 1970) is
   * when sealing should rotate away from it (the rotation policy; default never).
   */
  insert(conversationId: string, version: number, suite: SuiteInfo, key: Uint8Array, remaining: number, active: boolean, rotateAt = Infinity, loadedAtMs?: number, loadedCapMs?: number): CachedKey {
    let head = this.#map.get(conversationId);
    for (let k = head; k !== undefined; k = k.next) {
      if (k.version === version) {
        this.#unlink(conversationId, k, false);
        head = this.#map.get(conversationId);
        break;
      }
    }
    if (active) {
      // The active version is the newest: an older one never takes the mark from a newer one.
      for (let k = head; k !== undefined; k = k.next) if (k.version > version) active = false;
    }
    if (active) {
      for (let k = head; k !== undefined; k = k.next) k.active = false;
      this.#activeChanged(conversationId);
    }
    const node = new CachedKey(version, suite, this.#cache._alloc(key), this.#cache._loadedAt(loadedAtMs, loadedCapMs), remaining, active, head, rotateAt);
    this.#map.delete(conversationId);
    this.#map.set(conversationId, node);
    this.#mru = conversationId;
    this._size++;
    this.#cache._evict(this, conversationId);
    return node;
  }

  /** Forgets which version is active (its keys stay cached for decryption). */
  deactivate(conversationId: string): void {
    for (let k = this.#map.get(conversationId); k !== undefined; k = k.next) k.active = false;
    this.#activeChanged(conversationId);
  }

  /** Marks a change of `conversationId`'s active version for the readers in flight (see #activeChangedAt). */
  #activeChanged(conversationId: string): void {
    this.#gen++;
    if (this.#readers.size > 0) this.#activeChangedAt.set(conversationId, this.#gen);
  }

  /**
   * Removes and wipes every cached version of a conversation, or only `version` (a shred). Keys
   * pinned by a decryptMany in progress are wiped when it unpins them.
   */
  forget(conversationId: string, version?: number): void {
    // Readers of this conversation under way may have read the store before the shred: their
    // keys must not be cached (see begin).
    this.#gen++;
    if (this.#readers.size > 0) this.#forgotAt.set(conversationId, this.#gen);
    if (version === undefined) return this.#drop(conversationId);
    for (let k = this.#map.get(conversationId); k !== undefined; k = k.next) {
      if (k.version === version) return this.#unlink(conversationId, revoke(k), false);
    }
  }

  /** Removes and wipes every cached version of a conversation. */
  #drop(conversationId: string): void {
    const head = this.#map.get(conversationId);
    if (head === undefined) return;
    this.#map.delete(conversationId);
    if (this.#mru === conversationId) this.#mru = undefined;
    for (let k: CachedKey | undefined = head; k !== undefined; k = k.next) this.#dropNode(revoke(k), false);
  }

  /** Forgets which version is active for every conversation (change notifications were missed). */
  deactivateAll(): void {
    for (const head of this.#map.values()) for (let k: CachedKey | undefined = head; k !== undefined; k = k.next) k.active = false;
    this.#deactivatedAllAt = ++this.#gen;
  }

  /** Whether `k` is still within `maxAgeMs` of its load (what a lookup checks; for a key held across awaits). */
  fresh(k: CachedKey): boolean {
    return this.#cache._fresh(k);
  }

  /** How long ago `k` was loaded (ms). */
  ageMs(k: CachedKey): number {
    return this.#cache.ageMs(k);
  }

  /** The key bytes of a live entry (a view into the slab: use it synchronously). */
  key(k: CachedKey): Uint8Array {
    return this.#cache._view(k);
  }

  /**
   * Starts a read of the key store whose key may be cached: returns a stamp for
   * {@link CachePartition.insertUnlessStale}, and {@link CachePartition.end} must follow. A
   * {@link CachePartition.forget} (a shred, here or heard from another instance) or `clear` after
   * `begin` makes the stamp stale for that conversation: the key read before it is never cached
   * (found by an outside review: a load that read the store before a shred committed put the
   * shredded key back into the cache, even on the instance that shredded it).
   */
  begin(): number {
    // A stamp of its own per reader (the count moves on): it also keys the reader's start time.
    const g = ++this.#gen;
    this.#readers.set(g, (this.#readers.get(g) ?? 0) + 1);
    this.#beganAt.set(g, this.#cache._nowMs());
    return g;
  }

  /** Ends a read started with {@link CachePartition.begin}. */
  end(stamp: number): void {
    const n = (this.#readers.get(stamp) ?? 1) - 1;
    if (n > 0) this.#readers.set(stamp, n);
    else {
      this.#readers.delete(stamp);
      this.#beganAt.delete(stamp);
    }
    if (this.#forgotAt.size === 0 && this.#activeChangedAt.size === 0) return;
    if (this.#readers.size === 0) {
      this.#forgotAt.clear();
      this.#activeChangedAt.clear();
      return;
    }
    const oldest = this.#readers.keys().next().value!;
    for (const [c, g] of this.#forgotAt) if (g <= oldest) this.#forgotAt.delete(c);
    for (const [c, g] of this.#activeChangedAt) if (g <= oldest) this.#activeChangedAt.delete(c);
  }

  /** Whether a forget of `conversationId`, or a clear, came after `stamp` was taken. */
  stale(conversationId: string, stamp: number): boolean {
    return this.#clearedAt > stamp || (this.#forgotAt.get(conversationId) ?? -1) > stamp;
  }

  /**
   * {@link CachePartition.insert} unless `stamp` is {@link CachePartition.stale} for the
   * conversation: then nothing is cached and undefined is returned (the caller wipes `key`, as
   * after an insert).
   */
  insertUnlessStale(stamp: number, conversationId: string, version: number, suite: SuiteInfo, key: Uint8Array, remaining: number, active: boolean, rotateAt = Infinity, olderByMs = 0): CachedKey | undefined {
    if (this.stale(conversationId, stamp)) return undefined;
    // Read as active before the active version changed here: cached for decryption only —
    // unless that change made this very version active (a first use racing another: no reload).
    let demoted = active && (this.#deactivatedAllAt > stamp || (this.#activeChangedAt.get(conversationId) ?? -1) > stamp);
    if (demoted) for (let k = this.#map.get(conversationId); k !== undefined; k = k.next) if (k.version === version && k.active) demoted = false;
    // Loaded no later than its read began, nor than the key that wrapped it (olderByMs ago).
    const wrapped = olderByMs > 0 ? this.#cache._nowMs() - olderByMs : Infinity;
    return this.insert(conversationId, version, suite, key, remaining, active && !demoted, rotateAt, this.#beganAt.get(stamp), wrapped);
  }

  /**
   * Runs `loader` once for concurrent callers with the same `tag` of a conversation
   * (single-flight), with a stamp from {@link CachePartition.begin}. A loader that finds its stamp
   * stale throws {@link StaleLoad}: the load runs again, reading the shred (ERR_KEY_SHREDDED);
   * after 8 such runs it gives up with a retryable ERR_STORE_FAILED.
   */
  load<T>(tag: string, conversationId: string, loader: (stamp: number) => Promise<T>): Promise<T> {
    const attempt = (run: number): Promise<T> => {
      const stamp = this.begin();
      let p: Promise<T>;
      try {
        p = loader(stamp); // a synchronous throw stays synchronous: see KeyCache._load
      } catch (err) {
        this.end(stamp);
        throw err;
      }
      return p.then(
        (out) => {
          this.end(stamp);
          return out;
        },
        (err: unknown) => {
          this.end(stamp);
          if (!(err instanceof StaleLoad)) throw err;
          // Shreds are rare: a load overlapped by one after another is an outage, and retryable.
          if (run >= MAX_STALE_RUNS) throw new StoreError('key load overlapped by shreds of its conversation; retry', undefined, true);
          return attempt(run + 1);
        },
      );
    };
    return this.#cache._load(`${this.id}\u0000${tag}:${conversationId}`, () => attempt(1));
  }

  /** Keeps a key's bytes alive across awaits even if it is evicted meanwhile; pair with unpin. */
  pin(k: CachedKey): void {
    this.#cache._pin(k);
  }
  unpin(k: CachedKey): void {
    this.#cache._unpin(k);
  }

  /** Registers one more user (a Keywarden instance). */
  retain(): void {
    this.#users++;
  }

  /** Unregisters a user; the last one out wipes the partition. Loads that finish later cache nothing. */
  release(): void {
    if (this.#users > 0 && --this.#users === 0) this.clear();
  }

  /** True when no user holds the partition: a finished load must wipe its key instead of caching it. */
  get closed(): boolean {
    return this.#users === 0;
  }

  /**
   * Removes and wipes every key of this partition. With `revoked` (a branch shred took them) the
   * keys are marked as a shred's (forget): a key a decryptMany holds pinned opens nothing more
   * (review 6: after a branch shred a page went on opening with its pinned conversation key).
   */
  clear(revoked = false): void {
    this.#clearedAt = ++this.#gen;
    for (const [conv, head] of this.#map) {
      for (let k: CachedKey | undefined = head; k !== undefined; k = k.next) this.#dropNode(revoked ? revoke(k) : k, false);
      this.#map.delete(conv);
    }
  }

  /** @internal Evicts the least recently used conversation (or, if that is `keep`, its older versions). */
  _evictOldest(keep: string | undefined): boolean {
    const first = this.#map.entries().next();
    if (first.done) return false;
    const [conv, head] = first.value;
    if (conv === keep) {
      // Never evict the key just inserted: trim its conversation's older versions instead.
      if (head.next === undefined) return false;
      for (let k: CachedKey | undefined = head.next; k !== undefined; k = k.next) this.#dropNode(k, true);
      head.next = undefined;
      return true;
    }
    this.#map.delete(conv);
    for (let k: CachedKey | undefined = head; k !== undefined; k = k.next) this.#dropNode(k, true);
    return true;
  }

  #touch(conversationId: string, head: CachedKey): void {
    // Map iteration order is insertion order: re-inserting makes this the most recent. A run
    // of hits on one conversation (a busy chat) skips the two hash operations.
    if (conversationId === this.#mru) return;
    this.#mru = conversationId;
    this.#map.delete(conversationId);
    this.#map.set(conversationId, head);
  }

  #unlink(conversationId: string, node: CachedKey, expired: boolean): void {
    const head = this.#map.get(conversationId);
    if (head === node) {
      if (node.next === undefined) this.#map.delete(conversationId);
      else this.#map.set(conversationId, node.next);
    } else {
      for (let k = head; k !== undefined; k = k.next) {
        if (k.next === node) {
          k.next = node.next;
          break;
        }
      }
    }
    node.next = undefined;
    this.#dropNode(node, expired);
  }

  #dropNode(k: CachedKey, evicted: boolean): void {
    this._size--;
    this.#cache._drop(k, evicted);
  }
}
