/**
 * The shared key path (src/keys/key-path.ts, src/keys/lifecycle.ts) through Keywarden: every
 * plaintext data key a master key provider hands over is wiped once keywarden is done with it
 * (cached, refused, lost race, failed insert, late answer), whatever a provider returns is
 * checked, and failures leave as keywarden's own errors (found by mutation testing, issue #11).
 */
import { describe, expect, it } from 'vitest';
import {
  type GeneratedDataKey, KmsError, Keywarden, type KeywardenOptions, LocalMasterKey, type MasterKeyProvider, MemoryKeyStore, StoreError,
} from '../src/node.js';
import type { KeyStore } from '../src/store/types.js';
import { errorCode, wrapStore } from './support/fixtures.js';

const isZero = (b: Uint8Array) => b.every((x) => x === 0);
const text = new TextEncoder().encode('hello');

/** A LocalMasterKey whose answers the test can see (and keep) or replace. */
function watchedKey(over: { generate?: (g: GeneratedDataKey) => unknown; unwrap?: (k: Uint8Array) => unknown } = {}) {
  const inner = new LocalMasterKey(LocalMasterKey.generateKey());
  const generated: Uint8Array[] = [];
  const unwrapped: Uint8Array[] = [];
  const masterKey: MasterKeyProvider = {
    keyId: inner.keyId,
    async generateDataKey(context) {
      const g = await inner.generateDataKey(context);
      generated.push(g.plaintextKey);
      return (over.generate ? over.generate(g) : g) as GeneratedDataKey;
    },
    async unwrapDataKey(w, context, id) {
      const k = await inner.unwrapDataKey(w, context, id);
      unwrapped.push(k);
      return (over.unwrap ? over.unwrap(k) : k) as Uint8Array;
    },
  };
  return { masterKey, generated, unwrapped };
}

const make = (masterKey: MasterKeyProvider, keyStore: KeyStore, extra: Partial<KeywardenOptions> = {}) => new Keywarden({ masterKey, keyStore, ...extra });

describe('plaintext data keys from the provider are wiped', () => {
  it('after a new key is stored and cached, and after an unwrapped key is cached; both still work', async () => {
    const w = watchedKey();
    const store = new MemoryKeyStore();
    const a = make(w.masterKey, store);
    const ct = await a.encrypt('c', text);
    expect(w.generated).toHaveLength(1);
    expect(isZero(w.generated[0]!)).toBe(true);
    const b = make(w.masterKey, store);
    expect(new Uint8Array(await b.decrypt('c', ct))).toEqual(text);
    expect(w.unwrapped).toHaveLength(1);
    expect(isZero(w.unwrapped[0]!)).toBe(true);
    expect(new Uint8Array(await b.decrypt('c', await b.encrypt('c', text)))).toEqual(text);
    // Rotation: the new version's key too.
    await a.rotate('c');
    expect(w.generated).toHaveLength(2);
    expect(isZero(w.generated[1]!)).toBe(true);
    expect(a.stats().kms).toEqual({ generateDataKey: 2, unwrapDataKey: 0 });
    expect(b.stats().kms).toEqual({ generateDataKey: 0, unwrapDataKey: 1 });
  });

  it('when the insert fails (ERR_STORE_FAILED) or another instance won the race (its key is used)', async () => {
    const w = watchedKey();
    const inner = new MemoryKeyStore();
    const failing = wrapStore(inner, { insertFirst: async () => Promise.reject(new Error('disk full')) });
    const e = await make(w.masterKey, failing).encrypt('c', text).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(StoreError);
    expect((e as StoreError).code).toBe('ERR_STORE_FAILED');
    expect((e as StoreError).cause).toBeInstanceOf(Error);
    expect(isZero(w.generated[0]!)).toBe(true);
    await expect(inner.getLatest('c')).resolves.toBeUndefined();

    // Lost race: the store says "no key" to this instance's first read, but another instance inserts first.
    const winner = make(w.masterKey, inner);
    const winnerCt = await winner.encrypt('r', text);
    let hidden = true;
    const racing = wrapStore(inner, { getLatest: async (c) => (hidden ? ((hidden = false), undefined) : inner.getLatest(c)) });
    const loser = make(w.masterKey, racing);
    const loserCt = await loser.encrypt('r', text);
    const lost = w.generated.at(-1)!;
    expect(w.generated).toHaveLength(3);
    expect(isZero(lost)).toBe(true);
    expect(new Uint8Array(await winner.decrypt('r', loserCt))).toEqual(text);
    expect(new Uint8Array(await loser.decrypt('r', winnerCt))).toEqual(text);
    expect((await inner.listVersions('r')).length).toBe(1);
  });

  it('when a rotation loses to another instance: the winner version is used from then on', async () => {
    const w = watchedKey();
    const inner = new MemoryKeyStore();
    const a = make(w.masterKey, inner);
    const b = make(w.masterKey, inner);
    await a.encrypt('c', text);
    await b.encrypt('c', text);
    await a.rotate('c'); // version 2 by a
    const rec = await b.rotate('c'); // b has version 1 cached, but rotates from the stored active version
    expect(rec).toMatchObject({ version: 3 });
    expect(isZero(w.generated.at(-1)!)).toBe(true);
    // A racing rotation from the same version stores one new version and wipes the loser's key.
    const c = make(w.masterKey, wrapStore(inner, { getLatest: async (conv) => (await inner.getVersion(conv, 3)) }));
    const d = make(w.masterKey, inner);
    await d.rotate('c'); // 4
    const r2 = await c.rotate('c'); // from 3: loses to 4
    expect(r2.version).toBe(4);
    expect(isZero(w.generated.at(-1)!)).toBe(true);
    expect((await inner.listVersions('c')).map((v) => v.version)).toEqual([1, 2, 3, 4]);
  });
});

