/**
 * Key lifecycle through the public API: race-free first use, rotation with validity periods,
 * and the per-key message bound (docs/FORMAT.md §5) enforced across processes.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext, type MasterKeyProvider } from '../src/node.js';
import { errorCode, wrapStore } from './support/fixtures.js';

/** Wraps a provider and counts its calls; an optional delay widens race windows. */
function counting(inner: MasterKeyProvider, delayMs = 0) {
  const calls = { generate: 0, unwrap: 0 };
  const sleep = () => new Promise((r) => setTimeout(r, delayMs));
  const provider: MasterKeyProvider = {
    keyId: inner.keyId,
    async generateDataKey(ctx) {
      calls.generate++;
      await sleep();
      return inner.generateDataKey(ctx);
    },
    async unwrapDataKey(w, ctx, id) {
      calls.unwrap++;
      await sleep();
      return inner.unwrapDataKey(w, ctx, id);
    },
  };
  return { provider, calls };
}

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

describe('first use of a conversation', () => {
  it('1,000 concurrent first encrypts: one GenerateDataKey, one stored key, all decrypt', async () => {
    const { provider, calls } = counting(new LocalMasterKey(LocalMasterKey.generateKey()), 5);
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: provider, keyStore });
    const cts = await Promise.all(Array.from({ length: 1000 }, (_, i) => kw.encrypt('new-conv', text(`m${i}`))));
    expect(calls.generate).toBe(1);
    expect(calls.unwrap).toBe(0);
    const versions = await keyStore.listVersions('new-conv');
    expect(versions.map((v) => [v.version, v.state])).toEqual([[1, 'active']]);
    for (let i = 0; i < cts.length; i++) {
      expect(inspectCiphertext(cts[i]!).keyVersion).toBe(1);
      expect(str(await kw.decrypt('new-conv', cts[i]!))).toBe(`m${i}`);
    }
  });

  it('racing instances sharing one store end with exactly one version 1; losers adopt the winner key', async () => {
    const keyStore = new MemoryKeyStore();
    const mk = new LocalMasterKey(LocalMasterKey.generateKey());
    const instances = Array.from({ length: 8 }, () => counting(mk, 2)).map(({ provider, calls }) => ({ kw: new Keywarden({ masterKey: provider, keyStore }), calls }));
    const cts = await Promise.all(instances.flatMap(({ kw }, i) => Array.from({ length: 25 }, (_, j) => kw.encrypt('shared', text(`${i}/${j}`)))));
    expect((await keyStore.listVersions('shared')).length).toBe(1);
    // Per instance, single-flight allows one generate and one unwrap at most. Exactly one
    // instance stored its key and never unwrapped (the winner); every other one unwrapped the
    // winner's key, after discarding its own if it had generated one (a loser).
    const shapes = instances.map(({ calls }) => `${calls.generate}/${calls.unwrap}`);
    expect(shapes.filter((s) => s === '1/0')).toHaveLength(1);
    expect(shapes.filter((s) => s === '1/1' || s === '0/1')).toHaveLength(7);
    expect(shapes.filter((s) => s === '1/1').length).toBeGreaterThan(0); // the race really happened
    for (const ct of cts) for (const { kw } of instances.slice(0, 2)) await kw.decrypt('shared', ct);
  });

  it('no ciphertext is returned before its key is stored', async () => {
    const keyStore = new MemoryKeyStore();
    let releaseInsert!: () => void;
    const gate = new Promise<void>((r) => (releaseInsert = r));
    const slowStore = wrapStore(keyStore, {
      insertFirst: async (rec) => {
        await gate;
        return keyStore.insertFirst(rec);
      },
    });
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: slowStore });
    let done = false;
    const p = kw.encrypt('gated', text('x')).then((ct) => ((done = true), ct));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    expect(await keyStore.getLatest('gated')).toBeUndefined();
    releaseInsert();
    await p;
    expect((await keyStore.getLatest('gated'))?.version).toBe(1);
  });

  it('a store failure during first use returns no ciphertext and reports ERR_STORE_FAILED', async () => {
    const keyStore = new MemoryKeyStore();
    const broken = wrapStore(keyStore, {
      insertFirst: async () => {
        throw new Error('connection reset');
      },
    });
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: broken });
    const err = await kw.encrypt('c', text('x')).catch((e) => e);
    expect(err.code).toBe('ERR_STORE_FAILED');
    expect(err.cause.message).toBe('connection reset');
  });
});

