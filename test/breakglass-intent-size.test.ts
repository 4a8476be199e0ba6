/**
 * Every token a valid policy admits can be recorded (outside review, 2026-12-01). The access
 * intent lists one 64-hex-digit HMAC per conversation in scope (67 bytes with its quotes and
 * comma), and an audit entry holds at most 65,535 bytes: a policy could allow 1,000
 * conversations, and from 972 on the intent could not be encoded — the token could never be
 * used, and its failure left no entry at all. Now a policy allows at most 900 conversations,
 * and a token whose intent would still not fit (many long approver names) is refused before it
 * is used, with its refusal on the record.
 */
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { MemoryTokenLedger } from '../src/breakglass/ledger.js';
import { type BreakGlassPolicy, validatePolicy } from '../src/breakglass/policy.js';
import { generateApproverKey } from '../src/breakglass/token.js';
import { deployment, token } from './support/breakglass-fixtures.js';

const convs = (n: number) => ['c0', ...Array.from({ length: n - 1 }, (_, i) => `x${i}`)];

describe('the access intent of any admitted token fits one audit entry', () => {
  it('a policy may allow at most 900 conversations; a token at that limit is used and recorded', async () => {
    const d = await deployment();
    expect(() => validatePolicy({ ...d.policy, maxScope: { ...d.policy.maxScope, conversations: 901 } })).toThrow(expect.objectContaining({ param: 'policy.maxScope.conversations' }));
    const policy = { ...d.policy, maxScope: { ...d.policy.maxScope, conversations: 900 } };
    const bg = new BreakGlass({ policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 't' }, aead: nodeAead, now: d.now, ledger: new MemoryTokenLedger() });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1], { scope: { conversations: convs(900) } });
    const m = d.messages.c0!.at(-1)!;
    const r = await bg.decrypt(tok.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]);
    expect(r.opened).toBe(1);
    const intent = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry).find((e) => e.type === 'breakglass.access')!;
    expect((intent.scope as { conversations: string[] }).conversations).toHaveLength(900);
  });

  it('a token whose intent would not fit is refused before it is used, and the refusal is recorded', async () => {
    const d = await deployment();
    // 40 approvers with 256-character ids, all of whom approve: ~10 KB of names beside 60 KB of scope.
    const people = await Promise.all(Array.from({ length: 40 }, (_, i) => generateApproverKey(`${String(i).padStart(2, '0')}-${'a'.repeat(253)}`)));
    const policy: BreakGlassPolicy = {
      ...d.policy,
      factors: [{ name: 'everyone', threshold: 40, approvers: people.map((p) => ({ id: p.id, publicJwk: p.publicJwk })) }],
      maxScope: { ...d.policy.maxScope, conversations: 900 },
    };
    validatePolicy(policy);
    const ledger = new MemoryTokenLedger();
    const bg = new BreakGlass({ policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 't' }, aead: nodeAead, now: d.now, ledger });
    const tok = await token(d, people, { scope: { conversations: convs(900) } });
    const m = d.messages.c0!.at(-1)!;
    const before = await d.auditStore.size();
    await expect(bg.decrypt(tok.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }])).rejects.toMatchObject({ code: 'ERR_BG_OUT_OF_SCOPE' });
    const added = (await d.auditStore.read(before, await d.auditStore.size())).map(decodeEntry);
    expect(added).toEqual([expect.objectContaining({ type: 'breakglass.refused', token: tok.request.jti, refusal: 'ERR_BG_OUT_OF_SCOPE' })]);
    // Not used: the ledger would take it (and the same refusal comes again, not ERR_BG_REPLAYED).
    await expect(bg.decrypt(tok.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }])).rejects.toMatchObject({ code: 'ERR_BG_OUT_OF_SCOPE' });
    expect(await ledger.consume(tok.request.jti, new Date(tok.request.exp * 1000), async () => undefined)).toBe(true);
  });
});
