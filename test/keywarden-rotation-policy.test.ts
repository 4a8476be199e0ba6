/**
 * Rotation policy (issue #12 point 3, docs/KEYS.md §4): versions rotate by age and by count,
 * lazily on the next seal, spread over the last 10% of the age, with one new version per
 * conversation however many instances seal at the due moment.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import { rotateAt, rotationPolicy } from '../src/keys/rotation.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);
const version = (ct: Uint8Array) => inspectCiphertext(ct).keyVersion;

function fleet(n: number, rotation: { maxAgeMs?: number; maxMessages?: number }) {
  let t = T0;
  const keyStore = new MemoryKeyStore();
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const now = () => new Date(t);
  const instances = Array.from({ length: n }, () => new Keywarden({ masterKey, keyStore, rotation, now, reservationSize: 4 }));
  return { instances, keyStore, setTime: (ms: number) => (t = ms) };
}

describe('rotation policy', () => {
  it('rotates by age on the first seal after the version is due, never before 90% of the age', async () => {
    const { instances: [kw], keyStore, setTime } = fleet(1, { maxAgeMs: DAY });
    expect(version(await kw!.encrypt('c', enc('a')))).toBe(1);
    const due = rotateAt(rotationPolicy({ maxAgeMs: DAY }, undefined), 'c', 1, T0);
    expect(due).toBeGreaterThanOrEqual(T0 + 0.9 * DAY);
    expect(due).toBeLessThanOrEqual(T0 + DAY);
    setTime(due - 1);
    expect(version(await kw!.encrypt('c', enc('b')))).toBe(1);
    setTime(due);
    const rotated = await kw!.encrypt('c', enc('c'));
    expect(version(rotated)).toBe(2);
    const rows = await keyStore.listVersions('c');
    expect(rows.map((r) => [r.version, r.state, r.activatedAt.getTime()])).toEqual([[1, 'superseded', T0], [2, 'active', due]]);
    expect(rows[0]!.supersededAt!.getTime()).toBe(due);
    // The new version runs its own age.
    setTime(due + 0.5 * DAY);
    expect(version(await kw!.encrypt('c', enc('d')))).toBe(2);
  });

  it('is lazy: an idle conversation is not rotated until it seals again, then once', async () => {
    const { instances: [kw], keyStore, setTime } = fleet(1, { maxAgeMs: DAY });
    await kw!.encrypt('idle', enc('x'));
    setTime(T0 + 30 * DAY);
    expect((await keyStore.listVersions('idle')).length).toBe(1); // nothing happened while idle
    expect(version(await kw!.encrypt('idle', enc('y')))).toBe(2); // one rotation, not 30
    expect((await keyStore.listVersions('idle')).length).toBe(2);
  });

  it('the last key version (2^32 - 1) is final: rotating past it is ERR_KEY_LIMIT_REACHED, and no key is generated', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey, keyStore });
    await kw.encrypt('last', enc('x'));
    const rec = (await keyStore.getLatest('last'))!;
    // A store whose conversation stands at the highest version the format can carry.
    const store = new Proxy(keyStore, {
      get: (t, p, r) => (p === 'getLatest' ? async () => ({ ...rec, version: 0xffff_ffff }) : Reflect.get(t, p, r) as unknown),
    });
    let generated = 0;
    const counting = new Proxy(masterKey, {
      get: (t, p, r) => (p === 'generateDataKey' ? (...a: unknown[]) => (generated++, (t.generateDataKey as (...x: unknown[]) => unknown)(...a)) : Reflect.get(t, p, r) as unknown),
    });
    const limited = new Keywarden({ masterKey: counting, keyStore: store });
    await expect(limited.rotate('last')).rejects.toMatchObject({ code: 'ERR_KEY_LIMIT_REACHED' });
    expect(generated).toBe(0);
  });

  it('conversations due at the same moment rotate each on its own: concurrent seals never share a rotation', async () => {
    const { instances: [kw], keyStore, setTime } = fleet(1, { maxAgeMs: DAY });
    const convs = ['due-a', 'due-b', 'due-c'];
    for (const c of convs) await kw!.encrypt(c, enc('warm'));
    setTime(T0 + DAY);
    const sealed = await Promise.all(convs.flatMap((c) => [0, 1, 2].map(async (i) => ({ c, ct: await kw!.encrypt(c, enc(`${c}:${i}`)) }))));
    for (const { c, ct } of sealed) {
      expect(version(ct)).toBe(2);
      expect(new TextDecoder().decode(await kw!.decrypt(c, ct))).toMatch(new RegExp(`^${c}:`));
    }
    for (const c of convs) expect((await keyStore.listVersions(c)).map((r) => r.state)).toEqual(['superseded', 'active']);
  });

  it('4 instances sealing concurrently at the due moment create exactly one new version', async () => {
    const { instances, keyStore, setTime } = fleet(4, { maxAgeMs: DAY });
    for (const kw of instances) await kw.encrypt('busy', enc('warm')); // every instance caches v1
    setTime(T0 + DAY);
    const cts = await Promise.all(instances.flatMap((kw) => Array.from({ length: 25 }, (_, i) => kw.encrypt('busy', enc(`m${i}`)))));
    expect(new Set(cts.map(version))).toEqual(new Set([2]));
    expect((await keyStore.listVersions('busy')).map((r) => r.state)).toEqual(['superseded', 'active']);
    for (const kw of instances) for (const ct of cts.slice(0, 5)) expect(await kw.decrypt('busy', ct)).toBeInstanceOf(Uint8Array);
  });

  it('spreads the rotations of conversations created together over the last 10% of the age', () => {
    const policy = rotationPolicy({ maxAgeMs: 30 * DAY }, undefined);
    const times = Array.from({ length: 1000 }, (_, i) => rotateAt(policy, `dm:user-${i}:user-${i + 1}`, 1, T0) - T0);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(27 * DAY);
    expect(Math.max(...times)).toBeLessThanOrEqual(30 * DAY);
    // Roughly uniform: each tenth of the window holds 5-15% of the conversations.
    const buckets = new Array(10).fill(0);
    for (const t of times) buckets[Math.min(9, Math.floor(((t - 27 * DAY) / (3 * DAY)) * 10))]++;
    for (const b of buckets) {
      expect(b).toBeGreaterThan(50);
      expect(b).toBeLessThan(150);
    }
    // The next version of the same conversation gets another point.
    expect(rotateAt(policy, 'dm:user-1:user-2', 2, T0)).not.toBe(rotateAt(policy, 'dm:user-1:user-2', 1, T0));
  });

  it('rotates by message count (rotation.maxMessages), across instances', async () => {
    const { instances: [a, b], keyStore } = fleet(2, { maxMessages: 10 });
    const versions: number[] = [];
    for (let i = 0; i < 30; i++) versions.push(version(await (i % 2 ? a! : b!).encrypt('count', enc(`${i}`))));
    const rows = await keyStore.listVersions('count');
    expect(rows.every((r) => r.sealedReserved <= 10)).toBe(true);
    for (const v of new Set(versions)) expect(versions.filter((x) => x === v).length).toBeLessThanOrEqual(10);
    expect(Math.max(...versions)).toBeGreaterThanOrEqual(3);
  });

  it('a key leaving the cache loses at most 1/16 of the count budget: maxMessages below the reservation size does not rotate on every cache miss', async () => {
    // Found by npm run soak: reservations are taken from the store in blocks (reservationSize,
    // default 1024) and a block's unused seals are lost when the key leaves the cache (eviction,
    // restart). With maxMessages 100 one block was the whole budget, so every cache miss of a
    // conversation created a new version.
    const keyStore = new MemoryKeyStore();
    const cache = new KeyCache({ maxEntries: 1 }); // two conversations evict each other
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, cache, rotation: { maxMessages: 100 } });
    for (let i = 0; i < 10; i++) {
      await kw.encrypt('a', enc(`a${i}`));
      await kw.encrypt('b', enc(`b${i}`));
    }
    expect(cache.stats().evictions).toBeGreaterThanOrEqual(18);
    // 10 residencies of 'a', each losing at most ceil(100 / 16) = 7 unused seals: 70 < 100.
    expect((await keyStore.listVersions('a')).map((r) => r.version)).toEqual([1]);
    expect((await keyStore.listVersions('b')).map((r) => r.version)).toEqual([1]);
    // The budget still holds: 100 seals in one residency, then a new version.
    const one = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), rotation: { maxMessages: 100 } });
    const versions = [];
    for (let i = 0; i < 101; i++) versions.push(version(await one.encrypt('c', enc('x'))));
    expect(versions.filter((v) => v === 1)).toHaveLength(100);
    expect(versions[100]).toBe(2);
  });

  it('validates the policy, naming the option', () => {
    const base = { masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() };
    for (const [rotation, param] of [[{ maxAgeMs: 59_999 }, 'options.rotation.maxAgeMs'], [{ maxAgeMs: 1.5e6 + 0.5 }, 'options.rotation.maxAgeMs'], [{ maxMessages: 0 }, 'options.rotation.maxMessages'], [{ every: 1 }, 'options.rotation.every'], [null, 'options.rotation'], ['1d', 'options.rotation']] as const) {
      expect(() => new Keywarden({ ...base, rotation: rotation as never }), JSON.stringify(rotation)).toThrow(param);
    }
    expect(new Keywarden({ ...base, rotation: { maxAgeMs: DAY, maxMessages: 100 }, maxMessagesPerKey: 50 }).rotation).toEqual({ maxAgeMs: DAY, maxMessages: 50 });
    expect(new Keywarden(base).rotation).toEqual({ maxAgeMs: Infinity, maxMessages: Infinity });
  });
});