describe('rotation', () => {
  it('adds versions with activation and supersession times; old messages keep decrypting', async () => {
    let t = Date.parse('2026-01-01T00:00:00Z');
    const now = () => new Date(t);
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, now });
    const m1 = await kw.encrypt('rot', text('one'));
    t += 1000;
    const v2 = await kw.rotate('rot');
    expect(v2.version).toBe(2);
    const m2 = await kw.encrypt('rot', text('two'));
    t += 1000;
    const v3 = await kw.rotate('rot');
    const m3 = await kw.encrypt('rot', text('three'));
    expect([m1, m2, m3].map((c) => inspectCiphertext(c).keyVersion)).toEqual([1, 2, 3]);
    expect([str(await kw.decrypt('rot', m1)), str(await kw.decrypt('rot', m2)), str(await kw.decrypt('rot', m3))]).toEqual(['one', 'two', 'three']);
    const info = await kw.describeKeys('rot');
    expect(info.map((i) => [i.version, i.state, i.activatedAt.toISOString(), i.supersededAt?.toISOString() ?? null])).toEqual([
      [1, 'superseded', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z'],
      [2, 'superseded', '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:02.000Z'],
      [3, 'active', '2026-01-01T00:00:02.000Z', null],
    ]);
    expect(v3.activatedAt.toISOString()).toBe('2026-01-01T00:00:02.000Z');
    expect(info.every((i) => !('wrappedKey' in i))).toBe(true);
  });

  it('rotate on a conversation without a key creates version 1', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    expect((await kw.rotate('fresh')).version).toBe(1);
    expect(inspectCiphertext(await kw.encrypt('fresh', text('a'))).keyVersion).toBe(1);
  });

  it('a rotation on one instance reaches another once its pointer expires or its reservation runs out', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore, reservationSize: 4 });
    const b = new Keywarden({ masterKey, keyStore, reservationSize: 4 });
    expect(inspectCiphertext(await b.encrypt('x', text('1'))).keyVersion).toBe(1);
    await a.rotate('x');
    // b still holds 3 reserved seals under v1, then the store refuses to reserve on a superseded version.
    const versions = [];
    for (let i = 0; i < 5; i++) versions.push(inspectCiphertext(await b.encrypt('x', text('m'))).keyVersion);
    expect(versions).toEqual([1, 1, 1, 2, 2]);
  });

  it('concurrent rotations from the same version store one new version', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore });
    const b = new Keywarden({ masterKey, keyStore });
    await a.encrypt('cr', text('x'));
    const [ra, rb] = await Promise.all([a.rotate('cr'), b.rotate('cr')]);
    expect(ra.version).toBe(2);
    expect(rb.version).toBe(2);
    expect((await keyStore.listVersions('cr')).length).toBe(2);
  });
});

describe('message bound per key version', () => {
  it('rotates automatically when a version has sealed its limit, across instances', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const opts = { masterKey, keyStore, maxMessagesPerKey: 10, reservationSize: 3 };
    const a = new Keywarden(opts);
    const b = new Keywarden(opts);
    const cts = await Promise.all(Array.from({ length: 57 }, (_, i) => (i % 2 ? a : b).encrypt('busy', text(`m${i}`))));
    const perVersion = new Map<number, number>();
    for (const ct of cts) {
      const v = inspectCiphertext(ct).keyVersion;
      perVersion.set(v, (perVersion.get(v) ?? 0) + 1);
    }
    for (const n of perVersion.values()) expect(n).toBeLessThanOrEqual(10);
    expect(perVersion.size).toBeGreaterThanOrEqual(6);
    for (const r of await keyStore.listVersions('busy')) expect(r.sealedReserved).toBeLessThanOrEqual(10);
    for (let i = 0; i < cts.length; i++) expect(str(await a.decrypt('busy', cts[i]!))).toBe(`m${i}`);
  });

  it('with autoRotate off, refuses with ERR_KEY_LIMIT_REACHED once the bound is reached', async () => {
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, maxMessagesPerKey: 5, reservationSize: 2, autoRotate: false });
    for (let i = 0; i < 5; i++) await kw.encrypt('cap', text('m'));
    expect(await errorCode(kw.encrypt('cap', text('m')))).toBe('ERR_KEY_LIMIT_REACHED');
    expect((await keyStore.getLatest('cap'))?.sealedReserved).toBe(5);
    await kw.rotate('cap');
    expect(inspectCiphertext(await kw.encrypt('cap', text('m'))).keyVersion).toBe(2);
  });

  it('the default AES-256-GCM bound is 2^32 messages and reservations count toward it', async () => {
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, reservationSize: 1000 });
    await kw.encrypt('count', text('m'));
    const rec = (await keyStore.getLatest('count'))!;
    expect(rec.sealedReserved).toBe(1000);
    // Spend the remaining budget directly in the store, as other instances would.
    expect(await keyStore.reserveMessages('count', 1, 2 ** 33, 2 ** 32)).toBe(2 ** 32 - 1000);
    for (let i = 0; i < 999; i++) await kw.encrypt('count', text('m'));
    expect(inspectCiphertext(await kw.encrypt('count', text('m'))).keyVersion).toBe(2);
  });

  it('XChaCha20-Poly1305 keeps no count (192-bit nonces)', async () => {
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, suite: 'XChaCha20-Poly1305', reservationSize: 1 });
    for (let i = 0; i < 50; i++) await kw.encrypt('x', text('m'));
    const rec = (await keyStore.getLatest('x'))!;
    expect([rec.version, rec.sealedReserved, rec.suite]).toEqual([1, 0, 'XChaCha20-Poly1305']);
  });
});

describe('cross-instance invalidation (watchKeyChanges)', () => {
  it('a rotation on one instance reaches another at once through the store\'s notifications', async () => {
    const keyStore = new MemoryKeyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore });
    const b = new Keywarden({ masterKey, keyStore, watchKeyChanges: true, reservationSize: 1000 });
    await b.ready();
    expect(inspectCiphertext(await b.encrypt('w', text('1'))).keyVersion).toBe(1);
    await a.rotate('w');
    await new Promise((r) => setTimeout(r, 0)); // notifications are delivered after the change
    expect(inspectCiphertext(await b.encrypt('w', text('2'))).keyVersion).toBe(2); // not after 1000 reserved seals
    b.close();
    await a.rotate('w');
    // without the option, the old reservation keeps sealing until it runs out or the cache ages out
    const c = new Keywarden({ masterKey, keyStore, reservationSize: 1000 });
    expect(inspectCiphertext(await c.encrypt('w', text('3'))).keyVersion).toBe(3);
    await a.rotate('w');
    expect(inspectCiphertext(await c.encrypt('w', text('4'))).keyVersion).toBe(3);
  });

  it('refuses watchKeyChanges on a store without notifications', () => {
    expect(() => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: wrapStore(new MemoryKeyStore(), {}), watchKeyChanges: true })).toThrow(
      expect.objectContaining({ param: 'options.watchKeyChanges' }),
    );
  });
});
