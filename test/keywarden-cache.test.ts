// The data-key cache as seen through the Keywarden API (node entry): eviction and reload, wiping
// on eviction and close, maximum age, partitioning of a shared cache, pinning in decryptMany,
// exact counters.
//
// Keywarden copies each data key into the cache's slab and wipes the provider's buffer at once,
// so "the provider's buffer is zeroed" holds after every call. Whether a key is still cached is
// observed two ways: as a reload (the unwrapDataKey count grows), and through the slab itself —
// a recording AEAD keeps the key views Keywarden hands it, which read zero once the key leaves
// the cache (as long as no later insert has reused the slot).
import { describe, expect, it } from 'vitest';
import {
  type AeadImpl,
  type GeneratedDataKey,
  KeyCache,
  Keywarden,
  LocalMasterKey,
  type MasterKeyProvider,
  MemoryKeyStore,
  type SuiteId,
  inspectCiphertext,
} from '../src/node.js';
import { nodeAead } from '../src/aead/node.js';


/** The cache and KMS counters (the key-change subscription's state is tested in watch-key-changes.test.ts). */
const cacheAndKms = ({ cache, kms }: { cache: unknown; kms: unknown }) => ({ cache, kms });
/**
 * Wraps a LocalMasterKey and records every plaintext buffer it hands to keywarden (which must
 * wipe it once copied into its cache), with a copy of the key taken at hand-off.
 */
class RecordingMasterKey implements MasterKeyProvider {
  readonly keyId: string;
  readonly inner: LocalMasterKey;
  readonly handed: { op: 'generate' | 'unwrap'; conversation: string; version: number; key: Uint8Array; copy: Uint8Array }[] = [];
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
    this.handed.push({ op, conversation: context['keywarden:conversation']!, version: Number(context['keywarden:key-version']), key, copy: key.slice() });
  }
  count(op: 'generate' | 'unwrap'): number {
    return this.handed.filter((h) => h.op === op).length;
  }
  /** The data key of a conversation version (as first handed out). */
  keyOf(conversation: string, version = 1): Uint8Array {
    const h = this.handed.find((x) => x.conversation === conversation && x.version === version);
    if (!h) throw new Error(`no key handed out for ${conversation} v${version}`);
    return h.copy;
  }
  /** Every plaintext buffer handed to keywarden has been wiped. */
  expectAllWiped() {
    for (const h of this.handed) expect(isZero(h.key), `${h.op} ${h.conversation} v${h.version}`).toBe(true);
  }
}

/**
 * node:crypto AEAD that keeps the key views Keywarden passes in: views into the cache's slab, so
 * they show later wipes (or a later key reusing the slot).
 */
class RecordingAead implements AeadImpl {
  readonly name = 'recording';
  readonly used: { view: Uint8Array; copy: Uint8Array }[] = [];
  seal(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, prefix?: Uint8Array): Uint8Array {
    this.used.push({ view: key, copy: key.slice() });
    return nodeAead.seal(suite, key, nonce, plaintext, aad, prefix);
  }
  open(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, ciphertextAndTag: Uint8Array, aad: Uint8Array, start?: number): Uint8Array | null {
    this.used.push({ view: key, copy: key.slice() });
    return nodeAead.open(suite, key, nonce, ciphertextAndTag, aad, start);
  }
  /** The slab view through which `key` was last used. */
  viewOf(key: Uint8Array): Uint8Array {
    const hit = this.used.filter((u) => equal(u.copy, key)).at(-1);
    if (!hit) throw new Error('key never used');
    return hit.view;
  }
}

const isZero = (b: Uint8Array) => b.every((x) => x === 0);
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const msg = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const keyVersion = (ct: Uint8Array) => inspectCiphertext(ct).keyVersion;
const zero = { hits: 0, misses: 0, loads: 0, coalesced: 0, evictions: 0, size: 0 };

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

