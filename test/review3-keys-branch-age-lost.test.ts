/**
 * Outside review 2026-12-02 (keys): a conversation key unwrapped under a branch key that leaves
 * the provider's cache (reaches its max age, or is evicted for capacity) before the unwrap's
 * cache insert is cached as *fresh*, not "as old as that branch key" — so after a branch shred
 * elsewhere it stays usable for up to the provider's max age *plus* Keywarden's, past the
 * documented bound.
 *
 * Where: src/keys/lifecycle.ts:287 (`#cache` → `#wrapAge(record.masterKeyId)`) asks
 * `BranchKeyProvider.wrappingKeyAgeMs` (src/keys/branch-keys.ts:236-240) for the branch key's age
 * only *after* `await unwrapRecord(...)` returned (several awaits later). `wrappingKeyAgeMs` reads
 * the branch cache with `peekVersion`, which drops an expired entry and returns undefined; an
 * evicted one is simply absent. Undefined becomes age 0 (`#wrapAge`, lifecycle.ts:445), i.e. no cap, and the
 * conversation key is cached as loaded when its own read began. docs/KEYS.md §9: other processes
 * drop conversation keys "within the larger of the provider's and Keywarden's cache max ages: a
 * conversation key unwrapped under a branch key is cached as old as that branch key, so it
 * expires with it".
 *
 * Here (deterministic: the fake clock moves on by one second inside the branch unwrap, i.e. the
 * branch key reaches its 60 s max age between its use and the insert): B read the branch key at
 * t0, A shreds the branch at t0, B unwraps acme:2 at t0 + 59.5 s. At t0 + 62 s — past both max
 * ages since the branch key was read and since the shred — B still opens acme:2 from its cache.
 *
 * Correct: the age of the wrapping key is taken when it is used (e.g. the provider returns it
 * with the unwrapped key, or remembers it per call), or an unknown age of a branch-wrapped record
 * is taken as the provider's max age (the worst case), never as 0.
 *
 * Now: a branch key no longer cached counts as the branch cache's max age old, never as new.
 */
import { describe, expect, it } from 'vitest';
import { nobleAead } from '../src/aead/noble.js';
import type { AeadImpl } from '../src/aead/types.js';
import { twoBranchInstances } from './support/branch.js';
import { errorCode } from './support/fixtures.js';

describe('branch key aging when the branch key leaves the cache during the unwrap', () => {
  it('a branch shred reaches the conversation key within the larger of the two max ages', async () => {
    let t = Date.UTC(2026, 0, 1);
    let duringUnwrap: (() => void) | undefined;
    const aead: AeadImpl = {
      ...nobleAead,
      open(suite, key, nonce, data, ad, start) {
        const hook = duringUnwrap;
        duringUnwrap = undefined;
        hook?.();
        return nobleAead.open(suite, key, nonce, data, ad, start);
      },
    };
    const { a, kwA, kwB, ct1, ct2 } = await twoBranchInstances(() => t, aead);
    try {
      expect(await kwB.decryptString('acme:1', ct1)).toBe('one'); // branch key cached in B at t0
      const t0 = t;
      await a.shredBranch('default'); // B does not watch the branch store
      t = t0 + 59_500; // the branch key is still fresh in B: B may open another conversation
      duringUnwrap = () => void (t += 1_000); // ...and the branch key reaches its max age meanwhile
      expect(await kwB.decryptString('acme:2', ct2)).toBe('two');
      t = t0 + 62_000; // past both max ages, since the branch key was read and since the shred
      expect(await errorCode(kwB.decrypt('acme:2', ct2))).toBe('ERR_KEY_SHREDDED');
    } finally {
      kwA.close();
      kwB.close();
    }
  });
});
