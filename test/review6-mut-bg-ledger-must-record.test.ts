/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: break-glass "intent
 * recorded before any unwrap … fail-closed on audit failure" — held, the table said, by
 * test/breakglass-access.test.ts, test/breakglass-token.test.ts, test/breakglass-outcome.test.ts
 * and test/review-fixes.test.ts.
 *
 * Survived: in src/breakglass/access.ts (`#consumeWithIntent`) the check that a ledger's `true`
 * came with the intent recorded removed (`if (!recorded) {` → `if (false && !recorded) {`).
 * `ledger` is a public option: a `TokenLedger` that answers `true` without running `record` (or
 * without awaiting it) then had the page unwrapped and its plaintext released with no
 * `breakglass.access` entry on the log. The named files still passed: every ledger they use runs
 * `record` to completion.
 *
 * Now asserted: with a ledger that says "fresh" but never runs `record`, decrypt fails with
 * ERR_AUDIT_UNAVAILABLE, no key is unwrapped, no plaintext is returned, and the log holds no
 * `breakglass.access` entry and no `released` outcome.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import type { TokenLedger } from '../src/breakglass/ledger.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('a ledger that consumes without recording the intent releases nothing', () => {
  it('ERR_AUDIT_UNAVAILABLE, nothing unwrapped, nothing released, no access entry', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.slice(0, 2).map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const skipsRecord: TokenLedger = { consume: async () => true };
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'x' }, ledger: skipsRecord, now: d.now });
    const before = d.unwrapped.length;
    const out = await bg.decrypt(tok.text, 'c0', page).then((r) => r, (e: { code?: string }) => e);
    expect((out as { code?: string }).code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect((out as { results?: unknown }).results).toBeUndefined();
    expect(d.unwrapped.length).toBe(before);
    const evs = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);
    expect(evs.filter((e) => e.type === 'breakglass.access')).toHaveLength(0);
    expect(evs.filter((e) => e.type === 'breakglass.outcome' && e.outcome === 'released')).toHaveLength(0);
  });
});
