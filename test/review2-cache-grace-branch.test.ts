/**
 * 57cc635's load grace (KeyCache._loadedAt) applies to every insert whose computed load time
 * leaves under a second of freshness, not only to a load that itself outlasted the max age. With
 * 058c818's branch aging, a *fast* unwrap under a branch key that is nearly expired is clamped
 * forward, so the conversation key outlives the branch key it was unwrapped under.
 * docs/KEYS.md: a branch shred reaches conversation keys elsewhere "within the larger of the
 * provider's and Keywarden's cache max ages: a conversation key unwrapped under a branch key is
 * cached as old as that branch key, so it expires with it"; the grace is for "a key whose load
 * itself outlasted the max age".
 */
import { describe, expect, it } from 'vitest';
import { KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { errorCode } from './support/fixtures.js';
import { expectBranchShredReachesCachedKeys } from './support/branch.js';

describe('load grace vs branch-key aging', () => {
  it('a conversation key unwrapped (fast) under an almost-expired branch key expires with the branch key', async () => {
    await expectBranchShredReachesCachedKeys(59_500, 60_500);
  });

  it('a direct-mode load that took less than the max age gets no grace (counted from its read start)', async () => {
    let t = Date.UTC(2026, 0, 1);
    const local = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const a = new Keywarden({ masterKey: local, keyStore });
    const ct = await a.encryptString('c', 'hello');
    // B's unwrap takes 59.5 s (a throttled KMS), under the 60 s max age.
    const slow = {
      keyId: local.keyId,
      generateDataKey: (c: Record<string, string>, o?: unknown) => local.generateDataKey(c, o as never),
      unwrapDataKey: async (w: Uint8Array, c: Record<string, string>, id: string, o?: unknown) => { t += 59_500; return local.unwrapDataKey(w, c, id, o as never); },
      handlesKeyId: (id: string) => id === local.keyId,
    };
    const cache = new KeyCache({ maxAgeMs: 60_000 }, () => t);
    const b = new Keywarden({ masterKey: slow as never, keyStore, cache, timeouts: { kmsMs: 300_000 } });
    const readStart = t;
    expect(await b.decryptString('c', ct)).toBe('hello');
    await a.shred('c'); // b does not watch
    t = readStart + 60_500; // past max age counted from the read's start
    expect(await errorCode(b.decrypt('c', ct))).toBe('ERR_KEY_SHREDDED');
    a.close();
    b.close();
  });
});
