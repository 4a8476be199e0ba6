// The data-key cache as seen through the Keywarden API (node entry): wiping on eviction and
// close, maximum age, partitioning of a shared cache, pinning in decryptMany, exact counters.
import { describe, expect, it } from 'vitest';
import { type GeneratedDataKey, Keywarden, LocalMasterKey, type MasterKeyProvider, MemoryKeyStore } from '../src/node.js';

/**
 * Wraps a LocalMasterKey and records every plaintext buffer it hands to keywarden (which owns
 * them and must wipe them when the key leaves its cache).
 */
class RecordingMasterKey implements MasterKeyProvider {
  readonly keyId: string;
  readonly inner: LocalMasterKey;
  readonly handed: { op: 'generate' | 'unwrap'; conversation: string; version: number; key: Uint8Array }[] = [];
  constructor(inner = new LocalMasterKey(LocalMasterKey.generateKey())) {
    this.inner = inner;
    this.keyId = inner.keyId;
  }
  async generateDataKey(context: Readonly<Record<string, string>>): Promise<GeneratedDataKey> {
    const g = await this.inner.generateDataKey(context);
    this.#record('generate', context, g.plaintextKey);
    return g;
  }
  async unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string): Promise<Uint8Array> {
    const k = await this.inner.unwrapDataKey(wrappedKey, context, masterKeyId);
    this.#record('unwrap', context, k);
    return k;
  }
  #record(op: 'generate' | 'unwrap', context: Readonly<Record<string, string>>, key: Uint8Array) {
    this.handed.push({ op, conversation: context['keywarden:conversation']!, version: Number(context['keywarden:key-version']), key });
  }
  count(op: 'generate' | 'unwrap'): number {
    return this.handed.filter((h) => h.op === op).length;
  }
  keysOf(conversation: string, version?: number): Uint8Array[] {
    return this.handed.filter((h) => h.conversation === conversation && (version === undefined || h.version === version)).map((h) => h.key);
  }
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);
const msg = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}


describe('keys are wiped when they leave the cache', () => {
  it('capacity eviction zeroes the evicted key; a still-cached key is intact; evicted keys reload', async () => {
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache: { maxEntries: 2 } });
    const ctA = await kw.encrypt('A', msg('to A'));
    const ctB = await kw.encrypt('B', msg('to B'));
    const ctC = await kw.encrypt('C', msg('to C'));
    expect(mk.count('generate')).toBe(3);
    const [keyA] = mk.keysOf('A');
    const [keyB] = mk.keysOf('B');
    const [keyC] = mk.keysOf('C');
    // Each conversation takes two entries (active pointer + key): A and B are gone, C is cached.
    expect(isZero(keyA!)).toBe(true);
    expect(isZero(keyB!)).toBe(true);
    expect(isZero(keyC!)).toBe(false);
    expect(kw.stats().cache.size).toBe(2);

    // C still seals under its cached key with no KMS call.
    const ctC2 = await kw.encrypt('C', msg('to C again'));
    expect(mk.count('unwrap')).toBe(0);

    // A's messages open after a reload, which in turn evicts (and wipes) C's key.
    expect(text(await kw.decrypt('A', ctA))).toBe('to A');
    expect(mk.count('unwrap')).toBe(1);
    expect(isZero(mk.keysOf('A', 1)[1]!)).toBe(false);
    expect(isZero(keyC!)).toBe(true);
    expect(text(await kw.decrypt('B', ctB))).toBe('to B');
    expect(text(await kw.decrypt('C', ctC))).toBe('to C');
    expect(text(await kw.decrypt('C', ctC2))).toBe('to C again');
    // Every buffer handed out is wiped except those the cache (2 entries) still holds.
    const live = mk.handed.filter((h) => !isZero(h.key));
    expect(live.length).toBeLessThanOrEqual(2);
    expect(live.length).toBeGreaterThanOrEqual(1);
  });

  it('close() wipes every key, empties the cache and makes every later call reject with ERR_CLOSED', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: mk, keyStore: store });
    const cts: [string, Uint8Array][] = [];
    for (const c of ['A', 'B', 'C']) cts.push([c, await kw.encrypt(c, msg(c))]);
    await kw.rotate('A');
    cts.push(['A', await kw.encrypt('A', msg('A2'))]);
    // Load some keys by unwrapping too (a second instance's ciphertexts, same store and key).
    const other = new Keywarden({ masterKey: mk, keyStore: store });
    cts.push(['D', await other.encrypt('D', msg('D'))]);
    expect(text(await kw.decrypt('D', cts[4]![1]))).toBe('D');
    expect(mk.count('unwrap')).toBe(1);
    const mine = mk.handed.filter((h) => h.conversation !== 'D' || h.op === 'unwrap');
    expect(mine.every((h) => !isZero(h.key))).toBe(true);

    kw.close();
    for (const h of mine) expect(isZero(h.key)).toBe(true);
    expect(kw.stats().cache.size).toBe(0);
    // The other instance (its own cache) is unaffected.
    expect(isZero(mk.keysOf('D', 1)[0]!)).toBe(false);

    const calls = mk.handed.length;
    const results = await Promise.all([
      codeOf(kw.encrypt('A', msg('x'))),
      codeOf(kw.encrypt('new', msg('x'))),
      codeOf(kw.decrypt('A', cts[0]![1])),
      codeOf(kw.decryptMany('A', [cts[0]![1]])),
      codeOf(kw.rotate('A')),
      codeOf(kw.describeKeys('A')),
      codeOf(kw.encryptString('A', 'x')),
      codeOf(kw.decryptString('A', cts[0]![1])),
    ]);
    expect(results).toEqual(Array(8).fill('ERR_CLOSED'));
    expect(mk.handed.length).toBe(calls);
    expect(kw.stats().cache.size).toBe(0);
    kw.close(); // idempotent
    expect(await codeOf(kw.encrypt('A', msg('x')))).toBe('ERR_CLOSED');
  });

  it('close() during an in-flight key load leaves no unwiped key behind', async () => {
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore() });
    const inflight = kw.encrypt('A', msg('racing close'));
    kw.close();
    await inflight.catch(() => undefined); // resolving or rejecting are both acceptable
    expect(mk.handed.length).toBeGreaterThanOrEqual(1);
    for (const h of mk.handed) expect(isZero(h.key)).toBe(true);
    expect(kw.stats().cache.size).toBe(0);
  });
});

