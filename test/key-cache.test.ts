import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_MAX_AGE_MS, DEFAULT_MAX_ENTRIES, KeyCache, type KeyCacheStats } from '../src/cache/key-cache.js';
import { InvalidInputError } from '../src/errors.js';

/** A value with identity, so dispose calls can be attributed. */
interface Val {
  id: string;
}
const val = (id: string): Val => ({ id });

/** A cache over a manual clock that logs every dispose. */
function harness(options: { maxEntries?: number; maxAgeMs?: number } = {}) {
  const clock = { t: 1_000 };
  const disposed: string[] = [];
  const cache = new KeyCache<Val>(options, (v) => disposed.push(v.id), () => clock.t);
  return { cache, clock, disposed };
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

const stats0: KeyCacheStats = { hits: 0, misses: 0, loads: 0, coalesced: 0, evictions: 0, size: 0 };

describe('KeyCache options', () => {
  it('defaults', () => {
    const c = new KeyCache<Val>();
    expect(c.maxEntries).toBe(DEFAULT_MAX_ENTRIES);
    expect(c.maxAgeMs).toBe(DEFAULT_MAX_AGE_MS);
    expect(c.stats()).toEqual(stats0);
  });

  it('accepts the bounds of each range', () => {
    expect(new KeyCache<Val>({ maxEntries: 1, maxAgeMs: 0 }).maxEntries).toBe(1);
    expect(new KeyCache<Val>({ maxEntries: 2 ** 30, maxAgeMs: 2 ** 40 }).maxAgeMs).toBe(2 ** 40);
  });

  const bad: [string, unknown, string][] = [
    ['maxEntries', 0, 'cache.maxEntries'],
    ['maxEntries', -1, 'cache.maxEntries'],
    ['maxEntries', 1.5, 'cache.maxEntries'],
    ['maxEntries', NaN, 'cache.maxEntries'],
    ['maxEntries', Infinity, 'cache.maxEntries'],
    ['maxEntries', 2 ** 30 + 1, 'cache.maxEntries'],
    ['maxEntries', '10', 'cache.maxEntries'],
    ['maxAgeMs', -1, 'cache.maxAgeMs'],
    ['maxAgeMs', 0.5, 'cache.maxAgeMs'],
    ['maxAgeMs', 2 ** 40 + 1, 'cache.maxAgeMs'],
    ['maxAgeMs', '1000', 'cache.maxAgeMs'],
    ['foo', 1, 'cache.foo'],
    ['maxentries', 10, 'cache.maxentries'],
  ];
  it.each(bad)('rejects %s = %s with param %s', (key, value, param) => {
    let err: unknown;
    try {
      new KeyCache<Val>({ [key]: value } as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param });
  });

  it.each([null, 5, 'big', [1]])('rejects options that are not an object (%s) with param cache', (options) => {
    expect(() => new KeyCache<Val>(options as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'cache' }));
  });
});

describe('KeyCache LRU', () => {
  it('evicts the least recently used; get refreshes recency', () => {
    const { cache, disposed } = harness({ maxEntries: 3 });
    cache.set('a', val('a'));
    cache.set('b', val('b'));
    cache.set('c', val('c'));
    expect(cache.get('a')?.id).toBe('a'); // order now b, c, a
    cache.set('d', val('d')); // evicts b
    expect(disposed).toEqual(['b']);
    expect(cache.peek('b')).toBeUndefined();
    expect(['a', 'c', 'd'].map((k) => cache.peek(k)?.id)).toEqual(['a', 'c', 'd']);
    cache.set('e', val('e')); // evicts c
    expect(disposed).toEqual(['b', 'c']);
    expect(cache.stats()).toMatchObject({ evictions: 2, size: 3 });
  });

  it('set refreshes recency of an existing key', () => {
    const { cache, disposed } = harness({ maxEntries: 2 });
    const a = val('a');
    cache.set('a', a);
    cache.set('b', val('b'));
    cache.set('a', a); // same value: no dispose, a becomes most recent
    cache.set('c', val('c')); // evicts b
    expect(disposed).toEqual(['b']);
    expect(cache.peek('a')).toBe(a);
  });

  it('replacing a value disposes the old one once; re-setting the same value disposes nothing', () => {
    const { cache, disposed } = harness();
    const a1 = val('a1');
    cache.set('a', a1);
    cache.set('a', a1);
    expect(disposed).toEqual([]);
    cache.set('a', val('a2'));
    expect(disposed).toEqual(['a1']);
    expect(cache.get('a')?.id).toBe('a2');
    expect(cache.stats()).toMatchObject({ size: 1, evictions: 0 });
  });

  it('delete disposes once and reports whether it removed anything', () => {
    const { cache, disposed } = harness();
    cache.set('a', val('a'));
    cache.set('b', val('b'));
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.delete('zzz')).toBe(false);
    expect(disposed).toEqual(['a']);
    expect(cache.peek('b')?.id).toBe('b');
    expect(cache.stats()).toMatchObject({ size: 1, evictions: 0 });
  });

  it('dispose is called exactly once per value that leaves, never for live values', () => {
    const { cache, disposed } = harness({ maxEntries: 4 });
    const live = new Map<string, Val>();
    for (let i = 0; i < 50; i++) {
      const k = `k${i % 7}`;
      const v = val(`v${i}`);
      cache.set(k, v);
      if (i % 5 === 0) cache.get(`k${(i * 3) % 7}`);
      if (i % 11 === 0) cache.delete(`k${(i + 1) % 7}`);
    }
    for (let i = 0; i < 7; i++) {
      const v = cache.peek(`k${i}`);
      if (v) live.set(`k${i}`, v);
    }
    expect(live.size).toBe(cache.stats().size);
    expect(new Set(disposed).size).toBe(disposed.length); // never twice
    for (const v of live.values()) expect(disposed).not.toContain(v.id); // never a live one
    expect(disposed.length + live.size).toBe(50); // every other value was disposed
  });
});

