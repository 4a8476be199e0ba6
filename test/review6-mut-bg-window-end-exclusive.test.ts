/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: break-glass "nothing
 * beyond scope or window `[from, to)` (property)" — held, the table said, by
 * test/breakglass-access.test.ts, test/breakglass-token.test.ts, test/breakglass-outcome.test.ts
 * and test/review-fixes.test.ts.
 *
 * Survived: in src/breakglass/access.ts (`#openPage`) the end of the window made inclusive and
 * per-instant instead of per-second (`h.sealedAt * 1000 + 1000 <= to` → `h.sealedAt * 1000 <=
 * to`): a message sealed at `to` itself — outside `[from, to)` — was opened, and so was one
 * sealed in the second that straddles a `to` with milliseconds (which may lie after `to`). All four
 * named files still passed: the property test's messages are sealed at whole days + 1 s and its
 * windows end on whole days, so no message ever sits on the boundary.
 *
 * Now asserted, at the boundaries: sealed at `from` opens; sealed one second before `to` opens;
 * sealed at exactly `to` is ERR_BG_OUT_OF_SCOPE; with `to` at .500 s, the message sealed in that
 * second is ERR_BG_OUT_OF_SCOPE (its instant cannot be shown to be before `to`); sealed one second
 * before `from` is ERR_BG_OUT_OF_SCOPE.
 */
import { describe, expect, it } from 'vitest';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

describe('break-glass window [from, to): the boundaries', () => {
  it('opens at from and up to the last whole second before to; never at or across to', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const from = T0 + 20 * DAY;
    const to = T0 + 21 * DAY;
    const at = async (ms: number, label: string) => {
      d.setTime(ms);
      return { ciphertext: await d.kw.encryptString('c0', label, { aad: label }), aad: label };
    };
    const items = [
      await at(from - 1000, 'before-from'),
      await at(from, 'at-from'),
      await at(to - 1000, 'last-second'),
      await at(to, 'at-to'),
    ];
    d.setTime(to + DAY);
    const tok = await token(d, [t1, t2, l1], { scope: { from: new Date(from).toISOString(), to: new Date(to).toISOString() } });
    const r = await d.bg.decrypt(tok.text, 'c0', items);
    expect(r.results.map((x) => (x.ok ? new TextDecoder().decode(x.plaintext) : x.error.code))).toEqual([
      'ERR_BG_OUT_OF_SCOPE', 'at-from', 'last-second', 'ERR_BG_OUT_OF_SCOPE',
    ]);
    expect(r.opened).toBe(2);
  });

  it('a window ending at .500 s does not open the message sealed in that second', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const from = T0 + 20 * DAY;
    const to = T0 + 21 * DAY + 500;
    d.setTime(T0 + 21 * DAY + 900); // sealedAt = the second of `to`, sealed after `to`
    const straddling = { ciphertext: await d.kw.encryptString('c0', 'straddling', { aad: 's' }), aad: 's' };
    d.setTime(T0 + 21 * DAY - 1000);
    const inside = { ciphertext: await d.kw.encryptString('c0', 'inside', { aad: 'i' }), aad: 'i' };
    d.setTime(to + DAY);
    const tok = await token(d, [t1, t2, l1], { scope: { from: new Date(from).toISOString(), to: new Date(to).toISOString() } });
    const r = await d.bg.decrypt(tok.text, 'c0', [inside, straddling]);
    expect(r.results.map((x) => (x.ok ? new TextDecoder().decode(x.plaintext) : x.error.code))).toEqual(['inside', 'ERR_BG_OUT_OF_SCOPE']);
  });
});