describe('eviction, reload and wiping', () => {
  it('capacity eviction: the LRU conversation’s key is wiped and reloads; still-cached keys make no KMS call', async () => {
    const mk = new RecordingMasterKey();
    const aead = new RecordingAead();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache: { maxEntries: 2 }, aead });
    const ctA = await kw.encrypt('A', msg('to A'));
    mk.expectAllWiped();
    const ctB = await kw.encrypt('B', msg('to B'));
    mk.expectAllWiped();
    const ctC = await kw.encrypt('C', msg('to C')); // one entry per key version: 3 > 2, A (LRU) goes
    mk.expectAllWiped();
    expect(mk.count('generate')).toBe(3);
    expect(kw.stats().cache).toEqual({ ...zero, misses: 3, loads: 3, evictions: 1, size: 2 });
    expect(isZero(aead.viewOf(mk.keyOf('A')))).toBe(true);
    expect(aead.viewOf(mk.keyOf('B'))).toEqual(mk.keyOf('B'));
    expect(aead.viewOf(mk.keyOf('C'))).toEqual(mk.keyOf('C'));

    // B and C are cached: no KMS call. Order of use afterwards: C, then B.
    const ctC2 = await kw.encrypt('C', msg('to C again'));
    expect(text(await kw.decrypt('B', ctB))).toBe('to B');
    expect(kw.stats().kms).toEqual({ generateDataKey: 3, unwrapDataKey: 0 });

    // A was evicted: it reloads through unwrapDataKey, which evicts C (now the LRU conversation).
    expect(text(await kw.decrypt('A', ctA))).toBe('to A');
    mk.expectAllWiped();
    expect(mk.count('unwrap')).toBe(1);
    expect(isZero(aead.viewOf(mk.keyOf('C')))).toBe(true);
    expect(text(await kw.decrypt('B', ctB))).toBe('to B'); // still cached
    expect(mk.count('unwrap')).toBe(1);
    expect(text(await kw.decrypt('C', ctC))).toBe('to C'); // reloads, evicting A
    expect(text(await kw.decrypt('C', ctC2))).toBe('to C again');
    expect(mk.count('unwrap')).toBe(2);
    mk.expectAllWiped();
    expect(cacheAndKms(kw.stats())).toEqual({
      cache: { hits: 4, misses: 5, loads: 5, coalesced: 0, evictions: 3, size: 2 },
      kms: { generateDataKey: 3, unwrapDataKey: 2 },
    });
  });

  it('close() wipes every key, empties the cache and makes every later call reject with ERR_CLOSED', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const aead = new RecordingAead();
    const kw = new Keywarden({ masterKey: mk, keyStore: store, aead });
    const cts: [string, Uint8Array][] = [];
    for (const c of ['A', 'B', 'C']) cts.push([c, await kw.encrypt(c, msg(c))]);
    await kw.rotate('A');
    cts.push(['A', await kw.encrypt('A', msg('A2'))]);
    // Load a key by unwrapping too (another instance's ciphertext, same store and master key).
    const other = new Keywarden({ masterKey: mk, keyStore: store });
    cts.push(['D', await other.encrypt('D', msg('D'))]);
    expect(text(await kw.decrypt('D', cts[4]![1]))).toBe('D');
    expect(mk.count('unwrap')).toBe(1);
    mk.expectAllWiped();
    expect(kw.stats().cache.size).toBe(5); // A v1, A v2, B, C, D
    const views = aead.used.map((u) => u.view);
    expect(views.some(isZero)).toBe(false);

    kw.close();
    for (const v of views) expect(isZero(v)).toBe(true);
    expect(kw.stats().cache.size).toBe(0);
    // The other instance (its own cache) is unaffected: D opens there with no KMS call.
    const unwraps = mk.count('unwrap');
    expect(text(await other.decrypt('D', cts[4]![1]))).toBe('D');
    expect(mk.count('unwrap')).toBe(unwraps);

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

  it('close() at any point of an in-flight key load leaves nothing cached and no unwiped key', async () => {
    // Close after 0, 1, 2, ... microtask turns, so that every await of the load path
    // (store read, generate, store insert; or store read, unwrap) is hit by some iteration.
    for (let turns = 0; turns < 40; turns++) {
      for (const existing of [false, true]) {
        const mk = new RecordingMasterKey();
        const store = new MemoryKeyStore();
        if (existing) await new Keywarden({ masterKey: mk, keyStore: store }).encrypt('A', msg('seed'));
        const kw = new Keywarden({ masterKey: mk, keyStore: store });
        const inflight = codeOf(kw.encrypt('A', msg('racing close')));
        for (let i = 0; i < turns; i++) await Promise.resolve();
        kw.close();
        expect(['resolved', 'ERR_CLOSED']).toContain(await inflight);
        mk.expectAllWiped();
        expect(kw.stats().cache.size).toBe(0);
      }
    }
  });
});

