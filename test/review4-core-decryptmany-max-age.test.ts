/**
 * Outside review 4 (core), 2026-12-02: decryptMany used keys past the cache's maxAgeMs.
 *
 * What was wrong (src/keywarden.ts, decryptMany): a page takes each version's key from the cache
 * (or loads it) and pins it, then awaits the loads of its other versions — each a key store read
 * and a KMS unwrap, up to `timeouts.kmsMs` + `storeMs` apiece, one after the other — and only then
 * opens the items, without asking whether the keys it pinned first are still within
 * `cache.maxAgeMs`. KeyCacheOptions.maxAgeMs: "Most milliseconds a key ... is used after it was
 * loaded; then it is re-read from the key store and unwrapped again"; it is how a shred on
 * another instance (without watchKeyChanges) reaches this one, and retention's margin counts on
 * it. So after another instance shredded version 1 and this instance's own `decrypt` of the same
 * message already failed with ERR_KEY_SHREDDED (its key had aged out and was re-read), the page
 * still returned version 1's plaintext, with a key loaded longer ago than maxAgeMs.
 *
 * Now: after its last wait, decryptMany re-reads (like decrypt, through the key store) every key
 * that waited and is no longer fresh before opening anything with it; a version shredded
 * meanwhile is reported per item as ERR_KEY_SHREDDED. A page that never waited reads nothing again.
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A memory key store whose reads of one version wait at a gate the test opens. */
class GatedStore extends MemoryKeyStore {
  gateVersion = 0;
  reads = 0;
  #open: () => void = () => {};
  #gate: Promise<void> | undefined;
  #entered: () => void = () => {};
  entered = new Promise<void>((r) => (this.#entered = r));
  close(version: number) {
    this.gateVersion = version;
    this.entered = new Promise<void>((r) => (this.#entered = r));
    this.#gate = new Promise((r) => (this.#open = r));
  }
  open() {
    this.gateVersion = 0;
    this.#open();
  }
  override async getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    this.reads++;
    if (version === this.gateVersion && this.#gate !== undefined) {
      this.#entered();
      await this.#gate;
    }
    return super.getVersion(conversationId, version);
  }
}

async function twoVersions() {
  const keyStore = new GatedStore();
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const writer = new Keywarden({ masterKey, keyStore });
  const m1 = await writer.encrypt('conv', enc('one'), { aad: 'm1' });
  await writer.rotate('conv');
  const m2 = await writer.encrypt('conv', enc('two'), { aad: 'm2' });
  return { keyStore, masterKey, writer, m1, m2 };
}

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));

describe('decryptMany uses no key past cache.maxAgeMs (review 4, core)', () => {
  it('a key that aged out while the page waited is re-read: a shred elsewhere meanwhile is seen', async () => {
    const { keyStore, masterKey, writer, m1, m2 } = await twoVersions();
    let t = 1_000_000;
    const reader = new Keywarden({ masterKey, keyStore, cache: new KeyCache({ maxAgeMs: 60_000 }, () => t) });
    expect(dec(await reader.decrypt('conv', m1, { aad: 'm1' }))).toBe('one'); // v1 cached at t

    keyStore.close(2); // v2's load waits at the store
    const page = reader.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }]);
    await keyStore.entered; // v1 pinned, v2 loading

    t += 61_000; // past maxAgeMs
    await writer.shred('conv', { versions: [1] }); // another instance; the reader has no watcher
    // The reader's own decrypt of the same message, now: v1 aged out, is re-read, is shredded.
    expect(await code(reader.decrypt('conv', m1, { aad: 'm1' }))).toBe('ERR_KEY_SHREDDED');

    keyStore.open();
    const results = await page;
    const summary = results.map((r) => (r.ok ? `plaintext:${dec(r.plaintext)}` : r.error.code));
    expect(summary).toEqual(['ERR_KEY_SHREDDED', 'plaintext:two']);
    reader.close();
    writer.close();
  });

  it('a key that aged out while the page waited, and was not shredded, still opens its items (re-read)', async () => {
    const { keyStore, masterKey, writer, m1, m2 } = await twoVersions();
    let t = 1_000_000;
    const reader = new Keywarden({ masterKey, keyStore, cache: new KeyCache({ maxAgeMs: 60_000 }, () => t) });
    await reader.decrypt('conv', m1, { aad: 'm1' });
    keyStore.close(2);
    const page = reader.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }, m1]);
    await keyStore.entered;
    t += 61_000;
    const before = reader.stats().kms.unwrapDataKey;
    keyStore.open();
    const results = await page;
    expect(results.map((r) => (r.ok ? dec(r.plaintext) : r.error.code))).toEqual(['one', 'two', 'ERR_DECRYPT_FAILED']); // m1 without its aad fails
    expect(reader.stats().kms.unwrapDataKey - before).toBe(2); // v2, and v1 again
    reader.close();
    writer.close();
  });

  it('a page whose keys are all fresh, or that never waited, reads nothing again', async () => {
    const { keyStore, masterKey, writer, m1, m2 } = await twoVersions();
    const t = 1_000_000;
    const reader = new Keywarden({ masterKey, keyStore, cache: new KeyCache({ maxAgeMs: 60_000 }, () => t) });
    const first = await reader.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }]);
    expect(first.map((r) => r.ok)).toEqual([true, true]);
    const unwraps = reader.stats().kms.unwrapDataKey;
    const reads = keyStore.reads;
    const again = await reader.decryptMany('conv', [{ ciphertext: m2, aad: 'm2' }, { ciphertext: m1, aad: 'm1' }]);
    expect(again.map((r) => (r.ok ? dec(r.plaintext) : r.error.code))).toEqual(['two', 'one']);
    expect(reader.stats().kms.unwrapDataKey).toBe(unwraps);
    expect(keyStore.reads).toBe(reads);
    reader.close();
    writer.close();
  });
});
