/**
 * Review 7 (mutation review). Guarantee (SECURITY.md: "retention erases … never one younger than
 * the cut-off"; docs/KEYS.md §7; src/keys/retention.ts): with `includeIdle`, an active version is
 * taken only if even its rotation deadline — the latest it can still seal, `maxAgeMs` after its
 * activation — lies `marginMs` before the cut-off.
 *
 * Survived: in src/keys/rotation.ts `lastSealBy` returning the EARLIEST rotation point instead of
 * the latest (`activatedAtMs + policy.maxAgeMs` → `activatedAtMs + policy.maxAgeMs * (1 -
 * ROTATION_JITTER)`). Rotations are spread over the last 10% of the age, so a version whose own
 * point lies late in that window seals messages after 90% of `maxAgeMs`; the idle pass then took
 * it by a bound 10% of `maxAgeMs` too late and erased such a message although it was younger than
 * the cut-off. test/keywarden-retention.test.ts (its "never younger than the cut-off" property
 * included) still passed: its idle versions sealed nothing in the jitter window.
 *
 * Now asserted: a version whose rotation point is late in the window (chosen by `rotateAt`) seals a
 * message at 28 of 30 days; `retain({ includeIdle })` with the cut-off half a day before that
 * message shreds nothing and the message still opens; with the cut-off past the version's last
 * possible seal (plus the margin) it is shredded.
 */
import { describe, expect, it } from 'vitest';
import { rotateAt } from '../src/keys/rotation.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectCiphertext } from '../src/node.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const MAX_AGE = 30 * DAY;
const enc = (s: string) => new TextEncoder().encode(s);

describe('retain({ includeIdle }) and the rotation jitter', () => {
  it('keeps a version that sealed late in its jitter window, after the cut-off', async () => {
    // A conversation whose version 1 rotates late in the window (after day 28.5).
    let i = 0;
    while (rotateAt({ maxAgeMs: MAX_AGE, maxMessages: Infinity }, `late-${i}`, 1, T0) <= T0 + 28.5 * DAY) i++;
    const id = `late-${i}`;
    let t = T0;
    const keyStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore, now: () => new Date(t), rotation: { maxAgeMs: MAX_AGE } });
    await kw.encrypt(id, enc('first'));
    t = T0 + 28 * DAY;
    const late = await kw.encrypt(id, enc('day 28'));
    expect(inspectCiphertext(late).keyVersion).toBe(1); // not yet due: sealed under version 1

    // Cut-off half a day before that message: the message is younger and must stay.
    const olderThanMs = 90 * DAY;
    t = T0 + 27.5 * DAY + olderThanMs;
    const r = await kw.retain({ olderThanMs, includeIdle: true });
    expect(r.versions).toBe(0);
    expect(new TextDecoder().decode(await kw.decrypt(id, late))).toBe('day 28');

    // Once the cut-off passes version 1's last possible seal (day 30) and the margin, it goes.
    t = T0 + 31 * DAY + olderThanMs;
    expect(await kw.retain({ olderThanMs, includeIdle: true })).toMatchObject({ versions: 1, idleVersions: 1 });
    await expect(kw.decrypt(id, late)).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    kw.close();
  });
});
