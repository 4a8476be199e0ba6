/**
 * Review 6 (kms): a `MasterKeyRing` with a `BranchKeyProvider` member hid branch shreds from the
 * Keywarden using the ring. docs/KEYS.md §9: after `shredBranch(id)` "Keywarden instances using
 * the provider drop their cached conversation keys at once"; §6 puts the old provider in a ring
 * while keys move (`new MasterKeyRing(newKey, [oldKey])`) — leaving branch mode, or moving into a
 * new branch provider, is that same ring with the branch provider as a member. Keywarden learns of
 * a branch shred only through `masterKey.onKeysInvalidated` (src/keywarden.ts), and the ring did
 * not implement it (it forwards `wrappingKeyAgeMs` to its members, not the invalidation): an
 * off-boarded tenant's conversations kept opening from the cache for `cache.maxAgeMs` (default
 * 10 minutes) on the very instance that shredded the branch and reported it done.
 *
 * Where: src/kms/ring.ts (no `onKeysInvalidated`).
 *
 * Now: the ring registers the listener with every member that offers `onKeysInvalidated` and
 * returns one function that unregisters all of them; after the shred the cached conversation key
 * is gone and the message fails with ERR_KEY_SHREDDED.
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore, isKeywardenError } from '../src/node.js';

const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isKeywardenError(e) ? e.code : String(e)));

describe('MasterKeyRing with a BranchKeyProvider member', () => {
  for (const where of ['previous', 'primary'] as const) {
    it(`drops cached conversation keys when the branch (ring ${where}) is shredded`, async () => {
      const kms = new LocalMasterKey(LocalMasterKey.generateKey());
      const other = new LocalMasterKey(LocalMasterKey.generateKey());
      const branches = new BranchKeyProvider({ masterKey: kms, store: new MemoryKeyStore() });
      const keyStore = new MemoryKeyStore();
      const writer = new Keywarden({ masterKey: branches, keyStore });
      const ct = await writer.encryptString('acme:1', 'hello');

      const ring = where === 'previous' ? new MasterKeyRing(other, [branches]) : new MasterKeyRing(branches, [other]);
      const kw = new Keywarden({ masterKey: ring, keyStore });
      expect(await kw.decryptString('acme:1', ct)).toBe('hello'); // conversation key cached in kw

      await branches.shredBranch('default'); // tenant off-boarded: every conversation key under it lost
      expect(await code(kw.decryptString('acme:1', ct))).toBe('ERR_KEY_SHREDDED');
      writer.close();
      kw.close();
    });
  }

  it('unregisters from every member', () => {
    /** A member that can invalidate keys, as a BranchKeyProvider. */
    const member = () => {
      const listeners = new Set<() => void>();
      const m = Object.assign(new LocalMasterKey(LocalMasterKey.generateKey()), {
        onKeysInvalidated: (l: () => void) => (listeners.add(l), () => void listeners.delete(l)),
        fire: () => listeners.forEach((l) => l()),
      });
      return m;
    };
    const a = member();
    const b = member();
    const ring = new MasterKeyRing(a, [new LocalMasterKey(LocalMasterKey.generateKey()), b]);
    let n = 0;
    const off = ring.onKeysInvalidated(() => n++);
    a.fire();
    b.fire();
    expect(n).toBe(2);
    off();
    a.fire();
    b.fire();
    expect(n).toBe(2);
  });
});
