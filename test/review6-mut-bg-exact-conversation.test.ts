/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: break-glass "nothing
 * beyond scope" (threat model: "exact conversations") — held, the table said, by
 * test/breakglass-access.test.ts, test/breakglass-token.test.ts, test/breakglass-outcome.test.ts
 * and test/review-fixes.test.ts.
 *
 * Survived: in src/breakglass/access.ts the scope's conversation check made case-insensitive
 * (`req.scope.conversations.includes(conversationId)` → `.some((c) => c.toLowerCase() ===
 * conversationId.toLowerCase())`): a token for `dm:alice:bob` then opened `DM:Alice:Bob`, another
 * conversation. The named files still passed: the property test picks targets from c0, c1, c2 only,
 * which differ in more than case (any looser match of the same kind — a trimmed, normalised or
 * prefix match — would pass them too).
 *
 * Now asserted: a token scoped to `dm:alice:bob` is refused ERR_BG_OUT_OF_SCOPE for the
 * conversations `DM:Alice:Bob`, `dm:alice:bob ` and `dm:alice:bo` (each holding real messages),
 * nothing is unwrapped, and the token still opens `dm:alice:bob` afterwards (it was not used).
 */
import { describe, expect, it } from 'vitest';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('break-glass opens exactly the conversations of its scope', () => {
  it('a conversation that differs only in case, a trailing space or a character is refused', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const exact = 'dm:alice:bob';
    const pages: Record<string, { ciphertext: Uint8Array; aad: string }[]> = {};
    for (const c of [exact, 'DM:Alice:Bob', 'dm:alice:bob ', 'dm:alice:bo']) {
      pages[c] = [{ ciphertext: await d.kw.encryptString(c, `secret of ${c}`, { aad: 'm1' }), aad: 'm1' }];
    }
    const tok = await token(d, [t1, t2, l1], { scope: { conversations: [exact] } });
    for (const other of ['DM:Alice:Bob', 'dm:alice:bob ', 'dm:alice:bo']) {
      const before = d.unwrapped.length;
      const out = await d.bg.decrypt(tok.text, other, pages[other]!).then((r) => r, (e: { code?: string }) => e);
      expect((out as { code?: string }).code).toBe('ERR_BG_OUT_OF_SCOPE');
      expect(d.unwrapped.length).toBe(before);
    }
    const r = await d.bg.decrypt(tok.text, exact, pages[exact]!);
    expect(r.results.map((x) => (x.ok ? new TextDecoder().decode(x.plaintext) : x.error.code))).toEqual([`secret of ${exact}`]);
  });
});
