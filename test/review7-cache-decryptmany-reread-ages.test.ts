/**
 * Review 7 (cache): decryptMany still used a key past `cache.maxAgeMs` — review 4's fix checked the
 * page's keys for age once, before re-reading the aged ones, and not after that re-read, which is
 * itself a wait (a key store read and a KMS unwrap each). A key that was fresh at the check and aged
 * out while another version was re-read opened its items. Observed: after another instance shredded
 * version 3 and this instance's own `decrypt` of the message had already failed ERR_KEY_SHREDDED
 * (its key aged out and was read again), the page still returned version 3's plaintext, with a key
 * loaded 65 s before under a 60 s max age. KeyCacheOptions.maxAgeMs: "Most milliseconds a key ...
 * is used after it was loaded"; docs/KEYS.md §3: max age is the bound on how long a shredded key
 * can still be used anywhere.
 *
 * Where: src/keywarden.ts `Keywarden.decryptMany` (the `aged` re-read after the page's loads).
 *
 * Now: the check is repeated after every re-read, over every key held across it; a page whose
 * re-reads keep outlasting the max age gives up after a few rounds with a retryable
 * ERR_STORE_FAILED instead of looping.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));

/** A memory key store whose reads of chosen versions wait at gates the test opens. */
class GatedStore extends MemoryKeyStore {
  readonly #gates = new Map<number, { open: Promise<void>; release: () => void; entered: () => void }>();
  /** Holds the next read of `version`; resolves once that read has begun. Returns the opener. */
  hold(version: number): { entered: Promise<void>; open: () => void } {
    let release!: () => void;
    let enter!: () => void;
    const open = new Promise<void>((r) => (release = r));
    const entered = new Promise<void>((r) => (enter = r));
    this.#gates.set(version, { open, release, entered: enter });
    return { entered, open: release };
  }
  /** Runs at every read (a clock moving on while the store answers). */
  onRead: () => void = () => {};
  override async getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    this.onRead();
    const g = this.#gates.get(version);
    if (g !== undefined) {
      this.#gates.delete(version);
      g.entered();
      await g.open;
    }
    return super.getVersion(conversationId, version);
  }
}

describe('decryptMany: a key that ages out while the page re-reads another (review 7, cache)', () => {
  it('is not used past cache.maxAgeMs: a shred elsewhere meanwhile is seen', async () => {
    const keyStore = new GatedStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const writer = new Keywarden({ masterKey, keyStore });
    const m1 = await writer.encrypt('conv', enc('one'), { aad: 'm1' });
    await writer.rotate('conv');
    const m2 = await writer.encrypt('conv', enc('two'), { aad: 'm2' });
    await writer.rotate('conv');
    const m3 = await writer.encrypt('conv', enc('three'), { aad: 'm3' });

    let t = 1_000_000;
    const reader = new Keywarden({ masterKey, keyStore, cache: new KeyCache({ maxAgeMs: 60_000 }, () => t) });
    expect(dec(await reader.decrypt('conv', m1, { aad: 'm1' }))).toBe('one'); // v1 cached at t
    t += 10_000;
    expect(dec(await reader.decrypt('conv', m3, { aad: 'm3' }))).toBe('three'); // v3 cached at t + 10 s
    t += 45_000; // v1 55 s old, v3 45 s old: both fresh

    const v2 = keyStore.hold(2);
    const page = reader.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }, { ciphertext: m3, aad: 'm3' }]);
    await v2.entered; // v1 pinned, v2 loading
    t += 10_000; // v1 65 s old: aged out while the page waited; v3 55 s old, still fresh
    const v1 = keyStore.hold(1);
    v2.open(); // v2 arrives, v3 is taken fresh from the cache, v1 is read again...
    await v1.entered;
    t += 10_000; // ...and while it is, v3 passes its max age (65 s)

    await writer.shred('conv', { versions: [3] }); // another instance; the reader has no watcher
    // The reader's own decrypt of the same message, now: v3 aged out, is re-read, is shredded.
    expect(await code(reader.decrypt('conv', m3, { aad: 'm3' }))).toBe('ERR_KEY_SHREDDED');

    v1.open();
    const results = await page;
    const summary = results.map((r) => (r.ok ? `plaintext:${dec(r.plaintext)}` : r.error.code));
    expect(summary).toEqual(['plaintext:one', 'plaintext:two', 'ERR_KEY_SHREDDED']);
    reader.close();
    writer.close();
  });

  it('gives up with a retryable ERR_STORE_FAILED when every re-read outlasts the max age (no endless loop)', async () => {
    const keyStore = new GatedStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const writer = new Keywarden({ masterKey, keyStore });
    const m1 = await writer.encrypt('conv', enc('one'), { aad: 'm1' });
    await writer.rotate('conv');
    const m2 = await writer.encrypt('conv', enc('two'), { aad: 'm2' });
    let t = 1_000_000;
    const reader = new Keywarden({ masterKey, keyStore, cache: new KeyCache({ maxAgeMs: 60_000 }, () => t) });
    await reader.decrypt('conv', m1, { aad: 'm1' });
    let reads = 0;
    keyStore.onRead = () => {
      reads++;
      t += 61_000; // every read takes longer than the max age
    };
    const err = await reader.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }]).then(() => undefined, (e: unknown) => e);
    expect(isKeywardenError(err) && { code: err.code, retryable: err.retryable }).toEqual({ code: 'ERR_STORE_FAILED', retryable: true });
    expect(reads).toBeLessThan(20);
    // Nothing stays pinned: the keys it held are wiped as soon as they leave the cache.
    keyStore.onRead = () => {};
    expect(dec(await reader.decrypt('conv', m2, { aad: 'm2' }))).toBe('two');
    reader.close();
    writer.close();
  });
});