describe('maximum age', () => {
  it('maxAgeMs 0: every encrypt reloads its key (one unwrap each) and messages still round-trip', async () => {
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache: { maxAgeMs: 0 } });
    const cts: Uint8Array[] = [];
    for (let i = 1; i <= 5; i++) {
      cts.push(await kw.encrypt('A', msg(`m${i}`)));
      expect(kw.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: i - 1 });
      expect(mk.count('unwrap')).toBe(i - 1);
    }
    for (const [i, ct] of cts.entries()) expect(text(await kw.decrypt('A', ct))).toBe(`m${i + 1}`);
    expect(kw.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: 4 + 5 });
    // Every superseded copy was wiped when it expired out of the cache.
    const keys = mk.handed.map((h) => h.key);
    for (const k of keys.slice(0, -1)) expect(isZero(k)).toBe(true);
    expect((await kw.describeKeys('A')).map((k) => k.version)).toEqual([1]);
  });

  it('with an injected clock: a key is reused until maxAgeMs, then wiped and reloaded', async () => {
    let t = 1_000_000;
    const cache = Keywarden.createCache({ maxAgeMs: 60_000 }, () => t);
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache });
    const ct1 = await kw.encrypt('A', msg('one'));
    const [generated] = mk.keysOf('A');
    t += 59_999;
    const ct2 = await kw.encrypt('A', msg('two'));
    expect(text(await kw.decrypt('A', ct1))).toBe('one');
    expect(mk.count('unwrap')).toBe(0);
    expect(isZero(generated!)).toBe(false);
    t += 1;
    const ct3 = await kw.encrypt('A', msg('three'));
    expect(mk.count('unwrap')).toBe(1);
    expect(isZero(generated!)).toBe(true);
    for (const [ct, m] of [[ct1, 'one'], [ct2, 'two'], [ct3, 'three']] as const) expect(text(await kw.decrypt('A', ct))).toBe(m);
    expect(mk.count('unwrap')).toBe(1);
    expect(mk.count('generate')).toBe(1);
  });
});

