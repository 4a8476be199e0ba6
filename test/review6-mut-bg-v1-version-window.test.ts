/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: break-glass "nothing
 * beyond scope or window `[from, to)`" — for format v1 messages (no sealing time) the window is
 * applied by key version (SECURITY.md "Known open findings", docs/BREAK-GLASS.md) — held, the table
 * said, by test/breakglass-access.test.ts, test/breakglass-token.test.ts,
 * test/breakglass-outcome.test.ts and test/review-fixes.test.ts.
 *
 * Survived: in src/breakglass/access.ts (`#keyFor`) the key-version test made inclusive
 * (`start >= to || end <= from` → `start > to || end < from`): a version superseded exactly at
 * `from`, or activated exactly at `to` — which sealed nothing inside `[from, to)` — was treated
 * as inside, unwrapped, and its v1 messages released. The named files still passed: their v1 test
 * uses a window (days 12–19) that no rotation (day 10) touches.
 *
 * Now asserted: in the fixture v1 of c0 is superseded and v2 activated at day 10 exactly; a window
 * starting at day 10 refuses the v1-format message of key v1 (ERR_BG_OUT_OF_SCOPE) and opens the
 * one of key v2; a window ending at day 10 does the opposite; the refused version is never
 * unwrapped.
 */
import { describe, expect, it } from 'vitest';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';
import { sealV1 } from './support/format-v1.js';

describe('v1 messages: a key version that only touches the window boundary is outside it', () => {
  it('window starting at the rotation: key v1 (superseded then) is out, v2 in; ending there: the reverse', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const enc = new TextEncoder();
    const rec1 = await d.keyStore.getVersion('c0', 1);
    const rec2 = await d.keyStore.getVersion('c0', 2);
    expect(rec1!.supersededAt!.getTime()).toBe(T0 + 10 * DAY);
    expect(rec2!.activatedAt.getTime()).toBe(T0 + 10 * DAY);
    const items = [
      { ciphertext: await sealV1(d.keyStore, d.masterKey, 'c0', 1, enc.encode('under v1'), enc.encode('a')), aad: 'a' },
      { ciphertext: await sealV1(d.keyStore, d.masterKey, 'c0', 2, enc.encode('under v2'), enc.encode('b')), aad: 'b' },
    ];
    const text = (r: { results: { ok: boolean; plaintext?: Uint8Array; error?: { code: string } }[] }) =>
      r.results.map((x) => (x.ok ? new TextDecoder().decode(x.plaintext) : x.error!.code));

    d.unwrapped.length = 0;
    const late = await token(d, [t1, t2, l1], { scope: { from: new Date(T0 + 10 * DAY).toISOString(), to: new Date(T0 + 15 * DAY).toISOString() } });
    expect(text(await d.bg.decrypt(late.text, 'c0', items))).toEqual(['ERR_BG_OUT_OF_SCOPE', 'under v2']);
    expect(d.unwrapped.map((u) => u.version)).toEqual(['c0#2']);

    d.unwrapped.length = 0;
    const early = await token(d, [t1, t2, l1], { scope: { from: new Date(T0 + 5 * DAY).toISOString(), to: new Date(T0 + 10 * DAY).toISOString() } });
    expect(text(await d.bg.decrypt(early.text, 'c0', items))).toEqual(['under v1', 'ERR_BG_OUT_OF_SCOPE']);
    expect(d.unwrapped.map((u) => u.version)).toEqual(['c0#1']);
  });
});
