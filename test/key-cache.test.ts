// Unit tests of the compact data-key cache (src/cache/key-cache.ts, src/cache/slab.ts):
// LRU by conversation, partitions, maximum age with an injected clock, wiping (observed through
// the slab views that `partition.key(k)` returns), pinning, single-flight loads, exact counters,
// slot reuse, option validation, and a model-based test against a small reference model.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type CachedKey, type CachePartition, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_ENTRIES, KeyCache, type KeyCacheStats, StaleLoad } from '../src/cache/key-cache.js';
import { InvalidInputError } from '../src/errors.js';
import { SUITES, SuiteId } from '../src/format/suites.js';

const GCM = SUITES[SuiteId.AES_256_GCM];
const XCHACHA = SUITES[SuiteId.XCHACHA20_POLY1305];

/** 32 key bytes, unique per `n` and never all zero. */
function keyBytes(n: number): Uint8Array {
  const b = new Uint8Array(32).fill(0xa5);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
const isZero = (b: Uint8Array) => b.every((x) => x === 0);
const stats0: KeyCacheStats = { hits: 0, misses: 0, loads: 0, coalesced: 0, evictions: 0, size: 0 };

/** A cache over a manual clock. The epoch (clock at construction) is deliberately not a whole second. */
function setup(options: { maxEntries?: number; maxAgeMs?: number } = {}) {
  const clock = { t: 1_700_000_000_123 };
  const epoch = clock.t;
  const cache = new KeyCache(options, () => clock.t);
  return { cache, clock, epoch };
}

/** An inserted key plus what the test needs to observe it later. */
interface Held {
  k: CachedKey;
  view: Uint8Array;
  bytes: Uint8Array;
  slot: number;
}
let serial = 0;
/** Inserts a fresh key and keeps its slab view. */
function put(part: CachePartition, conv: string, version: number, active = true, remaining = -1): Held {
  const bytes = keyBytes(++serial);
  const input = bytes.slice();
  const k = part.insert(conv, version, GCM, input, remaining, active);
  const view = part.key(k);
  return { k, view, bytes, slot: k.slot };
}
/** Live: slot kept and the slab still holds the key's bytes. */
function expectLive(h: Held) {
  expect(h.k.slot).toBe(h.slot);
  expect(h.view).toEqual(h.bytes);
}
/** Wiped: slot released and (no insert having happened since) the slab bytes zeroed. */
function expectWiped(h: Held) {
  expect(h.k.slot).toBe(-1);
  expect(isZero(h.view)).toBe(true);
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('KeyCache options', () => {
  it('defaults', () => {
    const c = new KeyCache();
    expect(c.maxEntries).toBe(DEFAULT_MAX_ENTRIES);
    expect(c.maxAgeMs).toBe(DEFAULT_MAX_AGE_MS);
    expect(DEFAULT_MAX_ENTRIES).toBe(10_000);
    expect(DEFAULT_MAX_AGE_MS).toBe(300_000);
    expect(c.stats()).toEqual(stats0);
  });

  it('accepts the bounds of each range', () => {
    const low = new KeyCache({ maxEntries: 1, maxAgeMs: 0 });
    expect([low.maxEntries, low.maxAgeMs]).toEqual([1, 0]);
    const high = new KeyCache({ maxEntries: 2 ** 30, maxAgeMs: 2 ** 40 });
    expect([high.maxEntries, high.maxAgeMs]).toEqual([2 ** 30, 2 ** 40]);
  });

  const bad: [string, unknown, string][] = [
    ['maxEntries', 0, 'options.maxEntries'],
    ['maxEntries', -1, 'options.maxEntries'],
    ['maxEntries', 1.5, 'options.maxEntries'],
    ['maxEntries', NaN, 'options.maxEntries'],
    ['maxEntries', Infinity, 'options.maxEntries'],
    ['maxEntries', 2 ** 30 + 1, 'options.maxEntries'],
    ['maxEntries', '10', 'options.maxEntries'],
    ['maxEntries', null, 'options.maxEntries'],
    ['maxAgeMs', -1, 'options.maxAgeMs'],
    ['maxAgeMs', 0.5, 'options.maxAgeMs'],
    ['maxAgeMs', 2 ** 40 + 1, 'options.maxAgeMs'],
    ['maxAgeMs', '1000', 'options.maxAgeMs'],
    ['maxAgeMs', null, 'options.maxAgeMs'],
    ['foo', 1, 'options.foo'],
    ['maxentries', 10, 'options.maxentries'],
  ];
  it.each(bad)('rejects %s = %s with ERR_INVALID_INPUT and param %s', (key, value, param) => {
    let err: unknown;
    try {
      new KeyCache({ [key]: value } as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param });
  });

  it.each([null, 5, 'big', [1]])('rejects options that are not an object (%s) with param options', (options) => {
    expect(() => new KeyCache(options as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'options' }));
  });

  it('rejects a clock that is not a function', () => {
    expect(() => new KeyCache({}, 5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'now' }));
  });
});

