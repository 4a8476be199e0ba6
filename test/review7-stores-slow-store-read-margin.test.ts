/**
 * Review 7 (stores): retention shreds a version that an instance sealed under after the cut-off,
 * when that instance's read of the active key from the key store was slow (an uncounted suite:
 * XChaCha20-Poly1305 without `rotation.maxMessages`, so no reservation re-checks the store).
 *
 * Where: src/keywarden.ts `retain`, the margin. Review 6 made it the longer of the cache max age
 * and the KMS deadline (plus the one-second load grace), plus the clock skew allowance: a version
 * read as active can be sealed under for at most that long after it was superseded. But a load is
 * a store read *and* an unwrap: the read may return a row that was active when read and arrive up
 * to `timeouts.storeMs` (at most an hour) later, and the unwrap then takes up to `kmsMs`; a load
 * that outlasted `cache.maxAgeMs` keeps its key for one second after it arrives
 * (src/cache/key-cache.ts LOAD_GRACE_MS). So: B's store read finds v1 active, A rotates at once,
 * B's read comes back 5 minutes later (cache max age 1 minute, storeMs 10 minutes, kmsMs 10 s),
 * B seals under v1, and A's retention 30 s later (olderThan 1 minute) took v1 as "superseded
 * 2.5 minutes before the cut-off": the message, younger than the cut-off, was erased.
 * docs/KEYS.md §7: "No message younger than the cut-off is ever erased".
 *
 * Now: the margin is the longer of the cache max age and a whole load (store deadline plus KMS
 * deadline plus the grace), plus the clock skew allowance.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import type { KeyRecord } from '../src/keys/records.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);

/** A memory store whose next getLatest runs `during` after reading (a slow answer). */
class SlowReadStore extends MemoryKeyStore {
  during: (() => Promise<void>) | undefined;
  override async getLatest(conversationId: string): Promise<KeyRecord | undefined> {
    const r = await super.getLatest(conversationId);
    const f = this.during;
    this.during = undefined;
    await f?.();
    return r;
  }
}

describe('retention margin and slow store reads', () => {
  it('keeps a version sealed under by a load whose store read outlasted the cache max age', async () => {
    let t = T0;
    const now = () => new Date(t);
    const keyStore = new SlowReadStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const opts = { keyStore, masterKey, now, suite: 'XChaCha20-Poly1305' as const, cache: { maxAgeMs: 60_000 }, timeouts: { storeMs: 600_000 } };
    const a = new Keywarden(opts);
    const b = new Keywarden(opts);

    await a.encrypt('c', enc('m0')); // v1 at T0
    keyStore.during = async () => {
      t = T0 + 1_000;
      await a.rotate('c'); // v1 superseded at T0 + 1 s, just after B's read found it active
      t = T0 + 300_000; // B's read came back 5 minutes later
    };
    const m1 = await b.encrypt('c', enc('m1'));
    expect(inspectCiphertext(m1).keyVersion).toBe(1);
    const sealedAt = inspectCiphertext(m1).sealedAt;
    t = T0 + 330_000;
    const report = await a.retain({ olderThanMs: 60_000 });
    expect(Date.parse(report.cutoff)).toBeLessThan(Date.parse(sealedAt!)); // m1 is younger than the cut-off
    expect(new TextDecoder().decode(await a.decrypt('c', m1))).toBe('m1');
    await a.close();
    await b.close();
  });
});