describe('KeyCache maxAge (injected clock)', () => {
  it('an entry is a hit before maxAgeMs and an expired miss (disposed, counted) at maxAgeMs', () => {
    const { cache, clock, disposed } = harness({ maxAgeMs: 100 });
    cache.set('a', val('a1'));
    clock.t += 99;
    expect(cache.get('a')?.id).toBe('a1'); // a get does not extend the age
    clock.t += 1;
    expect(cache.get('a')).toBeUndefined();
    expect(disposed).toEqual(['a1']);
    expect(cache.stats()).toEqual({ ...stats0, hits: 1, misses: 1, evictions: 1 });
  });

  it('getOrLoad reloads an expired entry', async () => {
    const { cache, clock, disposed } = harness({ maxAgeMs: 50 });
    let n = 0;
    const loader = async () => val(`load${++n}`);
    expect((await cache.getOrLoad('k', loader)).id).toBe('load1');
    clock.t += 49;
    expect((await cache.getOrLoad('k', loader)).id).toBe('load1');
    clock.t += 1;
    expect((await cache.getOrLoad('k', loader)).id).toBe('load2');
    expect(disposed).toEqual(['load1']);
    expect(n).toBe(2);
    expect(cache.stats()).toEqual({ ...stats0, hits: 1, misses: 2, loads: 2, evictions: 1, size: 1 });
  });

  it('maxAgeMs 0: every entry is already expired', () => {
    const { cache, disposed } = harness({ maxAgeMs: 0 });
    cache.set('a', val('a'));
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.get('a')).toBeUndefined();
    expect(disposed).toEqual(['a']);
  });

  it('replacing a value restarts its age', () => {
    const { cache, clock } = harness({ maxAgeMs: 100 });
    cache.set('a', val('a1'));
    clock.t += 80;
    cache.set('a', val('a2'));
    clock.t += 80;
    expect(cache.get('a')?.id).toBe('a2');
  });
});

describe('KeyCache single-flight loading', () => {
  it('100 concurrent getOrLoad for one key: one loader call, everyone gets the same value', async () => {
    const { cache } = harness();
    const d = deferred<Val>();
    let calls = 0;
    const loader = () => {
      calls++;
      return d.promise;
    };
    const ps = Array.from({ length: 100 }, () => cache.getOrLoad('k', loader));
    expect(calls).toBe(1);
    const v = val('only');
    d.resolve(v);
    const results = await Promise.all(ps);
    for (const r of results) expect(r).toBe(v);
    expect(calls).toBe(1);
    expect(cache.stats()).toEqual({ ...stats0, misses: 100, loads: 1, coalesced: 99, size: 1 });
    expect(await cache.getOrLoad('k', loader)).toBe(v);
    expect(cache.stats()).toMatchObject({ hits: 1, loads: 1 });
  });

  it('loads of different keys do not coalesce', async () => {
    const { cache } = harness();
    const [a, b] = await Promise.all([cache.getOrLoad('a', async () => val('a')), cache.getOrLoad('b', async () => val('b'))]);
    expect([a.id, b.id]).toEqual(['a', 'b']);
    expect(cache.stats()).toMatchObject({ loads: 2, coalesced: 0, size: 2 });
  });

  it('a rejecting loader: every waiter gets the error, nothing is cached, the next call retries', async () => {
    const { cache, disposed } = harness();
    const d = deferred<Val>();
    let calls = 0;
    const ps = Array.from({ length: 10 }, () =>
      cache.getOrLoad('k', () => {
        calls++;
        return d.promise;
      }),
    );
    const boom = new Error('kms down');
    d.reject(boom);
    const settled = await Promise.allSettled(ps);
    for (const s of settled) expect(s).toEqual({ status: 'rejected', reason: boom });
    expect(calls).toBe(1);
    expect(cache.peek('k')).toBeUndefined();
    expect(cache.stats().size).toBe(0);
    const v = await cache.getOrLoad('k', async () => {
      calls++;
      return val('second');
    });
    expect(v.id).toBe('second');
    expect(calls).toBe(2);
    expect(disposed).toEqual([]);
    expect(cache.stats()).toEqual({ ...stats0, misses: 11, loads: 2, coalesced: 9, size: 1 });
  });

  it('a loader that throws synchronously caches nothing and the next call retries', async () => {
    const { cache } = harness();
    const boom = new Error('sync failure');
    const throwing = (() => {
      throw boom;
    }) as () => Promise<Val>;
    await expect(cache.getOrLoad('k', throwing)).rejects.toBe(boom);
    let calls = 0;
    const v = await cache.getOrLoad('k', async () => {
      calls++;
      return val('retried');
    });
    expect(calls).toBe(1);
    expect(v.id).toBe('retried');
  });

  it('load replaces a cached value (disposing the old one) without a lookup', async () => {
    const { cache, disposed } = harness();
    cache.set('k', val('old'));
    const v = await cache.load('k', async () => val('new'));
    expect(v.id).toBe('new');
    expect(disposed).toEqual(['old']);
    expect(cache.stats()).toEqual({ ...stats0, loads: 1, size: 1 });
  });
});