describe('insert and lookups', () => {
  it('insert copies the key into the slab; the CachedKey describes it; key() is a view of the copy', () => {
    const { cache, clock, epoch } = setup();
    const part = cache.partition('p');
    clock.t = epoch + 2_500;
    const input = keyBytes(7);
    const k = part.insert('a', 3, XCHACHA, input, 17, true);
    expect(k).toMatchObject({ version: 3, suite: XCHACHA, loadedAt: 2, remaining: 17, active: true, next: undefined });
    expect(k.slot).toBeGreaterThanOrEqual(0);
    input.fill(0); // the caller wipes its buffer: the cached copy is unaffected
    const view = part.key(k);
    expect(view).toEqual(keyBytes(7));
    expect(part.key(k)).toEqual(view);
    expect(cache.stats()).toEqual({ ...stats0, size: 1 });
  });

  it('versions of a conversation chain newest insert first; an active insert clears the others’ flag', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const v1 = put(part, 'a', 1);
    const v2 = put(part, 'a', 2);
    expect(v2.k.next).toBe(v1.k);
    expect([v1.k.active, v2.k.active]).toEqual([false, true]);
    expect(part.peekActive('a')).toBe(v2.k);
    expect(part.peekVersion('a', 1)).toBe(v1.k);
    expect(part.peekVersion('a', 2)).toBe(v2.k);
    expect(part.peekVersion('a', 3)).toBeUndefined();
    expect(part.peekVersion('b', 1)).toBeUndefined();
    // An inactive insert leaves the active flag where it is.
    const v3 = put(part, 'a', 3, false);
    expect([v1.k.active, v2.k.active, v3.k.active]).toEqual([false, true, false]);
    expect(v3.k.next).toBe(v2.k);
    expect(cache.stats()).toEqual({ ...stats0, size: 3 });
    for (const h of [v1, v2, v3]) expectLive(h);
  });

  it('active() finds the active version when an older version was inserted after it (e.g. by a decrypt)', () => {
    // Keywarden inserts a version loaded for decryption with active = false, at the head of the
    // chain. The active version is still cached and fresh, so active() must return it.
    const { cache } = setup();
    const part = cache.partition('p');
    const v2 = put(part, 'a', 2, true);
    put(part, 'a', 1, false);
    expect(part.peekActive('a')).toBe(v2.k);
    expect(part.active('a')).toBe(v2.k);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 0 });
  });

  it('inserting a cached version again replaces it: the old copy is wiped, the size is unchanged, no eviction counted', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const v1 = put(part, 'a', 1);
    const v2 = put(part, 'a', 2);
    const again = put(part, 'a', 1, false);
    // The old copy's slot is zeroed and released before the new copy is allocated, so the new
    // copy takes that very slot: the old view now shows the replacement, never the old bytes.
    expect(v1.k.slot).toBe(-1);
    expect(again.slot).toBe(v1.slot);
    expect(v1.view).toEqual(again.bytes);
    expect(v1.view).not.toEqual(v1.bytes);
    expectLive(v2);
    expectLive(again);
    expect(part.peekVersion('a', 1)).toBe(again.k);
    expect(again.k.next).toBe(v2.k); // one copy per version in the chain
    expect(v2.k.next).toBeUndefined();
    expect(cache.stats()).toEqual({ ...stats0, size: 2 });
    // Replacing the head itself works too. Asked to be active, the older version is cached
    // inactive: it never takes the mark from version 2 (a load that read it before a rotation).
    const again2 = put(part, 'a', 1, true);
    expect(again.k.slot).toBe(-1);
    expect(again.view).toEqual(again2.bytes);
    expect(again.view).not.toEqual(again.bytes);
    expect(again2.k.next).toBe(v2.k);
    expect(again2.k.active).toBe(false);
    expect(v2.k.active).toBe(true);
    expect(part.peekActive('a')).toBe(v2.k);
    expect(cache.stats()).toEqual({ ...stats0, size: 2 });
  });

  it('a reader that began before the active version changed caches its key inactive, unless that change made its own version active', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    put(part, 'a', 1);
    // A load reads version 1 as active; meanwhile the instance hears of a rotation.
    let stamp = part.begin();
    part.deactivate('a');
    let k = part.insertUnlessStale(stamp, 'a', 1, GCM, keyBytes(++serial), -1, true)!;
    part.end(stamp);
    expect(k.active).toBe(false);
    expect(part.peekActive('a')).toBeUndefined();
    // deactivateAll fences every conversation the same way.
    stamp = part.begin();
    part.deactivateAll();
    k = part.insertUnlessStale(stamp, 'b', 1, GCM, keyBytes(++serial), -1, true)!;
    part.end(stamp);
    expect(k.active).toBe(false);
    // Two first uses racing: the other made version 1 active after this read began; this one
    // read the same version as active and keeps the mark (no reload, no second KMS call).
    stamp = part.begin();
    put(part, 'c', 1);
    k = part.insertUnlessStale(stamp, 'c', 1, GCM, keyBytes(++serial), -1, true)!;
    part.end(stamp);
    expect(k.active).toBe(true);
    expect(part.peekActive('c')).toBe(k);
    // A reader that began after the change is not affected.
    part.deactivate('a');
    stamp = part.begin();
    k = part.insertUnlessStale(stamp, 'a', 1, GCM, keyBytes(++serial), -1, true)!;
    part.end(stamp);
    expect(k.active).toBe(true);
  });

  it('deactivate: active() misses, the versions stay cached for version()', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const v1 = put(part, 'a', 1);
    part.deactivate('a');
    part.deactivate('nothing-here');
    expect(v1.k.active).toBe(false);
    expect(part.peekActive('a')).toBeUndefined();
    expect(part.active('a')).toBeUndefined();
    expect(part.version('a', 1)).toBe(v1.k);
    expect(cache.stats()).toEqual({ ...stats0, hits: 1, misses: 1, size: 1 });
    expectLive(v1);
  });

  it('stats() returns a snapshot', () => {
    const { cache } = setup();
    const s = cache.stats();
    cache.partition('p').active('x');
    expect(s.misses).toBe(0);
    expect(cache.stats().misses).toBe(1);
  });
});

