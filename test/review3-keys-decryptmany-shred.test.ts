/**
 * Outside review 2026-12-02 (keys): decryptMany releases plaintext under a key that a
 * whole-conversation shred on the same instance has already destroyed and reported done.
 *
 * Where: src/keywarden.ts:445-481 (Keywarden.decryptMany; pin at :454). The page pins each version's cached
 * key as it goes (`this.#part.pin(k)`), then awaits the loads of the other versions. A shred that
 * commits meanwhile calls `CachePartition.forget`, which only *dooms* a pinned key
 * (src/cache/key-cache.ts:189, `_drop`): its bytes stay in the slab, `slot` stays >= 0, and after the
 * loads decryptMany opens every item with the pinned keys without asking whether they were
 * forgotten. So after `shred()` resolved, the same page reports ERR_KEY_SHREDDED for the version
 * it had to load and returns the plaintext of the version it had pinned — for one
 * whole-conversation shred, which is atomic in the store: the v1 plaintext is produced after the
 * shred committed, was applied to this instance's cache and was reported done (a `decrypt` of the
 * same message issued at that point fails). docs/KEYS.md §3: "From then on decrypt of any message
 * of the conversation fails with ERR_KEY_SHREDDED (decryptMany and break-glass per item)"; the
 * attachments reader was fixed to "stop at its next range" for the same reason (SECURITY.md).
 * (The page could take arbitrarily long: its other loads wait on KMS or the store.)
 *
 * Correct: a key forgotten (shredded) while pinned is not used to open anything afterwards —
 * decryptMany re-checks its pinned keys after its last await (e.g. a `forgotten` mark set by
 * forget/clear, as opposed to eviction) and reports those items as ERR_KEY_SHREDDED.
 *
 * Now: a shred marks the cached key revoked (CachedKey.revoked); decryptMany checks it before
 * opening and reports ERR_KEY_SHREDDED.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A memory key store whose reads of one version wait at a gate the test opens. */
class GatedStore extends MemoryKeyStore {
  gateVersion = 0;
  #open: () => void = () => {};
  #gate: Promise<void> | undefined;
  #entered: () => void = () => {};
  readonly entered = new Promise<void>((r) => (this.#entered = r));
  close(version: number) {
    this.gateVersion = version;
    this.#gate = new Promise((r) => (this.#open = r));
  }
  open() {
    this.gateVersion = 0;
    this.#open();
  }
  override async getVersion(conversationId: string, version: number): Promise<KeyRecord | undefined> {
    if (version === this.gateVersion && this.#gate !== undefined) {
      this.#entered();
      await this.#gate;
    }
    return super.getVersion(conversationId, version);
  }
}

describe('decryptMany and a shred that commits while the page loads keys', () => {
  it('does not open items with a key the shred already destroyed on this instance', async () => {
    const keyStore = new GatedStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const writer = new Keywarden({ masterKey, keyStore });
    const m1 = await writer.encrypt('conv', enc('one'), { aad: 'm1' });
    await writer.rotate('conv');
    const m2 = await writer.encrypt('conv', enc('two'), { aad: 'm2' });
    writer.close();

    const kw = new Keywarden({ masterKey, keyStore });
    expect(new TextDecoder().decode(await kw.decrypt('conv', m1, { aad: 'm1' }))).toBe('one'); // v1 cached

    keyStore.close(2); // v2's load will wait at the store
    const page = kw.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }]);
    await keyStore.entered; // v1 is pinned, v2's read is under way

    const report = await kw.shred('conv'); // the whole conversation, committed and reported done
    expect(report.shredded).toEqual([1, 2]);
    // Started after the shred: refused, as documented.
    const after = await kw.decrypt('conv', m1, { aad: 'm1' }).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
    expect(after).toBe('ERR_KEY_SHREDDED');

    keyStore.open();
    const results = await page;
    const summary = results.map((r) => (r.ok ? `plaintext:${new TextDecoder().decode(r.plaintext)}` : r.error.code));
    // v2, loaded after the shred, is reported shredded...
    expect(summary[1]).toBe('ERR_KEY_SHREDDED');
    // ...and v1, destroyed by the same atomic shred before this page opened anything, must be too.
    expect(summary[0]).toBe('ERR_KEY_SHREDDED');
    kw.close();
  });
});
