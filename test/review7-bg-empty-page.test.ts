/**
 * Outside review 7 (break-glass): `BreakGlass.decrypt(token, conversationId, [])` spent the token.
 * An empty page passed every check, consumed the single-use token and wrote `breakglass.access`
 * and a `released` outcome with 0 messages: a caller's bug (a page built from an empty query)
 * burnt an approval that k of n people gave, and the log showed an access that opened nothing.
 * A bad argument otherwise writes nothing (docs/BREAK-GLASS.md §4).
 *
 * Where: src/breakglass/access.ts `decrypt` (the items were checked for shape, not count).
 *
 * Now: an empty page is ERR_INVALID_INPUT naming `items`, before the token is looked at: nothing
 * is recorded and the token then opens a real page.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('break-glass decrypt refuses an empty page before the token', () => {
  it('ERR_INVALID_INPUT naming items, nothing recorded, the token still unused', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const err = await d.bg.decrypt(tok.text, 'c0', []).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'items' });
    expect(await d.auditStore.size()).toBe(0);

    const m = d.messages.c0![4]!;
    const r = await d.bg.decrypt(tok.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]);
    expect(r.opened).toBe(1);
    expect(r.results.map((x) => (x.ok ? new TextDecoder().decode(x.plaintext) : x.error.code))).toEqual([m.text]);
    const types = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry).map((e) => e.type);
    expect(types).toEqual(['breakglass.access', 'breakglass.outcome']);
  });
});
