/**
 * Outside review 7 (break-glass): when the token ledger failed after it had run `record` — the
 * intent appended to the audit log, then the ledger's own write failed (a PostgreSQL COMMIT lost
 * with its connection; any `TokenLedger`, a public option, whose step fails after `record`) —
 * BreakGlass threw the ledger's error and wrote nothing more. Nothing was released, but the log
 * kept a `breakglass.access` entry with no outcome for good: to an auditor an access whose result
 * is unknown, although the library knew it had failed. Every other failure after the intent is
 * on the log records `failed` (docs/BREAK-GLASS.md §3: "`failed` — the access failed before
 * anything was released").
 *
 * Where: src/breakglass/access.ts `#consumeWithIntent` (the catch around `ledger.consume`).
 *
 * Now: if the intent was appended (not merely written into a transaction the ledger rolled back)
 * and the ledger then fails, a `failed` outcome naming that intent follows it on the log; the
 * caller still gets the ledger's error, and nothing is unwrapped. A failure before the intent
 * was recorded adds nothing.
 */
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import type { TokenLedger } from '../src/breakglass/ledger.js';
import { StoreError } from '../src/errors.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('a ledger that fails after the intent was recorded', () => {
  it('the intent is followed by a failed outcome; nothing is unwrapped', async () => {
    const d = await deployment();
    const failing: TokenLedger = {
      async consume(_jti, _exp, record) {
        await record();
        throw new StoreError('postgres token ledger: consume failed (connection lost at COMMIT)', undefined, true);
      },
    };
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'x' }, aead: nodeAead, now: d.now, ledger: failing });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    await expect(bg.decrypt(tok.text, 'c0', d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad })))).rejects.toMatchObject({ code: 'ERR_STORE_FAILED' });
    expect(d.unwrapped).toEqual([]);
    const entries = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);
    expect(entries.map((e) => `${e.type}${e.outcome ? `:${e.outcome}` : ''}`)).toEqual(['breakglass.access', 'breakglass.outcome:failed']);
    expect(entries[1]).toMatchObject({ intent: entries[0]!.id, token: tok.request.jti, messages: 0 });
  });

  it('a ledger that fails before running record adds nothing to the log', async () => {
    const d = await deployment();
    const failing: TokenLedger = { consume: async () => { throw new StoreError('postgres token ledger: consume failed', undefined, true); } };
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'x' }, aead: nodeAead, now: d.now, ledger: failing });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    await expect(bg.decrypt(tok.text, 'c0', d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad })))).rejects.toMatchObject({ code: 'ERR_STORE_FAILED' });
    expect(await d.auditStore.size()).toBe(0);
  });
});
