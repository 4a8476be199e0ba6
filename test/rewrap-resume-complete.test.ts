/**
 * A resumed re-wrap reports `complete` only when no key is left under another master key
 * (outside review, 2026-12-01). A job resumed from its saved cursor declared itself complete once
 * the scan past the cursor was empty, although keys before the cursor had moved elsewhere since
 * (another job) or been created there under the old key (a service not yet redeployed) — and an
 * operator who believed it could disable the old key with keys still under it.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore } from '../src/node.js';

/** Starts a re-wrap to `to` and stops it after its first page (the job keeps its cursor). */
async function interrupted(kw: Keywarden): Promise<void> {
  const ac = new AbortController();
  const r = await kw.rewrap({ batchSize: 5, signal: ac.signal, onProgress: () => ac.abort() });
  expect(r.complete).toBe(false);
}

describe('a resumed re-wrap', () => {
  it('moves the keys that are behind its cursor now, and only then says complete', async () => {
    const A = new LocalMasterKey(LocalMasterKey.generateKey());
    const K1 = new LocalMasterKey(LocalMasterKey.generateKey());
    const K2 = new LocalMasterKey(LocalMasterKey.generateKey());
    const store = new MemoryKeyStore();
    const kwA = new Keywarden({ masterKey: A, keyStore: store });
    for (let i = 0; i < 10; i++) await kwA.encryptString(`c${i}`, 'x');
    const kw1 = new Keywarden({ masterKey: new MasterKeyRing(K1, [A, K2]), keyStore: store });
    await interrupted(kw1);
    // Plans change: everything to K2; later back to K1, which resumes its old job.
    expect((await new Keywarden({ masterKey: new MasterKeyRing(K2, [A, K1]), keyStore: store }).rewrap()).complete).toBe(true);
    const r = await kw1.rewrap({ batchSize: 5 });
    expect(r).toMatchObject({ resumed: true, complete: true });
    expect((await store.summary()).byMasterKey).toEqual({ [K1.keyId]: 10 });
  });

  it('moves a key created under the old master key before its cursor meanwhile', async () => {
    const A = new LocalMasterKey(LocalMasterKey.generateKey());
    const K1 = new LocalMasterKey(LocalMasterKey.generateKey());
    const store = new MemoryKeyStore();
    const kwA = new Keywarden({ masterKey: A, keyStore: store });
    for (let i = 1; i <= 10; i++) await kwA.encryptString(`c${i}`, 'x');
    const kw1 = new Keywarden({ masterKey: new MasterKeyRing(K1, [A]), keyStore: store });
    await interrupted(kw1);
    await kwA.encryptString('a0', 'x'); // sorts before the cursor
    const r = await kw1.rewrap({ batchSize: 5 });
    expect(r).toMatchObject({ resumed: true, complete: true });
    expect((await store.summary()).byMasterKey).toEqual({ [K1.keyId]: 11 });
  });
});