describe('KeyCache counters, peek, deletePrefix, clear', () => {
  it('counts a scripted sequence exactly', async () => {
    const { cache, clock } = harness({ maxEntries: 2, maxAgeMs: 1000 });
    cache.get('a'); // miss
    cache.set('a', val('a'));
    cache.get('a'); // hit
    cache.get('a'); // hit
    cache.set('b', val('b'));
    cache.set('c', val('c')); // evicts a (eviction 1)
    cache.get('a'); // miss
    await cache.getOrLoad('b', async () => val('never')); // hit
    await cache.getOrLoad('d', async () => val('d')); // miss + load; evicts c (eviction 2)
    clock.t += 1000;
    cache.get('b'); // expired: miss, eviction 3
    cache.delete('d'); // not an eviction
    expect(cache.stats()).toEqual({ hits: 3, misses: 4, loads: 1, coalesced: 0, evictions: 3, size: 0 });
  });

  it('stats returns a snapshot', () => {
    const { cache } = harness();
    const s = cache.stats();
    cache.get('x');
    expect(s.misses).toBe(0);
    expect(cache.stats().misses).toBe(1);
  });

  it('peek neither counts nor reorders', () => {
    const { cache, disposed } = harness({ maxEntries: 2 });
    cache.set('a', val('a'));
    cache.set('b', val('b'));
    const before = cache.stats();
    expect(cache.peek('a')?.id).toBe('a');
    expect(cache.peek('zzz')).toBeUndefined();
    expect(cache.stats()).toEqual(before);
    cache.set('c', val('c')); // a is still the least recent
    expect(disposed).toEqual(['a']);
  });

  it('peek of an expired entry returns undefined without counting', () => {
    const { cache, clock } = harness({ maxAgeMs: 10 });
    cache.set('a', val('a'));
    clock.t += 10;
    const before = cache.stats();
    expect(cache.peek('a')).toBeUndefined();
    expect(cache.stats()).toEqual(before);
  });

  it('deletePrefix removes and disposes exactly the matching entries', () => {
    const { cache, disposed } = harness();
    for (const k of ['p1:a', 'p1:b', 'p2:a', 'p1', 'xp1:a', 'p1:c']) cache.set(k, val(k));
    expect(cache.deletePrefix('p1:')).toBe(3);
    expect(disposed.sort()).toEqual(['p1:a', 'p1:b', 'p1:c']);
    expect(['p2:a', 'p1', 'xp1:a'].map((k) => cache.peek(k)?.id)).toEqual(['p2:a', 'p1', 'xp1:a']);
    expect(cache.deletePrefix('nothing')).toBe(0);
    expect(cache.stats()).toMatchObject({ size: 3, evictions: 0 });
    expect(cache.deletePrefix('')).toBe(3);
    expect(cache.stats().size).toBe(0);
    expect(disposed).toHaveLength(6);
  });

  it('clear disposes every entry once and empties the cache', () => {
    const { cache, disposed } = harness();
    for (const k of ['a', 'b', 'c']) cache.set(k, val(k));
    cache.clear();
    expect(disposed.sort()).toEqual(['a', 'b', 'c']);
    expect(cache.stats()).toMatchObject({ size: 0, evictions: 0 });
    cache.clear();
    expect(disposed).toHaveLength(3);
    expect(cache.get('a')).toBeUndefined();
  });
});