describe('maximum age', () => {
  it('maxAgeMs 0: every lookup misses and every use reloads its key; messages still round-trip', async () => {
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache: { maxAgeMs: 0 } });
    const cts: Uint8Array[] = [];
    for (let i = 1; i <= 5; i++) {
      cts.push(await kw.encrypt('A', msg(`m${i}`)));
      // The first generates the key; each later one finds it expired and unwraps it again.
      expect(kw.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: i - 1 });
      mk.expectAllWiped();
    }
    for (const [i, ct] of cts.entries()) expect(text(await kw.decrypt('A', ct))).toBe(`m${i + 1}`);
    // Each of the 10 calls: one miss and one load; each but the first drops the expired copy.
    expect(cacheAndKms(kw.stats())).toEqual({
      cache: { hits: 0, misses: 10, loads: 10, coalesced: 0, evictions: 9, size: 1 },
      kms: { generateDataKey: 1, unwrapDataKey: 9 },
    });
    expect((await kw.describeKeys('A')).map((k) => k.version)).toEqual([1]);
  });

  it('with an injected clock: a key is reused until maxAgeMs, then dropped and reloaded', async () => {
    let t = 1_000_000;
    const cache = new KeyCache({ maxAgeMs: 60_000 }, () => t);
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache });
    // Loaded at the cache's epoch, i.e. on a whole second of its clock: ages are exact (a load
    // between two whole seconds may expire up to 1 s early, see test/key-cache.test.ts).
    const ct1 = await kw.encrypt('A', msg('one'));
    t += 59_999;
    const ct2 = await kw.encrypt('A', msg('two'));
    expect(text(await kw.decrypt('A', ct1))).toBe('one');
    expect(mk.count('unwrap')).toBe(0);
    expect(cache.stats()).toEqual({ ...zero, hits: 2, misses: 1, loads: 1, size: 1 });
    t += 1;
    const ct3 = await kw.encrypt('A', msg('three'));
    expect(mk.count('unwrap')).toBe(1);
    expect(cache.stats()).toEqual({ ...zero, hits: 2, misses: 2, loads: 2, evictions: 1, size: 1 });
    mk.expectAllWiped();
    for (const [ct, m] of [[ct1, 'one'], [ct2, 'two'], [ct3, 'three']] as const) expect(text(await kw.decrypt('A', ct))).toBe(m);
    expect(mk.count('unwrap')).toBe(1);
    expect(mk.count('generate')).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 5, misses: 2, loads: 2 });
  });

  it('a rotation made by another instance reaches this one once its cached active key expires', async () => {
    let t = 5_000_000;
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey: mk, keyStore: store });
    const reader = new Keywarden({ masterKey: mk, keyStore: store, cache: new KeyCache({ maxAgeMs: 60_000 }, () => t) });
    await writer.encrypt('A', msg('v1'));
    expect(keyVersion(await reader.encrypt('A', msg('r1')))).toBe(1);
    await writer.rotate('A');
    t += 59_999;
    expect(keyVersion(await reader.encrypt('A', msg('r2')))).toBe(1); // still within its reservation and age
    t += 1;
    const r3 = await reader.encrypt('A', msg('r3'));
    expect(keyVersion(r3)).toBe(2);
    expect(text(await writer.decrypt('A', r3))).toBe('r3');
  });
});