describe('what a provider returns is checked', () => {
  it('an unwrapped key of another length is wiped and refused with ERR_KMS_FAILED', async () => {
    for (const len of [0, 16, 31, 33, 64]) {
      let given: Uint8Array | undefined;
      const w = watchedKey({ unwrap: (k) => (given = new Uint8Array(len).fill(0x5a), k.fill(0), given) });
      const store = new MemoryKeyStore();
      const ct = await make(w.masterKey, store).encrypt('c', text);
      const e = await make(w.masterKey, store).decrypt('c', ct).catch((err: unknown) => err);
      expect(e, `length ${len}`).toBeInstanceOf(KmsError);
      expect((e as KmsError).code).toBe('ERR_KMS_FAILED');
      expect(isZero(given!)).toBe(true);
    }
    for (const bad of [undefined, 'k'.repeat(32), [...new Uint8Array(32)], new Uint16Array(16)]) {
      const w = watchedKey({ unwrap: () => bad });
      const store = new MemoryKeyStore();
      const ct = await make(w.masterKey, store).encrypt('c', text);
      expect(await errorCode(make(w.masterKey, store).decrypt('c', ct))).toBe('ERR_KMS_FAILED');
    }
  });

  it('a generated key without 32 plaintext bytes, wrapped bytes or a key id is wiped and refused with ERR_KMS_FAILED; nothing is stored', async () => {
    // Each case returns [what the provider answers, the plaintext buffer keywarden was handed].
    const cases: [string, (g: GeneratedDataKey) => [unknown, Uint8Array | undefined]][] = [
      ['31-byte plaintext', (g) => { const p = g.plaintextKey.slice(0, 31); return [{ ...g, plaintextKey: p }, p]; }],
      ['33-byte plaintext', (g) => { const p = Uint8Array.from([...g.plaintextKey, 1]); return [{ ...g, plaintextKey: p }, p]; }],
      ['wrapped key a string', (g) => [{ ...g, wrappedKey: 'x' }, g.plaintextKey]],
      ['no key id', (g) => [{ plaintextKey: g.plaintextKey, wrappedKey: g.wrappedKey }, g.plaintextKey]],
      ['key id a number', (g) => [{ ...g, masterKeyId: 7 }, g.plaintextKey]],
      ['undefined', () => [undefined, undefined]],
      ['null', () => [null, undefined]],
    ];
    for (const [name, change] of cases) {
      let handed: Uint8Array | undefined;
      const w = watchedKey({ generate: (g) => {
        const [answer, plaintext] = change(g);
        handed = plaintext;
        return answer;
      } });
      const store = new MemoryKeyStore();
      expect(await errorCode(make(w.masterKey, store).encrypt('c', text)), name).toBe('ERR_KMS_FAILED');
      if (handed) expect(isZero(handed), name).toBe(true);
      await expect(store.getLatest('c')).resolves.toBeUndefined();
    }
  });

  it('a provider failure is ERR_KMS_FAILED with the cause kept; keywarden errors pass through unchanged', async () => {
    const boom = new Error('boom');
    const failing = (err: unknown): MasterKeyProvider => ({ keyId: 'k', generateDataKey: async () => Promise.reject(err), unwrapDataKey: async () => Promise.reject(err) });
    const e = await make(failing(boom), new MemoryKeyStore()).encrypt('c', text).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_KMS_FAILED', cause: boom });
    const denied = new KmsError('ERR_KMS_ACCESS_DENIED', 'no');
    expect(await make(failing(denied), new MemoryKeyStore()).encrypt('c', text).catch((x: unknown) => x)).toBe(denied);

    const w = watchedKey();
    const store = new MemoryKeyStore();
    const ct = await make(w.masterKey, store).encrypt('c', text);
    expect(await make(failing(boom), store).decrypt('c', ct).catch((x: unknown) => x)).toMatchObject({ code: 'ERR_KMS_FAILED', cause: boom });
    expect(await make(failing(denied), store).decrypt('c', ct).catch((x: unknown) => x)).toBe(denied);
  });

  it('a key that arrives after the deadline is wiped (generate and unwrap)', async () => {
    const inner = new LocalMasterKey(LocalMasterKey.generateKey());
    const late: Uint8Array[] = [];
    const slow: MasterKeyProvider = {
      keyId: inner.keyId,
      generateDataKey: async (c) => {
        await new Promise((r) => setTimeout(r, 120));
        const g = await inner.generateDataKey(c);
        late.push(g.plaintextKey);
        return g;
      },
      unwrapDataKey: async (w, c, id) => {
        await new Promise((r) => setTimeout(r, 120));
        const k = await inner.unwrapDataKey(w, c, id);
        late.push(k);
        return k;
      },
    };
    const store = new MemoryKeyStore();
    expect(await errorCode(make(slow, store, { timeouts: { kmsMs: 20 } }).encrypt('c', text))).toBe('ERR_KMS_UNAVAILABLE');
    const ct = await make(inner, store).encrypt('d', text);
    expect(await errorCode(make(slow, store, { timeouts: { kmsMs: 20 } }).decrypt('d', ct))).toBe('ERR_KMS_UNAVAILABLE');
    await new Promise((r) => setTimeout(r, 250));
    expect(late).toHaveLength(2);
    expect(late.every(isZero)).toBe(true);
  });
});