// ---- model-based test -----------------------------------------------------------------------

type Op =
  | { op: 'get'; key: string }
  | { op: 'peek'; key: string }
  | { op: 'set'; key: string; reuse: boolean }
  | { op: 'delete'; key: string }
  | { op: 'deletePrefix'; prefix: string }
  | { op: 'tick'; ms: number };

const keyArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'ab', 'ba');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('peek' as const), key: keyArb }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('set' as const), key: keyArb, reuse: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deletePrefix' as const), prefix: fc.constantFrom('a', 'b', 'ab', 'z') }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

/** Reference LRU: an array, least recently used first. */
class ModelLru {
  entries: { key: string; value: Val; expiresAt: number }[] = [];
  disposed: string[] = [];
  hits = 0;
  misses = 0;
  evictions = 0;
  constructor(readonly capacity: number, readonly maxAge: number) {}

  #index(key: string) {
    return this.entries.findIndex((e) => e.key === key);
  }
  get(key: string, now: number): Val | undefined {
    const i = this.#index(key);
    if (i < 0) {
      this.misses++;
      return undefined;
    }
    const e = this.entries[i]!;
    this.entries.splice(i, 1);
    if (e.expiresAt <= now) {
      this.disposed.push(e.value.id);
      this.evictions++;
      this.misses++;
      return undefined;
    }
    this.entries.push(e);
    this.hits++;
    return e.value;
  }
  peek(key: string, now: number): Val | undefined {
    const e = this.entries.find((x) => x.key === key);
    return e && e.expiresAt > now ? e.value : undefined;
  }
  set(key: string, value: Val, now: number): void {
    const i = this.#index(key);
    if (i >= 0) {
      const [old] = this.entries.splice(i, 1);
      if (old!.value !== value) this.disposed.push(old!.value.id);
    }
    this.entries.push({ key, value, expiresAt: now + this.maxAge });
    while (this.entries.length > this.capacity) {
      const [oldest] = this.entries.splice(0, 1);
      this.disposed.push(oldest!.value.id);
      this.evictions++;
    }
  }
  delete(key: string): boolean {
    const i = this.#index(key);
    if (i < 0) return false;
    const [e] = this.entries.splice(i, 1);
    this.disposed.push(e!.value.id);
    return true;
  }
  deletePrefix(prefix: string): number {
    const gone = this.entries.filter((e) => e.key.startsWith(prefix));
    this.entries = this.entries.filter((e) => !e.key.startsWith(prefix));
    for (const e of gone) this.disposed.push(e.value.id);
    return gone.length;
  }
}

describe('KeyCache against a reference LRU model', () => {
  it('random get/peek/set/delete/deletePrefix/tick sequences: same results, contents, dispose calls and counters', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(opArb, { maxLength: 80 }),
        (capacity, maxAge, ops) => {
          const { cache, clock, disposed } = harness({ maxEntries: capacity, maxAgeMs: maxAge });
          const model = new ModelLru(capacity, maxAge);
          let serial = 0;
          for (const o of ops) {
            switch (o.op) {
              case 'get':
                expect(cache.get(o.key)).toBe(model.get(o.key, clock.t));
                break;
              case 'peek':
                expect(cache.peek(o.key)).toBe(model.peek(o.key, clock.t));
                break;
              case 'set': {
                const current = model.entries.find((e) => e.key === o.key)?.value;
                const v = o.reuse && current ? current : val(`v${serial++}`);
                cache.set(o.key, v);
                model.set(o.key, v, clock.t);
                break;
              }
              case 'delete':
                expect(cache.delete(o.key)).toBe(model.delete(o.key));
                break;
              case 'deletePrefix':
                expect(cache.deletePrefix(o.prefix)).toBe(model.deletePrefix(o.prefix));
                break;
              case 'tick':
                clock.t += o.ms;
                break;
            }
            expect(disposed).toEqual(model.disposed);
            expect(cache.stats().size).toBe(model.entries.length);
          }
          for (const k of ['a', 'b', 'c', 'd', 'e', 'ab', 'ba']) expect(cache.peek(k)).toBe(model.peek(k, clock.t));
          expect(cache.stats()).toEqual({
            hits: model.hits, misses: model.misses, loads: 0, coalesced: 0, evictions: model.evictions, size: model.entries.length,
          });
          // No value is disposed twice, and no value still held has been disposed.
          expect(new Set(disposed).size).toBe(disposed.length);
          for (const e of model.entries) expect(disposed).not.toContain(e.value.id);
        },
      ),
      { numRuns: 300 },
    );
  });
});