describe('a shared cache is partitioned by key store and master key', () => {
  it('two instances with different master keys and stores never see each other’s keys', async () => {
    const cache = new KeyCache({ maxEntries: 100 });
    const mkA = new RecordingMasterKey();
    const mkB = new RecordingMasterKey();
    expect(mkA.keyId).not.toBe(mkB.keyId);
    const aead = new RecordingAead();
    const kwA = new Keywarden({ masterKey: mkA, keyStore: new MemoryKeyStore(), cache, aead });
    const kwB = new Keywarden({ masterKey: mkB, keyStore: new MemoryKeyStore(), cache, aead });

    const ctA = await kwA.encrypt('conv', msg('from A'));
    expect(cache.stats()).toEqual({ ...zero, misses: 1, loads: 1, size: 1 });
    const ctB = await kwB.encrypt('conv', msg('from B'));
    // B missed (no hit on A's entry for the same conversation id) and generated its own key.
    expect(cache.stats()).toEqual({ ...zero, misses: 2, loads: 2, size: 2 });
    expect(kwB.stats().kms).toEqual({ generateDataKey: 1, unwrapDataKey: 0 });
    expect(mkA.keyOf('conv')).not.toEqual(mkB.keyOf('conv'));

    expect(text(await kwA.decrypt('conv', ctA))).toBe('from A');
    expect(text(await kwB.decrypt('conv', ctB))).toBe('from B');
    expect(await codeOf(kwA.decrypt('conv', ctB))).toBe('ERR_DECRYPT_FAILED');
    expect(await codeOf(kwB.decrypt('conv', ctA))).toBe('ERR_DECRYPT_FAILED');
    const many = await kwB.decryptMany('conv', [ctA, ctB]);
    expect(many.map((r) => r.ok)).toEqual([false, true]);
    expect(mkA.count('unwrap') + mkB.count('unwrap')).toBe(0);
    mkA.expectAllWiped();
    mkB.expectAllWiped();

    // Closing A wipes A's partition only.
    kwA.close();
    expect(isZero(aead.viewOf(mkA.keyOf('conv')))).toBe(true);
    expect(aead.viewOf(mkB.keyOf('conv'))).toEqual(mkB.keyOf('conv'));
    expect(cache.stats().size).toBe(1);
    expect(text(await kwB.decrypt('conv', ctB))).toBe('from B');
    expect(mkB.count('unwrap')).toBe(0);
    expect(await codeOf(kwA.decrypt('conv', ctA))).toBe('ERR_CLOSED');
  });

  it('the same master key over two different stores: still two partitions', async () => {
    const cache = new KeyCache();
    const mk = new RecordingMasterKey();
    const kw1 = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache });
    const kw2 = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore(), cache });
    const ct1 = await kw1.encrypt('conv', msg('store 1'));
    const ct2 = await kw2.encrypt('conv', msg('store 2'));
    // kw2 did not find kw1's key: it missed and generated a key of its own for its store.
    expect(cache.stats()).toEqual({ ...zero, misses: 2, loads: 2, size: 2 });
    expect(mk.count('generate')).toBe(2);
    expect(text(await kw1.decrypt('conv', ct1))).toBe('store 1');
    expect(text(await kw2.decrypt('conv', ct2))).toBe('store 2');
    expect(await codeOf(kw1.decrypt('conv', ct2))).toBe('ERR_DECRYPT_FAILED');
    expect(await codeOf(kw2.decrypt('conv', ct1))).toBe('ERR_DECRYPT_FAILED');
    expect(mk.count('unwrap')).toBe(0);
  });

  it('master key ids that are prefixes of one another do not share entries', async () => {
    const cache = new KeyCache({ maxEntries: 100 });
    const mk1 = new RecordingMasterKey(new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'k' }));
    const mk2 = new RecordingMasterKey(new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'k1' }));
    // One store for both, so that only the master key id tells the partitions apart.
    const store = new MemoryKeyStore();
    const aead = new RecordingAead();
    const kw1 = new Keywarden({ masterKey: mk1, keyStore: store, cache, aead });
    const kw2 = new Keywarden({ masterKey: mk2, keyStore: store, cache, aead });
    // Conversation ids chosen so that naive concatenation of key id and conversation id collide.
    const ct1 = await kw1.encrypt('1conv', msg('one'));
    const ct2 = await kw2.encrypt('conv', msg('two'));
    expect(mk2.count('generate')).toBe(1);
    expect(cache.stats()).toEqual({ ...zero, misses: 2, loads: 2, size: 2 });
    expect(text(await kw1.decrypt('1conv', ct1))).toBe('one');
    expect(text(await kw2.decrypt('conv', ct2))).toBe('two');
    kw2.close();
    expect(isZero(aead.viewOf(mk2.keyOf('conv')))).toBe(true);
    expect(aead.viewOf(mk1.keyOf('1conv'))).toEqual(mk1.keyOf('1conv'));
    expect(text(await kw1.decrypt('1conv', ct1))).toBe('one');
    expect(mk1.count('unwrap')).toBe(0);
  });

  it('instances with the same master key and store share a partition; closing one does not fail the other’s calls', async () => {
    const cache = new KeyCache();
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const a = new Keywarden({ masterKey: mk, keyStore: store, cache });
    const b = new Keywarden({ masterKey: mk, keyStore: store, cache });
    const ct = await a.encrypt('S', msg('shared'));
    expect(text(await b.decrypt('S', ct))).toBe('shared');
    expect(mk.count('unwrap')).toBe(0); // b used the key a cached
    // b's first use of T joins the load a started (one partition, one single-flight tag);
    // a is then closed. b was not closed: its call must succeed.
    const pa = codeOf(a.encrypt('T', msg('from a')));
    const pb = b.encrypt('T', msg('from b')).then(
      (ct) => ({ outcome: 'resolved', ct }),
      (e: unknown) => ({ outcome: (e as { code?: string }).code ?? String(e), ct: undefined }),
    );
    a.close();
    expect(['resolved', 'ERR_CLOSED']).toContain(await pa);
    const rb = await pb;
    expect(rb.outcome).toBe('resolved');
    expect(text(await b.decrypt('T', rb.ct!))).toBe('from b');
    mk.expectAllWiped();
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

    const aead = new RecordingAead();
    const reader = new Keywarden({ masterKey: mk, keyStore: store, cache: { maxEntries: 1 }, aead });
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
    // One unwrap per version, each loaded once for the page; loading v2 trimmed v1 and loading
    // v3 trimmed v2 (one conversation, maxEntries 1), but the page had them pinned.
    expect(cacheAndKms(reader.stats())).toEqual({
      cache: { hits: 0, misses: 3, loads: 3, coalesced: 0, evictions: 2, size: 1 },
      kms: { generateDataKey: 0, unwrapDataKey: 3 },
    });
    expect(mk.handed.filter((h) => h.op === 'unwrap').map((h) => h.version)).toEqual([1, 2, 3]);
    mk.expectAllWiped();
    // Versions 1 and 2 were evicted during the page: wiped once the page released them.
    expect(isZero(aead.viewOf(mk.keyOf('A', 1)))).toBe(true);
    expect(isZero(aead.viewOf(mk.keyOf('A', 2)))).toBe(true);
    expect(aead.viewOf(mk.keyOf('A', 3))).toEqual(mk.keyOf('A', 3)); // still cached

    // The next pages: v3 is a hit with no KMS call; v1 was evicted and reloads.
    const v3 = await reader.decryptMany('A', [cts[3]!]);
    expect(v3[0]!.ok && text(v3[0]!.plaintext)).toBe('v3b');
    expect(reader.stats().kms.unwrapDataKey).toBe(3);
    const v1 = await reader.decryptMany('A', [{ ciphertext: cts[0]!, aad: 'id-1' }]);
    expect(v1[0]!.ok && text(v1[0]!.plaintext)).toBe('v1');
    expect(cacheAndKms(reader.stats())).toEqual({
      cache: { hits: 1, misses: 4, loads: 4, coalesced: 0, evictions: 3, size: 1 },
      kms: { generateDataKey: 0, unwrapDataKey: 4 },
    });
    mk.expectAllWiped();
  });
});

