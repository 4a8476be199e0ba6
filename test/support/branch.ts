/**
 * A branch shred reaching another instance's cached keys (docs/KEYS.md §branch keys: within the
 * larger of the provider's and Keywarden's cache max ages; a conversation key unwrapped under a
 * branch key is cached as old as that branch key, so it expires with it).
 */
import { expect } from 'vitest';
import type { AeadImpl } from '../../src/aead/types.js';
import { BranchKeyProvider, KeyCache, Keywarden, LocalMasterKey, MemoryKeyStore } from '../../src/node.js';
import { errorCode } from './fixtures.js';

/**
 * Instance A writes `acme:1` and `acme:2` under one branch key; instance B (provider and
 * Keywarden caches of 60 s each, one fake clock, no notifications) reads `acme:1` at t0, caching
 * the branch key; A shreds the branch. At t0 + `secondReadMs` B must still open `acme:2` (the
 * branch key is fresh in B); at t0 + `expiredMs` both must have expired in B: ERR_KEY_SHREDDED.
 */
/**
 * Instance A (a BranchKeyProvider with default caches) writes `acme:1` and `acme:2` under one
 * branch key; instance B reads the same stores with provider and Keywarden caches of 60 s each on
 * the clock `now` (ms), without notifications, its provider using `aead` when given.
 */
export async function twoBranchInstances(now: () => number, aead?: AeadImpl) {
  const kms = new LocalMasterKey(LocalMasterKey.generateKey());
  const branchStore = new MemoryKeyStore();
  const keyStore = new MemoryKeyStore();
  const a = new BranchKeyProvider({ masterKey: kms, store: branchStore });
  const kwA = new Keywarden({ masterKey: a, keyStore });
  const ct1 = await kwA.encryptString('acme:1', 'one');
  const ct2 = await kwA.encryptString('acme:2', 'two');
  const b = new BranchKeyProvider({ masterKey: kms, store: branchStore, cache: { maxAgeMs: 60_000 }, now: () => new Date(now()), ...(aead !== undefined && { aead }) });
  const kwB = new Keywarden({ masterKey: b, keyStore, cache: new KeyCache({ maxAgeMs: 60_000 }, now), now: () => new Date(now()) });
  return { a, kwA, b, kwB, ct1, ct2 };
}

export async function expectBranchShredReachesCachedKeys(secondReadMs: number, expiredMs: number): Promise<void> {
  let t = Date.UTC(2026, 0, 1);
  const { a, kwA, b, kwB, ct1, ct2 } = await twoBranchInstances(() => t);
  try {
    expect(await kwB.decryptString('acme:1', ct1)).toBe('one'); // branch key cached in B at t0
    const shredAt = t;
    await a.shredBranch('default');
    t = shredAt + secondReadMs; // within the branch key's max age: B may still open another conversation
    expect(await kwB.decryptString('acme:2', ct2)).toBe('two');
    t = shredAt + expiredMs; // past both max ages since the branch key was read (and since the shred)
    // The branch key expired: no longer cached, it counts as the oldest a cached one can be.
    expect(b.wrappingKeyAgeMs('branch:default#1')).toBe(60_000);
    expect(await errorCode(kwB.decrypt('acme:2', ct2))).toBe('ERR_KEY_SHREDDED');
  } finally {
    kwA.close();
    kwB.close();
  }
}