describe('master key calls under the deadline', () => {
  it('generate and unwrap get an AbortSignal that aborts with ERR_KMS_UNAVAILABLE at the deadline', async () => {
    const inner = new LocalMasterKey(LocalMasterKey.generateKey());
    const seen: { op: string; signal: AbortSignal | undefined }[] = [];
    let hang = false;
    const provider: MasterKeyProvider = {
      keyId: inner.keyId,
      generateDataKey: async (c, o) => {
        seen.push({ op: 'generate', signal: o?.signal });
        if (hang) await new Promise((r) => setTimeout(r, 200));
        return inner.generateDataKey(c);
      },
      unwrapDataKey: async (w, c, id, o) => {
        seen.push({ op: 'unwrap', signal: o?.signal });
        if (hang) await new Promise((r) => setTimeout(r, 200));
        return inner.unwrapDataKey(w, c, id);
      },
    };
    const store = new MemoryKeyStore();
    const ct = await make(provider, store).encrypt('c', text);
    expect(new Uint8Array(await make(provider, store).decrypt('c', ct))).toEqual(text);
    expect(seen.map((x) => [x.op, x.signal instanceof AbortSignal, x.signal?.aborted])).toEqual([['generate', true, false], ['unwrap', true, false]]);
    hang = true;
    seen.length = 0;
    expect(await errorCode(make(provider, store, { timeouts: { kmsMs: 20 } }).encrypt('d', text))).toBe('ERR_KMS_UNAVAILABLE');
    expect(await errorCode(make(provider, store, { timeouts: { kmsMs: 20 } }).decrypt('c', ct))).toBe('ERR_KMS_UNAVAILABLE');
    expect(seen.map((x) => [x.op, x.signal?.aborted, (x.signal?.reason as { code?: string } | undefined)?.code])).toEqual([
      ['generate', true, 'ERR_KMS_UNAVAILABLE'], ['unwrap', true, 'ERR_KMS_UNAVAILABLE'],
    ]);
    await new Promise((r) => setTimeout(r, 250));
  });

  it('a late answer that is not a key is dropped quietly (no unhandled rejection)', async () => {
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    try {
      for (const junk of [undefined, 'junk', { plaintextKey: 'junk' }, 7]) {
        const slowJunk: MasterKeyProvider = {
          keyId: 'k',
          generateDataKey: async () => new Promise((r) => setTimeout(() => r(junk as never), 40)),
          unwrapDataKey: async () => new Promise((r) => setTimeout(() => r(junk as never), 40)),
        };
        const store = new MemoryKeyStore();
        const ct = await make(new LocalMasterKey(LocalMasterKey.generateKey()), store).encrypt('c', text);
        expect(await errorCode(make(slowJunk, store, { timeouts: { kmsMs: 10 } }).encrypt('d', text))).toBe('ERR_KMS_UNAVAILABLE');
        expect(await errorCode(make(slowJunk, store, { timeouts: { kmsMs: 10 } }).decrypt('c', ct))).toBe('ERR_KMS_UNAVAILABLE');
      }
      await new Promise((r) => setTimeout(r, 150));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toEqual([]);
  });
});

describe('store answers are checked and mapped', () => {
  it('a record naming an unknown suite is ERR_STORE_FAILED', async () => {
    const w = watchedKey();
    const inner = new MemoryKeyStore();
    const ct = await make(w.masterKey, inner).encrypt('c', text);
    const odd = wrapStore(inner, { getVersion: async (c, v) => {
      const r = await inner.getVersion(c, v);
      return r && { ...r, suite: 'ROT13' as never };
    }, getLatest: async (c) => {
      const r = await inner.getLatest(c);
      return r && { ...r, suite: 'ROT13' as never };
    } });
    const e = await make(w.masterKey, odd).decrypt('c', ct).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StoreError);
    expect(await errorCode(make(w.masterKey, odd).encrypt('c', text))).toBe('ERR_STORE_FAILED');
  });

  it('a store failure is ERR_STORE_FAILED (not retryable) with the cause kept; keywarden errors pass through', async () => {
    const boom = new Error('boom');
    const w = watchedKey();
    const e = await make(w.masterKey, wrapStore(new MemoryKeyStore(), { getLatest: async () => Promise.reject(boom) })).encrypt('c', text).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'ERR_STORE_FAILED', cause: boom, retryable: false });
    const own = new StoreError('mine', undefined, true);
    expect(await make(w.masterKey, wrapStore(new MemoryKeyStore(), { getLatest: async () => Promise.reject(own) })).encrypt('c', text).catch((x: unknown) => x)).toBe(own);
  });

  it('decrypt of key version 0 never reaches the store; the highest version is looked up', async () => {
    const w = watchedKey();
    const inner = new MemoryKeyStore();
    const reads: number[] = [];
    const kw = make(w.masterKey, wrapStore(inner, { getVersion: async (c, v) => (reads.push(v), inner.getVersion(c, v)) }));
    const ct = await kw.encrypt('c', text);
    const relabel = (v: number) => {
      const b = Uint8Array.from(ct);
      new DataView(b.buffer).setUint32(2, v);
      return b;
    };
    expect(await errorCode(kw.decrypt('c', relabel(0)))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(kw.decrypt('c', relabel(2)))).toBe('ERR_DECRYPT_FAILED');
    expect(await errorCode(kw.decrypt('c', relabel(0xffff_ffff)))).toBe('ERR_DECRYPT_FAILED');
    expect(reads).toEqual([2, 0xffff_ffff]);
  });
});