describe('a shared cache is partitioned by master key', () => {
  it('two instances with different master keys and stores never see each other’s keys', async () => {
    const cache = Keywarden.createCache({ maxEntries: 100 });
    const mkA = new RecordingMasterKey();
    const mkB = new RecordingMasterKey();
    expect(mkA.keyId).not.toBe(mkB.keyId);
    const kwA = new Keywarden({ masterKey: mkA, keyStore: new MemoryKeyStore(), cache });
    const kwB = new Keywarden({ masterKey: mkB, keyStore: new MemoryKeyStore(), cache });

    const ctA = await kwA.encrypt('conv', msg('from A'));
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 1, loads: 1, size: 2 });
    const ctB = await kwB.encrypt('conv', msg('from B'));
    // B missed (no hit on A's entries for the same conversation id) and generated its own key.
    expect(cache.stats()).toMatchObject({ hits: 0, misses: 2, loads: 2, size: 4 });
    expect(kwB.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: 0 });
    expect(mkA.keysOf('conv')[0]).not.toEqual(mkB.keysOf('conv')[0]);

    expect(text(await kwA.decrypt('conv', ctA))).toBe('from A');
    expect(text(await kwB.decrypt('conv', ctB))).toBe('from B');
    expect(await codeOf(kwA.decrypt('conv', ctB))).toBe('ERR_DECRYPT_FAILED');
    expect(await codeOf(kwB.decrypt('conv', ctA))).toBe('ERR_DECRYPT_FAILED');
    const many = await kwB.decryptMany('conv', [ctA, ctB]);
    expect(many.map((r) => r.ok)).toEqual([false, true]);
    expect(mkA.count('unwrap') + mkB.count('unwrap')).toBe(0);

    // Closing A wipes A's partition only.
    kwA.close();
    expect(isZero(mkA.keysOf('conv')[0]!)).toBe(true);
    expect(isZero(mkB.keysOf('conv')[0]!)).toBe(false);
    expect(cache.stats().size).toBe(2);
    expect(text(await kwB.decrypt('conv', ctB))).toBe('from B');
    expect(await codeOf(kwA.decrypt('conv', ctA))).toBe('ERR_CLOSED');
  });

  it('master key ids that are prefixes of one another do not share entries', async () => {
    const cache = Keywarden.createCache({ maxEntries: 100 });
    const mk1 = new RecordingMasterKey(new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'k' }));
    const mk2 = new RecordingMasterKey(new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'k1' }));
    const kw1 = new Keywarden({ masterKey: mk1, keyStore: new MemoryKeyStore(), cache });
    const kw2 = new Keywarden({ masterKey: mk2, keyStore: new MemoryKeyStore(), cache });
    // Conversation ids chosen so that naive concatenation of key id and conversation id collide.
    const ct1 = await kw1.encrypt('1conv', msg('one'));
    const ct2 = await kw2.encrypt('conv', msg('two'));
    expect(mk2.count('generate')).toBe(1);
    expect(cache.stats().hits).toBe(0);
    expect(text(await kw1.decrypt('1conv', ct1))).toBe('one');
    expect(text(await kw2.decrypt('conv', ct2))).toBe('two');
    kw2.close();
    expect(text(await kw1.decrypt('1conv', ct1))).toBe('one');
    expect(isZero(mk1.keysOf('1conv')[0]!)).toBe(false);
  });
});

describe('decryptMany pins the keys of a page', () => {
  it('with maxEntries 1, a page spanning 3 key versions opens every message; evicted keys are wiped after the call', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey: mk, keyStore: store });
    const cts: Uint8Array[] = [];
    cts.push(await writer.encrypt('A', msg('v1'), { aad: 'id-1' }));
    await writer.rotate('A');
    cts.push(await writer.encrypt('A', msg('v2'), { aad: 'id-2' }));
    await writer.rotate('A');
    cts.push(await writer.encrypt('A', msg('v3'), { aad: 'id-3' }));
    cts.push(await writer.encrypt('A', msg('v3b')));
    writer.close();

    const reader = new Keywarden({ masterKey: mk, keyStore: store, cache: { maxEntries: 1 } });
    const results = await reader.decryptMany('A', [
      { ciphertext: cts[0]!, aad: 'id-1' },
      { ciphertext: cts[1]!, aad: 'id-2' },
      { ciphertext: cts[2]!, aad: 'id-3' },
      cts[3]!,
      { ciphertext: cts[0]!, aad: 'wrong' },
      cts[1]!, // missing aad
    ]);
    expect(results.slice(0, 4).map((r) => (r.ok ? text(r.plaintext) : r.error.code))).toEqual(['v1', 'v2', 'v3', 'v3b']);
    expect(results.slice(4).map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ERR_DECRYPT_FAILED', 'ERR_DECRYPT_FAILED']);
    // One unwrap per version, each loaded once for the page.
    expect(reader.stats().kms).toEqual({ generateDataKey: 0, unwrapDataKey: 3 });
    expect(reader.stats().cache).toMatchObject({ misses: 3, loads: 3, evictions: 2, size: 1 });
    const unwrapped = mk.handed.filter((h) => h.op === 'unwrap');
    expect(unwrapped.map((h) => h.version)).toEqual([1, 2, 3]);
    // Versions 1 and 2 were evicted during the page: wiped once the page released them.
    expect(isZero(unwrapped[0]!.key)).toBe(true);
    expect(isZero(unwrapped[1]!.key)).toBe(true);
    expect(isZero(unwrapped[2]!.key)).toBe(false); // still cached
    // The next page reloads what was evicted and still works.
    const again = await reader.decryptMany('A', [{ ciphertext: cts[0]!, aad: 'id-1' }]);
    expect(again[0]!.ok && text(again[0]!.plaintext)).toBe('v1');
    expect(isZero(unwrapped[2]!.key)).toBe(true);
  });
});

