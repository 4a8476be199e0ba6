/**
 * Review 6 (keys): decryptMany releases plaintext under a conversation key whose branch key was
 * shredded — on this instance, by a `shredBranch` that had resolved — while the page waited for
 * another version's load.
 *
 * Where: src/cache/key-cache.ts `CachePartition.clear()`. A branch shred reaches Keywarden through
 * `onKeysInvalidated` → `part.clear()` (src/keywarden.ts), which drops every cached conversation
 * key but, unlike `forget` (a conversation shred), does not mark them revoked. decryptMany pins
 * the keys it holds across awaits; a pinned key is only doomed by the drop (its bytes live until
 * unpinned) and decryptMany refuses only keys marked `revoked` (review 3 fixed this for
 * conversation shreds: test/review3-keys-decryptmany-shred.test.ts). So the page opened v1 with
 * the pinned key after the shred had destroyed the branch key wrapping it, and reported the
 * other version shredded in the same page. docs/KEYS.md §9: "Keywarden instances using the
 * provider drop their cached conversation keys at once".
 *
 * Now: a branch shred clears the partition with every key revoked (`clear(true)`), as forget
 * does; the page reports ERR_KEY_SHREDDED for both versions.
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const enc = (s: string) => new TextEncoder().encode(s);

/** A memory key store whose reads of one version wait at a gate the test opens. */
class GatedStore extends MemoryKeyStore {
  gateVersion = 0;
  #open: () => void = () => {};
  #gate: Promise<void> | undefined;
  #entered: () => void = () => {};
  readonly entered = new Promise<void>((r) => (this.#entered = r));
  hold(version: number) {
    this.gateVersion = version;
    this.#gate = new Promise((r) => (this.#open = r));
  }
  release() {
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

describe('decryptMany and a branch shred that commits while the page loads keys', () => {
  it('does not open items with a conversation key whose branch key the shred destroyed', async () => {
    const kms = new LocalMasterKey(LocalMasterKey.generateKey());
    const branches = new BranchKeyProvider({ masterKey: kms, store: new MemoryKeyStore() });
    const keyStore = new GatedStore();
    const kw = new Keywarden({ masterKey: branches, keyStore });
    const m1 = await kw.encrypt('conv', enc('one'), { aad: 'm1' });
    await kw.rotate('conv');
    const m2 = await kw.encrypt('conv', enc('two'), { aad: 'm2' });
    // Only v1 is cached: v2 must be loaded by the page.
    const reader = new Keywarden({ masterKey: branches, keyStore });
    expect(new TextDecoder().decode(await reader.decrypt('conv', m1, { aad: 'm1' }))).toBe('one');

    keyStore.hold(2);
    const page = reader.decryptMany('conv', [{ ciphertext: m1, aad: 'm1' }, { ciphertext: m2, aad: 'm2' }]);
    await keyStore.entered; // v1 pinned, v2's read under way

    const report = await branches.shredBranch('default'); // tenant off-boarded, reported done
    expect(report.shredded).toEqual([1]);
    const after = await reader.decrypt('conv', m1, { aad: 'm1' }).then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));
    expect(after).toBe('ERR_KEY_SHREDDED');

    keyStore.release();
    const results = await page;
    const summary = results.map((r) => (r.ok ? `plaintext:${new TextDecoder().decode(r.plaintext)}` : r.error.code));
    expect(summary[1]).toBe('ERR_KEY_SHREDDED');
    expect(summary[0]).toBe('ERR_KEY_SHREDDED');
    kw.close();
    reader.close();
  });
});