describe('options.timeouts', () => {
  const kwWith = (timeouts: unknown) => make(new LocalMasterKey(LocalMasterKey.generateKey()), new MemoryKeyStore(), { timeouts } as Partial<KeywardenOptions>);
  const param = (timeouts: unknown) => {
    try {
      kwWith(timeouts);
      return 'ok';
    } catch (e) {
      return (e as { param?: string }).param;
    }
  };

  it('defaults to 10 s each; either may be set alone; both are frozen', () => {
    expect(kwWith(undefined).timeouts).toEqual({ kmsMs: 10_000, storeMs: 10_000 });
    expect(kwWith({}).timeouts).toEqual({ kmsMs: 10_000, storeMs: 10_000 });
    expect(kwWith({ kmsMs: 5 }).timeouts).toEqual({ kmsMs: 5, storeMs: 10_000 });
    expect(kwWith({ storeMs: 7 }).timeouts).toEqual({ kmsMs: 10_000, storeMs: 7 });
    expect(Object.isFrozen(kwWith({ kmsMs: 5 }).timeouts)).toBe(true);
    expect(Object.isFrozen(kwWith(undefined).timeouts)).toBe(true);
  });

  it('each is an integer from 1 ms to one hour; nothing else is accepted', () => {
    for (const k of ['kmsMs', 'storeMs']) {
      expect(param({ [k]: 1 })).toBe('ok');
      expect(param({ [k]: 3_600_000 })).toBe('ok');
      for (const bad of [0, -1, 3_600_001, 1.5, '10']) expect(param({ [k]: bad }), `${k} ${String(bad)}`).toBe(`options.timeouts.${k}`);
    }
    expect(param({ kmsMs: 5, other: 1 })).toBe('options.timeouts.other');
    expect(param(5)).toBe('options.timeouts');
  });
});