describe('counters', () => {
  it('a scripted sequence gives exact cache and KMS counts', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: mk, keyStore: store });
    const z = { hits: 0, misses: 0, loads: 0, coalesced: 0, evictions: 0, size: 0 };
    expect(kw.stats()).toEqual({ cache: z, kms: { generateDataKey: 0, unwrapDataKey: 0 } });

    const a1 = await kw.encrypt('A', msg('a1')); // pointer miss, one load, generate; caches pointer + key
    expect(kw.stats()).toEqual({ cache: { ...z, misses: 1, loads: 1, size: 2 }, kms: { generateDataKey: 1, unwrapDataKey: 0 } });
    await kw.encrypt('A', msg('a2')); // pointer hit
    await kw.decrypt('A', a1); // key hit
    expect(kw.stats().cache).toEqual({ ...z, hits: 2, misses: 1, loads: 1, size: 2 });
    await kw.encrypt('B', msg('b1'));
    expect(kw.stats()).toEqual({ cache: { ...z, hits: 2, misses: 2, loads: 2, size: 4 }, kms: { generateDataKey: 2, unwrapDataKey: 0 } });
    await kw.rotate('A'); // generate; looks up the old key (hit) to stop sealing with it; caches v2, replaces pointer
    expect(kw.stats()).toEqual({ cache: { ...z, hits: 3, misses: 2, loads: 2, size: 5 }, kms: { generateDataKey: 3, unwrapDataKey: 0 } });
    const a3 = await kw.encrypt('A', msg('a3')); // pointer hit (v2)
    await kw.decrypt('A', a1); // v1 key hit
    await kw.decrypt('A', a3); // v2 key hit
    expect(kw.stats()).toEqual({ cache: { ...z, hits: 6, misses: 2, loads: 2, size: 5 }, kms: { generateDataKey: 3, unwrapDataKey: 0 } });
    expect(mk.count('generate')).toBe(3);
    expect(mk.count('unwrap')).toBe(0);

    // A second instance with a cold cache: a page over both versions loads each once.
    const cold = new Keywarden({ masterKey: mk, keyStore: store });
    await cold.decryptMany('A', [a1, a3, a1]);
    expect(cold.stats()).toEqual({ cache: { ...z, misses: 2, loads: 2, size: 2 }, kms: { generateDataKey: 0, unwrapDataKey: 2 } });
    await cold.decryptMany('A', [a3]);
    expect(cold.stats()).toEqual({ cache: { ...z, hits: 1, misses: 2, loads: 2, size: 2 }, kms: { generateDataKey: 0, unwrapDataKey: 2 } });
    expect(mk.count('unwrap')).toBe(2);
  });

  it('50 concurrent first encrypts of one conversation: one load, one data key, 49 coalesced', async () => {
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore() });
    const cts = await Promise.all(Array.from({ length: 50 }, (_, i) => kw.encrypt('A', msg(`m${i}`))));
    expect(kw.stats()).toEqual({
      cache: { hits: 0, misses: 50, loads: 1, coalesced: 49, evictions: 0, size: 2 },
      kms: { generateDataKey: 1, unwrapDataKey: 0 },
    });
    expect(mk.count('generate')).toBe(1);
    for (const [i, ct] of cts.entries()) expect(text(await kw.decrypt('A', ct))).toBe(`m${i}`);
    expect((await kw.describeKeys('A')).map((k) => k.version)).toEqual([1]);
  });

  it('a cold decrypt counts one miss and one load, like decryptMany', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const ct = await new Keywarden({ masterKey: mk, keyStore: store }).encrypt('A', msg('x'));
    const viaDecrypt = new Keywarden({ masterKey: mk, keyStore: store });
    await viaDecrypt.decrypt('A', ct);
    const viaMany = new Keywarden({ masterKey: mk, keyStore: store });
    await viaMany.decryptMany('A', [ct]);
    expect(viaMany.stats().cache).toMatchObject({ hits: 0, misses: 1, loads: 1 });
    expect(viaDecrypt.stats().cache).toMatchObject({ hits: 0, misses: 1, loads: 1 });
  });
});