describe('LRU by conversation', () => {
  it('active() and version() hits refresh recency', () => {
    const { cache } = setup({ maxEntries: 3 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    const b = put(part, 'b', 1);
    const c = put(part, 'c', 1);
    expect(part.active('a')).toBe(a.k); // order b, c, a
    const d = put(part, 'd', 1); // evicts b
    expectWiped(b);
    for (const h of [a, c, d]) expectLive(h);
    expect(part.version('c', 1)).toBe(c.k); // order a, d, c
    const e = put(part, 'e', 1); // evicts a
    expectWiped(a);
    for (const h of [c, d, e]) expectLive(h);
    expect(cache.stats()).toEqual({ hits: 2, misses: 0, loads: 0, coalesced: 0, evictions: 2, size: 3 });
  });

  it('peekActive, peekVersion and missed lookups do not refresh recency', () => {
    const { cache } = setup({ maxEntries: 2 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    const b = put(part, 'b', 1);
    expect(part.peekActive('a')).toBe(a.k);
    expect(part.peekVersion('a', 1)).toBe(a.k);
    expect(part.version('a', 2)).toBeUndefined(); // a miss on a cached conversation
    part.deactivate('a');
    expect(part.active('a')).toBeUndefined(); // a miss as well
    expect(cache.stats()).toEqual({ ...stats0, misses: 2, size: 2 });
    const c = put(part, 'c', 1); // a is still the least recently used
    expectWiped(a);
    expectLive(b);
    expectLive(c);
  });

  it('inserting a version refreshes its conversation', () => {
    const { cache } = setup({ maxEntries: 3 });
    const part = cache.partition('p');
    const a1 = put(part, 'a', 1);
    const b = put(part, 'b', 1);
    const a2 = put(part, 'a', 2); // order b, a
    const c = put(part, 'c', 1); // 4 > 3: evicts b
    expectWiped(b);
    for (const h of [a1, a2, c]) expectLive(h);
    expect(cache.stats()).toMatchObject({ evictions: 1, size: 3 });
  });

  it('eviction removes the least recently used conversation with all its versions', () => {
    const { cache } = setup({ maxEntries: 3 });
    const part = cache.partition('p');
    const a1 = put(part, 'a', 1);
    const a2 = put(part, 'a', 2);
    const b = put(part, 'b', 1);
    const c = put(part, 'c', 1); // 4 > 3: a goes, both of its versions
    expectWiped(a1);
    expectWiped(a2);
    expectLive(b);
    expectLive(c);
    expect(part.peekVersion('a', 1)).toBeUndefined();
    expect(part.peekVersion('a', 2)).toBeUndefined();
    expect(cache.stats()).toEqual({ ...stats0, evictions: 2, size: 2 });
  });

  it('never evicts the conversation just inserted: when it is the oldest, its older versions are trimmed', () => {
    const { cache } = setup({ maxEntries: 2 });
    const part = cache.partition('p');
    const v1 = put(part, 'a', 1);
    const v2 = put(part, 'a', 2);
    const v3 = put(part, 'a', 3); // 3 > 2, a is the only (so the oldest) conversation
    expectWiped(v1);
    expectWiped(v2);
    expectLive(v3);
    expect(v3.k.next).toBeUndefined();
    expect(part.peekActive('a')).toBe(v3.k);
    expect(cache.stats()).toEqual({ ...stats0, evictions: 2, size: 1 });
  });

  it('maxEntries 1: each insert keeps exactly the new key', () => {
    const { cache } = setup({ maxEntries: 1 });
    const part = cache.partition('p');
    const a1 = put(part, 'a', 1);
    const a2 = put(part, 'a', 2);
    expectWiped(a1);
    const b = put(part, 'b', 1);
    expectWiped(a2);
    expectLive(b);
    expect(cache.stats()).toEqual({ ...stats0, evictions: 2, size: 1 });
  });

  it('evicts other conversations before trimming the inserted one', () => {
    const { cache } = setup({ maxEntries: 3 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    const b1 = put(part, 'b', 1);
    const b2 = put(part, 'b', 2);
    const b3 = put(part, 'b', 3); // 4 > 3: a is the LRU conversation and goes; b keeps 3 versions
    expectWiped(a);
    for (const h of [b1, b2, b3]) expectLive(h);
    const b4 = put(part, 'b', 4); // 4 > 3 again: only b is left, its older versions are trimmed
    for (const h of [b1, b2, b3]) expectWiped(h);
    expectLive(b4);
    expect(cache.stats()).toEqual({ ...stats0, evictions: 4, size: 1 });
  });
});

describe('partitions', () => {
  it('the same conversation id in two partitions holds two different keys', () => {
    const { cache } = setup();
    const p = cache.partition('p');
    const q = cache.partition('q');
    expect(cache.partition('p')).toBe(p);
    expect(p.id).toBe('p');
    const inP = put(p, 'conv', 1);
    expect(q.active('conv')).toBeUndefined();
    expect(q.version('conv', 1)).toBeUndefined();
    expect(q.peekActive('conv')).toBeUndefined();
    const inQ = put(q, 'conv', 1);
    expect(inQ.k).not.toBe(inP.k);
    expect(p.active('conv')).toBe(inP.k);
    expect(q.active('conv')).toBe(inQ.k);
    expect(p.key(inP.k)).toEqual(inP.bytes);
    expect(q.key(inQ.k)).toEqual(inQ.bytes);
    expect(inP.bytes).not.toEqual(inQ.bytes);
    // Partition ids are compared exactly (no prefix matching).
    expect(cache.partition('p1').active('conv')).toBeUndefined();
    expect(cache.partition('').active('conv')).toBeUndefined();
    // clear() of one partition leaves the other alone.
    p.clear();
    expectWiped(inP);
    expectLive(inQ);
    expect(q.active('conv')).toBe(inQ.k);
    expect(cache.stats()).toEqual({ ...stats0, hits: 3, misses: 4, size: 1 });
  });

  it('maxEntries counts key versions across partitions; the inserting partition evicts first', () => {
    const { cache } = setup({ maxEntries: 3 });
    const p = cache.partition('p');
    const q = cache.partition('q');
    const pa = put(p, 'a', 1);
    const pb = put(p, 'b', 1);
    const qx = put(q, 'x', 1);
    const qy = put(q, 'y', 1); // 4 > 3: q evicts its own LRU conversation x, although p's a is older
    expectWiped(qx);
    for (const h of [pa, pb, qy]) expectLive(h);
    expect(cache.stats()).toEqual({ ...stats0, evictions: 1, size: 3 });
  });

  it('when the inserting partition holds only the new key, another partition gives up its LRU conversation', () => {
    const { cache } = setup({ maxEntries: 2 });
    const p = cache.partition('p');
    const q = cache.partition('q');
    const pa = put(p, 'a', 1);
    const pb = put(p, 'b', 1);
    const qx = put(q, 'x', 1); // 3 > 2: q cannot evict x (just inserted), so p's a must go
    expectLive(qx);
    expect(cache.stats().size).toBeLessThanOrEqual(2);
    expectWiped(pa);
    expectLive(pb);
    expect(cache.stats()).toEqual({ ...stats0, evictions: 1, size: 2 });
  });

  it('KeyCache.clear() wipes every partition; clearing counts no eviction', () => {
    const { cache } = setup();
    const p = cache.partition('p');
    const q = cache.partition('q');
    const held = [put(p, 'a', 1), put(p, 'a', 2), put(q, 'a', 1), put(q, 'b', 1)];
    cache.clear();
    for (const h of held) expectWiped(h);
    expect(cache.stats()).toEqual(stats0);
    expect(p.version('a', 1)).toBeUndefined();
    expect(q.active('b')).toBeUndefined();
    cache.clear(); // idempotent
    expect(cache.stats()).toEqual({ ...stats0, misses: 2 });
    // Still usable afterwards.
    const again = put(p, 'a', 1);
    expect(p.active('a')).toBe(again.k);
  });
});

describe('maximum age (injected clock)', () => {
  it('load times are whole seconds since the epoch, floored: loaded at epoch+1999 ms, maxAgeMs 1000, expired at epoch+2000', () => {
    const { cache, clock, epoch } = setup({ maxAgeMs: 1000 });
    const part = cache.partition('p');
    clock.t = epoch + 1999;
    const a = put(part, 'a', 1);
    expect(a.k.loadedAt).toBe(1);
    expect(part.peekActive('a')).toBe(a.k); // age counted from epoch+1000: 999 ms
    clock.t = epoch + 2000; // 1 ms after the load, but 1000 ms after the floored load time
    expect(part.peekActive('a')).toBeUndefined();
    expect(part.active('a')).toBeUndefined();
    expect(part.version('a', 1)).toBeUndefined(); // drops it
    expectWiped(a);
    expect(cache.stats()).toEqual({ ...stats0, misses: 2, evictions: 1, size: 0 });
  });

  it('never late: loaded on a whole second, a key is fresh until maxAgeMs and expired at maxAgeMs', () => {
    const { cache, clock, epoch } = setup({ maxAgeMs: 60_000 });
    const part = cache.partition('p');
    clock.t = epoch + 5_000;
    const a = put(part, 'a', 1);
    clock.t = epoch + 5_000 + 59_999;
    expect(part.active('a')).toBe(a.k); // a hit does not extend the age
    expect(part.version('a', 1)).toBe(a.k);
    clock.t = epoch + 5_000 + 60_000;
    expect(part.active('a')).toBeUndefined();
    expect(part.version('a', 1)).toBeUndefined();
    expectWiped(a);
    expect(cache.stats()).toEqual({ ...stats0, hits: 2, misses: 2, evictions: 1 });
  });

  it('freshness follows the floored load time exactly: never late, at most 1 s early', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 42 }), // epoch
        fc.integer({ min: 0, max: 10 ** 7 }), // load, ms after the epoch
        fc.integer({ min: 0, max: 10 ** 6 }), // maxAgeMs
        fc.integer({ min: 0, max: 2 * 10 ** 6 }), // lookup, ms after the load
        (epoch, x, maxAgeMs, d) => {
          const clock = { t: epoch };
          const cache = new KeyCache({ maxAgeMs }, () => clock.t);
          const part = cache.partition('p');
          clock.t = epoch + x;
          const k = part.insert('a', 1, GCM, keyBytes(1), -1, true);
          expect(k.loadedAt).toBe(Math.floor(x / 1000));
          clock.t = epoch + x + d;
          const fresh = part.peekVersion('a', 1) !== undefined;
          // Age is measured from the load time rounded down to a whole second.
          expect(fresh).toBe(d < maxAgeMs - (x % 1000));
          if (d >= maxAgeMs) expect(fresh).toBe(false); // never late
          if (d < maxAgeMs - 999) expect(fresh).toBe(true); // at most 1 s early
          expect(k.slot === -1).toBe(!fresh); // an expired match was dropped and wiped
        },
      ),
      { numRuns: 500 },
    );
  });

  it('maxAgeMs 0: every entry is already expired', () => {
    const { cache } = setup({ maxAgeMs: 0 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    expect(part.peekActive('a')).toBeUndefined();
    expect(part.active('a')).toBeUndefined();
    expectLive(a); // active lookups do not drop
    expect(part.version('a', 1)).toBeUndefined();
    expectWiped(a);
    const b = put(part, 'b', 1);
    expect(part.peekVersion('b', 1)).toBeUndefined();
    expectWiped(b);
    expect(cache.stats()).toEqual({ ...stats0, misses: 2, evictions: 2, size: 0 });
  });

  it('an expired version is dropped alone; fresher versions of the conversation stay', () => {
    const { cache, clock, epoch } = setup({ maxAgeMs: 10_000 });
    const part = cache.partition('p');
    const v1 = put(part, 'a', 1);
    clock.t = epoch + 5_000;
    const v2 = put(part, 'a', 2);
    const v3 = put(part, 'a', 3, false); // head, inserted with v2
    clock.t = epoch + 10_000;
    const before = cache.stats();
    expect(part.peekVersion('a', 1)).toBeUndefined(); // uncounted, but drops the expired match
    expectWiped(v1);
    expect(cache.stats()).toEqual({ ...before, evictions: 1, size: 2 });
    expect(v2.k.next).toBeUndefined();
    expect(part.version('a', 2)).toBe(v2.k);
    expect(part.version('a', 3)).toBe(v3.k);
    clock.t = epoch + 15_000;
    expect(part.version('a', 3)).toBeUndefined(); // drops the head: v2 becomes the head
    expectWiped(v3);
    expectLive(v2);
    expect(part.peekActive('a')).toBeUndefined(); // v2 is expired as well
    expect(part.version('a', 2)).toBeUndefined();
    expectWiped(v2);
    expect(cache.stats()).toEqual({ hits: 2, misses: 2, loads: 0, coalesced: 0, evictions: 3, size: 0 });
  });

  it('inserting a version again restarts its age', () => {
    const { cache, clock, epoch } = setup({ maxAgeMs: 10_000 });
    const part = cache.partition('p');
    put(part, 'a', 1); // loaded in second 0
    clock.t = epoch + 9_000;
    const again = put(part, 'a', 1); // loaded in second 9
    clock.t = epoch + 15_000; // the first copy would have expired at 10 s
    expect(part.active('a')).toBe(again.k);
    clock.t = epoch + 19_000;
    expect(part.active('a')).toBeUndefined();
  });
});

describe('pinning', () => {
  it('a pinned key that is evicted keeps its bytes and slot until unpinned, then is wiped', () => {
    const { cache } = setup({ maxEntries: 1 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    part.pin(a.k);
    const b = put(part, 'b', 1); // evicts a, which is pinned
    expect(cache.stats()).toEqual({ ...stats0, evictions: 1, size: 1 });
    expect(part.peekVersion('a', 1)).toBeUndefined(); // gone from the cache...
    expectLive(a); // ...but its bytes stay for the pinner
    const c = put(part, 'c', 1); // evicts b (unpinned: wiped, slot freed)
    expectWiped(b);
    const d = put(part, 'd', 1); // reuses b's slot, never a's
    expect(d.slot).toBe(b.slot);
    for (const h of [c, d]) expect(h.slot).not.toBe(a.slot);
    expectLive(a);
    part.unpin(a.k);
    expectWiped(a);
    expect(cache.stats()).toEqual({ ...stats0, evictions: 3, size: 1 });
  });

  it('pinned twice needs two unpins', () => {
    const { cache } = setup({ maxEntries: 1 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    part.pin(a.k);
    part.pin(a.k);
    put(part, 'b', 1);
    part.unpin(a.k);
    expectLive(a);
    part.unpin(a.k);
    expectWiped(a);
  });

  it('pinning and unpinning a key that stays cached leaves it live', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    part.pin(a.k);
    part.unpin(a.k);
    expectLive(a);
    expect(part.active('a')).toBe(a.k);
    // Dropped later without a pin: wiped at once.
    part.clear();
    expectWiped(a);
  });

  it('clear() and same-version replacement respect pins too', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    const b = put(part, 'b', 1);
    part.pin(a.k);
    part.pin(b.k);
    const b2 = put(part, 'b', 1); // replaces b
    part.clear();
    expect(cache.stats()).toEqual(stats0);
    expectLive(a);
    expectLive(b);
    expectWiped(b2);
    part.unpin(b.k);
    expectWiped(b);
    expectLive(a);
    part.unpin(a.k);
    expectWiped(a);
  });
});

describe('single-flight load', () => {
  it('100 concurrent loads of one tag: one loader call, everyone gets the same key, 99 coalesced', async () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const gate = deferred<void>();
    let calls = 0;
    const loader = async () => {
      calls++;
      await gate.promise;
      return part.insert('a', 1, GCM, keyBytes(1), -1, true);
    };
    const ps = Array.from({ length: 100 }, () => part.load('a', 'a', loader));
    expect(calls).toBe(1);
    gate.resolve();
    const results = await Promise.all(ps);
    for (const r of results) expect(r).toBe(results[0]);
    expect(part.key(results[0]!)).toEqual(keyBytes(1));
    expect(calls).toBe(1);
    expect(cache.stats()).toEqual({ ...stats0, loads: 1, coalesced: 99, size: 1 });
    // Once settled, the same tag loads again (load is single-flight, not a cache).
    await part.load('a', 'a', loader);
    expect(calls).toBe(2);
    expect(cache.stats()).toEqual({ ...stats0, loads: 2, coalesced: 99, size: 1 });
  });

  it('different tags, or the same tag in different partitions, do not coalesce', async () => {
    const { cache } = setup();
    const p = cache.partition('p');
    const q = cache.partition('q');
    const gate = deferred<void>();
    let calls = 0;
    const loader = (v: string) => async () => {
      calls++;
      await gate.promise;
      return v;
    };
    const ps = [p.load('t', 'c', loader('p-t')), p.load('u', 'c', loader('p-u')), q.load('t', 'c', loader('q-t'))];
    expect(calls).toBe(3);
    gate.resolve();
    expect(await Promise.all(ps)).toEqual(['p-t', 'p-u', 'q-t']);
    expect(cache.stats()).toEqual({ ...stats0, loads: 3 });
  });

  it('a rejecting loader: every waiter gets the error, nothing is cached, the next call retries', async () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const d = deferred<CachedKey>();
    let calls = 0;
    const ps = Array.from({ length: 10 }, () =>
      part.load('a', 'a', () => {
        calls++;
        return d.promise;
      }),
    );
    const boom = new Error('kms down');
    d.reject(boom);
    const settled = await Promise.allSettled(ps);
    for (const s of settled) expect(s).toEqual({ status: 'rejected', reason: boom });
    expect(calls).toBe(1);
    expect(part.peekActive('a')).toBeUndefined();
    expect(cache.stats()).toEqual({ ...stats0, loads: 1, coalesced: 9 });
    const k = await part.load('a', 'a', async () => {
      calls++;
      return part.insert('a', 1, GCM, keyBytes(2), -1, true);
    });
    expect(calls).toBe(2);
    expect(part.peekActive('a')).toBe(k);
    expect(cache.stats()).toEqual({ ...stats0, loads: 2, coalesced: 9, size: 1 });
  });

  it('a loader that throws synchronously rejects, caches nothing and does not poison the tag', async () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const boom = new Error('sync failure');
    const throwing = (() => {
      throw boom;
    }) as () => Promise<CachedKey>;
    const first = part.load('a', 'a', throwing);
    // Issued in the same tick, after the failure: must run its own loader, not join the failed one.
    let calls = 0;
    const second = part.load('a', 'a', async () => {
      calls++;
      return part.insert('a', 1, GCM, keyBytes(3), -1, true);
    });
    await expect(first).rejects.toBe(boom);
    const k = await second;
    expect(calls).toBe(1);
    expect(part.peekActive('a')).toBe(k);
    expect(cache.stats()).toEqual({ ...stats0, loads: 2, coalesced: 0, size: 1 });
  });
});

describe('loads overlapped by a forget (a shred)', () => {
  it('a stamp taken before a forget of its conversation (or a clear) is stale; the key is not cached', () => {
    const { cache } = setup();
    const part = cache.partition('p');
    const before = part.begin();
    part.forget('a');
    const after = part.begin();
    expect(part.stale('a', before)).toBe(true);
    expect(part.stale('a', after)).toBe(false);
    expect(part.stale('b', before)).toBe(false); // another conversation
    expect(part.insertUnlessStale(before, 'a', 1, GCM, keyBytes(1), -1, true)).toBeUndefined();
    expect(part.peekActive('a')).toBeUndefined();
    expect(part.insertUnlessStale(after, 'a', 1, GCM, keyBytes(2), -1, true)).toBeDefined();
    part.clear();
    expect(part.stale('b', after)).toBe(true);
    part.end(before);
    part.end(after);
    // With no reader in flight, a forget leaves nothing behind: a new stamp is fresh.
    part.forget('a');
    expect(part.stale('a', part.begin())).toBe(false);
  });

  it('runs a load again when its insert was refused, and caches what the second run read', async () => {
    const { cache } = setup();
    const part = cache.partition('p');
    let calls = 0;
    const k = await part.load('v1', 'a', async (stamp) => {
      calls++;
      if (calls === 1) part.forget('a'); // a shred lands while the first run is under way
      const node = part.insertUnlessStale(stamp, 'a', 1, GCM, keyBytes(calls), -1, true);
      if (node === undefined) throw new StaleLoad();
      return node;
    });
    expect(calls).toBe(2);
    expect(part.peekActive('a')).toBe(k);
    expect(Array.from(part.key(k))).toEqual(Array.from(keyBytes(2)));
    // A forget of another conversation does not touch a load.
    let other = 0;
    await part.load('v1', 'b', async (stamp) => {
      other++;
      part.forget('c');
      return part.insertUnlessStale(stamp, 'b', 1, GCM, keyBytes(9), -1, true)!;
    });
    expect(other).toBe(1);
  });

  it('gives up with a retryable ERR_STORE_FAILED when every run is overlapped', async () => {
    const { cache } = setup();
    const part = cache.partition('p');
    let calls = 0;
    const err = await part.load('v1', 'a', async (stamp) => {
      calls++;
      part.forget('a', 1);
      const node = part.insertUnlessStale(stamp, 'a', 1, GCM, keyBytes(1), -1, true);
      if (node === undefined) throw new StaleLoad();
      return node;
    }).then(() => undefined, (e: unknown) => e as { code: string; retryable: boolean });
    expect(err).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
    expect(calls).toBe(8);
    expect(part.peekActive('a')).toBeUndefined();
  });
});

describe('counters', () => {
  it('a scripted sequence gives exact counts', async () => {
    const { cache, clock, epoch } = setup({ maxEntries: 3, maxAgeMs: 10_000 });
    const p = cache.partition('p');
    const q = cache.partition('q');
    p.active('a'); // miss
    put(p, 'a', 1);
    p.active('a'); // hit
    p.version('a', 1); // hit
    p.version('a', 2); // miss
    p.peekActive('a'); // uncounted
    p.peekVersion('a', 2); // uncounted
    put(p, 'a', 2);
    put(q, 'a', 1);
    put(q, 'b', 1); // 4 > 3: q evicts its LRU conversation a (eviction 1)
    q.active('a'); // miss
    put(p, 'a', 2); // replaces p's v2: no eviction
    await p.load('x', 'c', async () => 1); // load
    await Promise.all([q.load('y', 'c', async () => 2), q.load('y', 'c', async () => 3)]); // load + coalesced
    clock.t = epoch + 10_000;
    p.version('a', 1); // expired: miss, eviction 2
    p.active('a'); // head (v2) expired: miss, not dropped
    p.clear(); // removes p's a v2: not an eviction
    expect(cache.stats()).toEqual({ hits: 2, misses: 5, loads: 2, coalesced: 1, evictions: 2, size: 1 });
  });
});

describe('slab slots', () => {
  it('an insert after an eviction reuses the freed slot (the old view then shows the new key)', () => {
    const { cache } = setup({ maxEntries: 2 });
    const part = cache.partition('p');
    const a = put(part, 'a', 1);
    const b = put(part, 'b', 1);
    const c = put(part, 'c', 1); // allocates a third slot, then evicts a
    expect(new Set([a.slot, b.slot, c.slot]).size).toBe(3);
    expectWiped(a);
    const d = put(part, 'd', 1); // evicts b after taking the slot a freed
    expect(d.slot).toBe(a.slot);
    expect(a.view).toEqual(d.bytes); // the same 32 bytes of the slab
    expectWiped(b);
    expectLive(c);
    expectLive(d);
  });

  it('a long insert/evict run uses at most maxEntries + 1 slots, and only live keys hold bytes', () => {
    const maxEntries = 5;
    const { cache } = setup({ maxEntries });
    const part = cache.partition('p');
    const held: Held[] = [];
    for (let i = 0; i < 2000; i++) held.push(put(part, `c${i % 13}`, 1 + (i % 3), i % 2 === 0));
    const slots = new Set(held.map((h) => h.slot));
    expect(slots.size).toBeLessThanOrEqual(maxEntries + 1);
    const live = held.filter((h) => h.k.slot >= 0);
    expect(live.length).toBe(cache.stats().size);
    expect(live.length).toBeLessThanOrEqual(maxEntries);
    for (const h of live) expectLive(h);
    expect(new Set(live.map((h) => h.slot)).size).toBe(live.length);
    const liveSlots = new Set(live.map((h) => h.slot));
    for (const h of held) if (!liveSlots.has(h.slot)) expect(isZero(h.view)).toBe(true);
  });
});

// ---- model-based test -----------------------------------------------------------------------

const PARTS = ['p', 'q'] as const;
const CONVS = ['a', 'b', 'c'] as const;
type Part = (typeof PARTS)[number];
type Conv = (typeof CONVS)[number];

type Op =
  | { op: 'insert'; p: Part; conv: Conv; version: number; active: boolean }
  | { op: 'active' | 'peekActive' | 'deactivate'; p: Part; conv: Conv }
  | { op: 'version' | 'peekVersion'; p: Part; conv: Conv; version: number }
  | { op: 'tick'; ms: number }
  | { op: 'clearPartition'; p: Part }
  | { op: 'clearAll' }
  | { op: 'pin' | 'unpin'; pick: number };

const partArb = fc.constantFrom(...PARTS);
const convArb = fc.constantFrom(...CONVS);
const versionArb = fc.integer({ min: 1, max: 3 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('insert' as const), p: partArb, conv: convArb, version: versionArb, active: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('active' as const, 'peekActive' as const), p: partArb, conv: convArb }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('version' as const, 'peekVersion' as const), p: partArb, conv: convArb, version: versionArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deactivate' as const), p: partArb, conv: convArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clearPartition' as const), p: partArb }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clearAll' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constantFrom('pin' as const, 'unpin' as const), pick: fc.nat() }) },
);

