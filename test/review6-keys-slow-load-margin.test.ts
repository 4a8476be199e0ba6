/**
 * Review 6 (keys): retention shreds a version that an instance sealed under after the cut-off,
 * when that instance's load of the active key took longer than `cache.maxAgeMs` + 1 minute
 * (an uncounted suite: XChaCha20-Poly1305 without `rotation.maxMessages`).
 *
 * Where: retention's margin (src/keywarden.ts `retain`, `cache.maxAgeMs + CLOCK_SKEW_MS`)
 * assumes a version read as active can be sealed under for at most `cache.maxAgeMs` after the
 * read began. But a load that outlasts the max age keeps its key usable for one second after it
 * arrives (src/cache/key-cache.ts LOAD_GRACE_MS, docs/KEYS.md §3), and an unwrap may take up to
 * `timeouts.kmsMs` (at most an hour). With a counted suite the reservation at the store refuses
 * the superseded version; an uncounted key seals at once. So: B reads v1 as active, A rotates, B's
 * unwrap takes 5 minutes (cache max age 1 minute, kmsMs 10 minutes), B seals under v1, and A's
 * retention 30 s later (olderThan 1 minute) takes v1 as "superseded 4 minutes before the cut-off".
 *
 * Now: the margin is the longer of the cache max age and the KMS deadline (plus one second for
 * the grace), plus the clock skew allowance.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);

describe('retention margin and slow key loads', () => {
  it('keeps a version sealed under by a load that outlasted the cache max age', async () => {
    let t = T0;
    const now = () => new Date(t);
    const local = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const opts = { keyStore, now, suite: 'XChaCha20-Poly1305' as const, cache: { maxAgeMs: 60_000 }, timeouts: { kmsMs: 600_000 } };
    const a = new Keywarden({ ...opts, masterKey: local });
    let during: (() => Promise<void>) | undefined;
    const slow: MasterKeyProvider = {
      keyId: local.keyId,
      generateDataKey: (c, o) => local.generateDataKey(c, o),
      unwrapDataKey: async (w, c, id, o) => {
        const key = await local.unwrapDataKey(w, c, id, o);
        const f = during;
        during = undefined;
        await f?.();
        return key;
      },
    };
    const b = new Keywarden({ ...opts, masterKey: slow });

    await a.encrypt('c', enc('m0')); // v1 at T0
    during = async () => {
      t = T0 + 1_000;
      await a.rotate('c'); // v1 superseded at T0 + 1 s, while B unwraps it
      t = T0 + 300_000; // B's unwrap took 5 minutes
    };
    const m1 = await b.encrypt('c', enc('m1'));
    const sealedAt = inspectCiphertext(m1).sealedAt;
    t = T0 + 330_000;
    const report = await a.retain({ olderThanMs: 60_000 });
    expect(Date.parse(report.cutoff)).toBeLessThan(Date.parse(sealedAt!)); // m1 is younger than the cut-off
    expect(new TextDecoder().decode(await a.decrypt('c', m1))).toBe('m1');
    await a.close();
    await b.close();
  });
});
