/**
 * Review 6 (keys): retention shreds a key version under which another instance sealed a message
 * younger than the cut-off, when the instances run on `options.now`.
 *
 * Where: src/keywarden.ts, the constructor built Keywarden's own KeyCache on `Date.now` whatever
 * `options.now` said. Every other time keywarden reasons about — sealing times, rotation
 * deadlines, `activatedAt`/`supersededAt`, retention's cut-off and its margin of
 * `cache.maxAgeMs` + 1 minute (docs/KEYS.md §5, §7) — runs on `options.now`, but the bound that
 * margin relies on ("another process may use the old key for at most `cache.maxAgeMs`") ran on
 * another clock. Two instances on the same clock: B caches version 1 with a reservation; A
 * rotates; a day later (on the clock) B still found version 1 fresh in its cache and sealed under
 * it; A's retention, 30 s after that message, shredded version 1 as "superseded a day before the
 * cut-off" and the message was gone. (BranchKeyProvider's cache already ran on its `now`.)
 *
 * Now: a Keywarden without a shared KeyCache ages its cached keys on `options.now` (when given);
 * B reloads after `cache.maxAgeMs` on that clock, seals under version 2, and retention keeps
 * every message younger than the cut-off.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const enc = (s: string) => new TextEncoder().encode(s);

describe('Keywarden cache max age and options.now', () => {
  it('never lets retention shred a version another instance sealed under after the cut-off', async () => {
    let t = T0;
    const now = () => new Date(t);
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const a = new Keywarden({ masterKey, keyStore, now });
    const b = new Keywarden({ masterKey, keyStore, now });

    const m0 = await b.encrypt('c', enc('m0')); // v1, cached by B with a reservation
    expect(inspectCiphertext(m0).keyVersion).toBe(1);
    t = T0 + DAY;
    await a.rotate('c'); // v1 superseded a day later
    t = T0 + 2 * DAY;
    const m1 = await b.encrypt('c', enc('m1')); // B's cache is two days old on the clock
    t = T0 + 2 * DAY + 30_000;
    const report = await a.retain({ olderThanMs: 60_000 }); // cut-off 30 s before m1
    expect(Date.parse(report.cutoff)).toBeLessThan(T0 + 2 * DAY);

    // m1 is younger than the cut-off: it must still open.
    expect(new TextDecoder().decode(await a.decrypt('c', m1))).toBe('m1');
    expect(inspectCiphertext(m1).keyVersion).toBe(2);
    // m0 (older than the cut-off, under v1) is the one retention erased.
    await expect(a.decrypt('c', m0)).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    await a.close();
    await b.close();
  });

  it('a bad options.now still fails at the call, not in the constructor', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore(), now: () => undefined as unknown as Date });
    await expect(kw.encrypt('c', enc('x'))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
    await kw.close();
  });
});