interface MKey {
  id: number;
  version: number;
  active: boolean;
  loadedAt: number;
}
interface MConv {
  conv: string;
  /** Newest insert first. */
  keys: MKey[];
}

/**
 * Reference model: per partition an array of conversations, least recently used first, each an
 * array of key versions, newest insert first. Written from the documented behaviour, not from
 * the implementation.
 */
class Model {
  readonly parts = new Map<Part, MConv[]>(PARTS.map((p) => [p, []]));
  readonly pins = new Map<number, number>();
  /** Ids removed from the cache but pinned (bytes kept). */
  readonly doomed = new Set<number>();
  readonly wiped = new Set<number>();
  stats = { ...stats0 };
  t = 0; // ms since the cache's epoch
  constructor(readonly maxEntries: number, readonly maxAgeMs: number) {}

  #fresh(k: MKey) {
    return this.t - k.loadedAt * 1000 < this.maxAgeMs;
  }
  #find(p: Part, conv: string) {
    const list = this.parts.get(p)!;
    const i = list.findIndex((c) => c.conv === conv);
    return { list, i, c: i < 0 ? undefined : list[i] };
  }
  #touch(p: Part, conv: string) {
    const { list, i } = this.#find(p, conv);
    list.push(...list.splice(i, 1));
  }
  #drop(id: number, evicted: boolean) {
    this.stats.size--;
    if (evicted) this.stats.evictions++;
    if (this.pins.has(id)) this.doomed.add(id);
    else this.wiped.add(id);
  }
  #removeKey(p: Part, conv: string, id: number, evicted: boolean) {
    const { list, i, c } = this.#find(p, conv);
    c!.keys = c!.keys.filter((k) => k.id !== id);
    if (c!.keys.length === 0) list.splice(i, 1);
    this.#drop(id, evicted);
  }
  /** Removes a partition's LRU conversation, or trims `keep` when that is the LRU one; false if nothing to do. */
  #evictFrom(p: Part, keep: string | undefined): boolean {
    const list = this.parts.get(p)!;
    const oldest = list[0];
    if (oldest === undefined) return false;
    if (oldest.conv === keep) {
      if (oldest.keys.length === 1) return false;
      for (const k of oldest.keys.splice(1)) this.#drop(k.id, true);
      return true;
    }
    list.shift();
    for (const k of oldest.keys) this.#drop(k.id, true);
    return true;
  }

  insert(p: Part, conv: string, version: number, active: boolean, id: number) {
    const { c } = this.#find(p, conv);
    const same = c?.keys.find((k) => k.version === version);
    if (same) this.#removeKey(p, conv, same.id, false);
    let entry = this.#find(p, conv).c;
    if (entry === undefined) this.parts.get(p)!.push((entry = { conv, keys: [] }));
    // An older version never takes the active mark from a newer one (rotation race, 2026-12-01).
    if (active && entry.keys.some((k) => k.version > version)) active = false;
    if (active) for (const k of entry.keys) k.active = false;
    entry.keys.unshift({ id, version, active, loadedAt: Math.floor(this.t / 1000) });
    this.#touch(p, conv);
    this.stats.size++;
    // Capacity: the inserting partition first (never its new key), else the other partition.
    const other = PARTS.find((x) => x !== p)!;
    while (this.stats.size > this.maxEntries) {
      if (this.#evictFrom(p, conv)) continue;
      if (!this.#evictFrom(other, undefined)) break;
    }
  }
  peekActive(p: Part, conv: string): number | undefined {
    const k = this.#find(p, conv).c?.keys.find((x) => x.active);
    return k !== undefined && this.#fresh(k) ? k.id : undefined;
  }
  active(p: Part, conv: string): number | undefined {
    const id = this.peekActive(p, conv);
    if (id === undefined) this.stats.misses++;
    else {
      this.stats.hits++;
      this.#touch(p, conv);
    }
    return id;
  }
  peekVersion(p: Part, conv: string, version: number): number | undefined {
    const k = this.#find(p, conv).c?.keys.find((x) => x.version === version);
    if (k === undefined) return undefined;
    if (this.#fresh(k)) return k.id;
    this.#removeKey(p, conv, k.id, true);
    return undefined;
  }
  version(p: Part, conv: string, version: number): number | undefined {
    const id = this.peekVersion(p, conv, version);
    if (id === undefined) this.stats.misses++;
    else {
      this.stats.hits++;
      this.#touch(p, conv);
    }
    return id;
  }
  deactivate(p: Part, conv: string) {
    for (const k of this.#find(p, conv).c?.keys ?? []) k.active = false;
  }
  clear(p: Part) {
    for (const c of this.parts.get(p)!) for (const k of c.keys) this.#drop(k.id, false);
    this.parts.set(p, []);
  }
  pin(id: number) {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
  }
  unpin(id: number) {
    const n = this.pins.get(id)! - 1;
    if (n > 0) return void this.pins.set(id, n);
    this.pins.delete(id);
    if (this.doomed.delete(id)) this.wiped.add(id);
  }
  cachedIds(): number[] {
    const ids: number[] = [];
    for (const list of this.parts.values()) for (const c of list) for (const k of c.keys) ids.push(k.id);
    return ids.sort((x, y) => x - y);
  }
}

describe('KeyCache against a reference model', () => {
  it('random insert/lookup/peek/deactivate/tick/clear/pin sequences over two partitions: same results, contents, counters and wiping', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 }), fc.constant(2 ** 40)),
        fc.integer({ min: 0, max: 2 ** 42 }),
        fc.array(opArb, { maxLength: 80, size: 'max' }),
        (maxEntries, maxAgeMs, epoch, ops) => {
          const clock = { t: epoch };
          const cache = new KeyCache({ maxEntries, maxAgeMs }, () => clock.t);
          const parts = { p: cache.partition('p'), q: cache.partition('q') };
          const model = new Model(maxEntries, maxAgeMs);
          const held: (Held & { part: CachePartition })[] = [];
          const real = (id: number | undefined) => (id === undefined ? undefined : held[id]!.k);
          const pinned: number[] = []; // one element per outstanding pin

          for (const o of ops) {
            switch (o.op) {
              case 'insert': {
                const id = held.length;
                const part = parts[o.p];
                const bytes = keyBytes(id + 1);
                const k = part.insert(o.conv, o.version, GCM, bytes.slice(), -1, o.active);
                held.push({ k, view: part.key(k), bytes, slot: k.slot, part });
                model.insert(o.p, o.conv, o.version, o.active, id);
                break;
              }
              case 'active':
              case 'peekActive':
                expect(parts[o.p][o.op](o.conv)).toBe(real(model[o.op](o.p, o.conv)));
                break;
              case 'version':
              case 'peekVersion':
                expect(parts[o.p][o.op](o.conv, o.version)).toBe(real(model[o.op](o.p, o.conv, o.version)));
                break;
              case 'deactivate':
                parts[o.p].deactivate(o.conv);
                model.deactivate(o.p, o.conv);
                break;
              case 'tick':
                clock.t += o.ms;
                model.t += o.ms;
                break;
              case 'clearPartition':
                parts[o.p].clear();
                model.clear(o.p);
                break;
              case 'clearAll':
                cache.clear();
                for (const p of PARTS) model.clear(p);
                break;
              case 'pin': {
                const ids = model.cachedIds();
                if (ids.length === 0) break;
                const id = ids[o.pick % ids.length]!;
                held[id]!.part.pin(held[id]!.k);
                model.pin(id);
                pinned.push(id);
                break;
              }
              case 'unpin': {
                if (pinned.length === 0) break;
                const [id] = pinned.splice(o.pick % pinned.length, 1);
                held[id!]!.part.unpin(held[id!]!.k);
                model.unpin(id!);
                break;
              }
            }

            // Counters, including size (key versions across both partitions).
            expect(cache.stats()).toEqual(model.stats);
            expect(model.stats.size).toBeLessThanOrEqual(maxEntries);
            // Contents: each partition's conversations hold exactly the model's versions, chained
            // newest insert first, with the same active flags and load times.
            for (const [p, list] of model.parts) {
              for (const c of list) {
                c.keys.forEach((mk, i) => {
                  const h = held[mk.id]!;
                  expect(h.part).toBe(parts[p]);
                  expect(h.k.version).toBe(mk.version);
                  expect(h.k.active).toBe(mk.active);
                  expect(h.k.loadedAt).toBe(mk.loadedAt);
                  expect(h.k.next).toBe(real(c.keys[i + 1]?.id));
                });
              }
            }
            // Wiping: cached and pinned-but-removed keys keep their slot and bytes; every other
            // key has slot -1, and its old slab bytes are zero unless a live key reuses the slot.
            const liveSlots = new Set<number>();
            held.forEach((h, id) => {
              if (model.wiped.has(id)) {
                expect(h.k.slot).toBe(-1);
              } else {
                expect(h.k.slot).toBe(h.slot);
                expect(h.view).toEqual(h.bytes);
                expect(liveSlots.has(h.slot)).toBe(false);
                liveSlots.add(h.slot);
              }
            });
            held.forEach((h, id) => {
              if (model.wiped.has(id) && !liveSlots.has(h.slot)) expect(isZero(h.view)).toBe(true);
            });
          }
          // Every key inserted is accounted for exactly once.
          expect(model.cachedIds().length + model.doomed.size + model.wiped.size).toBe(held.length);
        },
      ),
      { numRuns: 400 },
    );
  });
});
