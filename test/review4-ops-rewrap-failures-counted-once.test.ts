/**
 * Review 2026-12-02 (second): a re-wrap with more than 1,000 refused keys counted some twice.
 *
 * Was: a fresh re-wrap whose first look leaves keys behind (refused by KMS) looks again from the
 * start. On that second look a refused key counted in `failed` again unless it was among the
 * first 1,000 kept in `failures` (the list the report carries): with 1,005 refused keys the
 * report said `failed: 1010`, and the figure grew with every key past the list's cap.
 *
 * Now: the second look recognises every key the first look refused (an exact set, not the
 * capped list), so `failed` is the number of distinct keys refused, while `failures` still lists
 * at most 1,000.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore } from '../src/node.js';

describe('rewrap: refused keys are counted once', () => {
  it('1,005 keys the source cannot unwrap: failed 1005, failures listed up to 1,000, nothing moved', async () => {
    const keyStore = new MemoryKeyStore();
    const old = new LocalMasterKey(new Uint8Array(32).fill(1), { keyId: 'local:old' });
    const kw = new Keywarden({ masterKey: old, keyStore });
    const n = 1005;
    for (let i = 0; i < n; i++) await kw.encrypt(`c${i}`, new Uint8Array([i & 255]));
    kw.close();
    // The ring's member answers to the same id but holds other key bytes: every unwrap fails.
    const impostor = new LocalMasterKey(new Uint8Array(32).fill(2), { keyId: 'local:old' });
    const dest = new LocalMasterKey(new Uint8Array(32).fill(3), { keyId: 'local:new' });
    const kw2 = new Keywarden({ masterKey: new MasterKeyRing(dest, [impostor]), keyStore });
    const report = await kw2.rewrap({ batchSize: 128, maxAttempts: 1 });
    kw2.close();
    expect(report.rewrapped).toBe(0);
    expect(report.complete).toBe(false);
    expect(report.failures).toHaveLength(1000);
    expect(report.failed).toBe(n);
  });
});