describe('counters', () => {
  it('a scripted sequence gives exact cache and KMS counts', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: mk, keyStore: store });
    expect(cacheAndKms(kw.stats())).toEqual({ cache: zero, kms: { generateDataKey: 0, unwrapDataKey: 0 } });

    const a1 = await kw.encrypt('A', msg('a1')); // active lookup misses; one load generates v1; one entry
    expect(cacheAndKms(kw.stats())).toEqual({ cache: { ...zero, misses: 1, loads: 1, size: 1 }, kms: { generateDataKey: 1, unwrapDataKey: 0 } });
    await kw.encrypt('A', msg('a2')); // active hit
    await kw.decrypt('A', a1); // version hit
    expect(kw.stats().cache).toEqual({ ...zero, hits: 2, misses: 1, loads: 1, size: 1 });
    await kw.encrypt('B', msg('b1'));
    expect(cacheAndKms(kw.stats())).toEqual({ cache: { ...zero, hits: 2, misses: 2, loads: 2, size: 2 }, kms: { generateDataKey: 2, unwrapDataKey: 0 } });
    // rotate reads the store, generates v2 and caches it as active; it looks at the cached v1
    // with an uncounted peek (to stop sealing with it), so no lookup is counted.
    await kw.rotate('A');
    expect(cacheAndKms(kw.stats())).toEqual({ cache: { ...zero, hits: 2, misses: 2, loads: 2, size: 3 }, kms: { generateDataKey: 3, unwrapDataKey: 0 } });
    const a3 = await kw.encrypt('A', msg('a3')); // active hit (v2)
    expect(keyVersion(a3)).toBe(2);
    await kw.decrypt('A', a1); // v1 hit
    await kw.decrypt('A', a3); // v2 hit
    expect(cacheAndKms(kw.stats())).toEqual({ cache: { ...zero, hits: 5, misses: 2, loads: 2, size: 3 }, kms: { generateDataKey: 3, unwrapDataKey: 0 } });
    expect(mk.count('generate')).toBe(3);
    expect(mk.count('unwrap')).toBe(0);

    // A second instance with a cold cache: a page over both versions loads each once
    // (one counted miss per distinct version, the repeated a1 is not looked up again).
    const cold = new Keywarden({ masterKey: mk, keyStore: store });
    await cold.decryptMany('A', [a1, a3, a1]);
    expect(cacheAndKms(cold.stats())).toEqual({ cache: { ...zero, misses: 2, loads: 2, size: 2 }, kms: { generateDataKey: 0, unwrapDataKey: 2 } });
    await cold.decryptMany('A', [a3]);
    expect(cacheAndKms(cold.stats())).toEqual({ cache: { ...zero, hits: 1, misses: 2, loads: 2, size: 2 }, kms: { generateDataKey: 0, unwrapDataKey: 2 } });
    // v2 was cached as the active version by the decrypt (its record is active): an encrypt is
    // a hit; its first seal reserves messages in the store, which is not a cache load.
    const c1 = await cold.encrypt('A', msg('c1'));
    expect(keyVersion(c1)).toBe(2);
    expect(cacheAndKms(cold.stats())).toEqual({ cache: { ...zero, hits: 2, misses: 2, loads: 2, size: 2 }, kms: { generateDataKey: 0, unwrapDataKey: 2 } });
    expect(text(await kw.decrypt('A', c1))).toBe('c1');
    expect(mk.count('unwrap')).toBe(2);
    mk.expectAllWiped();
  });

  it('50 concurrent first encrypts of one conversation: one load, one data key, 49 coalesced', async () => {
    const mk = new RecordingMasterKey();
    const kw = new Keywarden({ masterKey: mk, keyStore: new MemoryKeyStore() });
    const cts = await Promise.all(Array.from({ length: 50 }, (_, i) => kw.encrypt('A', msg(`m${i}`))));
    // Why these numbers (src/keywarden.ts encrypt, src/keys/lifecycle.ts, src/cache/key-cache.ts):
    // each encrypt runs synchronously up to its first await: part.active('A') misses (50 misses),
    // then activeForSeal -> #loadActive -> part.load('a:A'). The first call registers the load
    // (loads 1) before any of the loader's awaits settle; the other 49, issued in the same
    // synchronous loop, find it in flight (coalesced 49). When it resolves, each encrypt seals
    // with the returned key without another lookup (its 1024-message grant covers 50 seals), so
    // no hit is counted. One key version: size 1.
    expect(cacheAndKms(kw.stats())).toEqual({
      cache: { hits: 0, misses: 50, loads: 1, coalesced: 49, evictions: 0, size: 1 },
      kms: { generateDataKey: 1, unwrapDataKey: 0 },
    });
    expect(mk.count('generate')).toBe(1);
    for (const [i, ct] of cts.entries()) expect(text(await kw.decrypt('A', ct))).toBe(`m${i}`);
    expect((await kw.describeKeys('A')).map((k) => k.version)).toEqual([1]);
    mk.expectAllWiped();
  });

  it('a cold decrypt counts one miss and one load, like decryptMany', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const ct = await new Keywarden({ masterKey: mk, keyStore: store }).encrypt('A', msg('x'));
    const viaDecrypt = new Keywarden({ masterKey: mk, keyStore: store });
    await viaDecrypt.decrypt('A', ct);
    const viaMany = new Keywarden({ masterKey: mk, keyStore: store });
    await viaMany.decryptMany('A', [ct]);
    expect(viaMany.stats().cache).toEqual({ ...zero, misses: 1, loads: 1, size: 1 });
    expect(viaDecrypt.stats().cache).toEqual({ ...zero, misses: 1, loads: 1, size: 1 });
  });

  it('decrypting an older version does not make the next encrypt miss its cached active key', async () => {
    const mk = new RecordingMasterKey();
    const store = new MemoryKeyStore();
    const writer = new Keywarden({ masterKey: mk, keyStore: store });
    const old = await writer.encrypt('A', msg('old'));
    await writer.rotate('A');
    const reader = new Keywarden({ masterKey: mk, keyStore: store });
    await reader.encrypt('A', msg('new')); // loads v2, the active version
    expect(text(await reader.decrypt('A', old))).toBe('old'); // loads v1 for reading
    const before = reader.stats().cache;
    expect(before).toEqual({ ...zero, misses: 2, loads: 2, size: 2 });
    // v2 is cached, fresh and active: a hit, with no load (no key store read).
    const ct = await reader.encrypt('A', msg('newer'));
    expect(keyVersion(ct)).toBe(2);
    expect(reader.stats().cache).toEqual({ ...before, hits: 1 });
  });
});
