/**
 * Review 2026-12-02 (second; SECURITY.md listed it as suspected, not reproduced): a break-glass
 * redemption checked the token's times once, when it began. One that then waited in the ledger
 * (behind a concurrent redemption of the same token whose audit append was slow or failed, or a
 * ledger row lock) consumed the token and released plaintext after `exp` — up to the audit's
 * `appendTimeoutMs` late, or longer with a slow ledger.
 *
 * Now: the times are checked again at the point of use, inside the ledger's step, just before
 * the intent is recorded and the token marked used. A token that expired meanwhile is refused
 * `ERR_BG_EXPIRED` with its refusal on the record; it is not consumed and nothing is opened.
 * The same token redeemed while still valid through the same slow ledger goes through.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { MemoryTokenLedger, type TokenLedger } from '../src/breakglass/ledger.js';
import { nodeAead } from '../src/aead/node.js';
import { approveRequest, createRequest, encodeToken } from '../src/breakglass/token.js';
import { defaultScope, deployment, token } from './support/breakglass-fixtures.js';

/** A ledger whose step starts only when `open()` is called (a wait behind another redemption). */
function gatedLedger() {
  const inner = new MemoryTokenLedger();
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let waiting!: () => void;
  const reached = new Promise<void>((r) => (waiting = r));
  const ledger: TokenLedger = {
    async consume(jti, expiresAt, record) {
      waiting();
      await gate;
      return inner.consume(jti, expiresAt, record);
    },
  };
  return { ledger, inner, open: () => open(), reached };
}

async function entries(d: Awaited<ReturnType<typeof deployment>>) {
  return (await d.auditStore.read(0, await d.auditStore.size())).map((e) => decodeEntry(e) as unknown as Record<string, unknown>);
}

describe('break-glass: a token that expires while its redemption waits in the ledger', () => {
  it('is refused ERR_BG_EXPIRED at the point of use, not consumed, nothing opened, the refusal recorded', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const nowS = Math.floor(d.now().getTime() / 1000);
    const tk = await token(d, [t1, t2, l1], { exp: nowS + 60 });
    const g = gatedLedger();
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now, ledger: g.ledger });
    const m = d.messages.c0![0]!;
    const before = d.unwrapped.length;
    const pending = bg.decrypt(tk.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]).then((r) => r, (e) => e);
    await g.reached; // verified while valid; now waiting in the ledger
    d.setTime(d.now().getTime() + 120_000); // two minutes later: past exp
    g.open();
    const r = await pending;
    expect(r).toMatchObject({ code: 'ERR_BG_EXPIRED' });
    expect(d.unwrapped.length).toBe(before); // no key touched
    const log = await entries(d);
    expect(log.some((e) => e.type === 'breakglass.access')).toBe(false); // no intent: not consumed
    expect(log.at(-1)).toMatchObject({ type: 'breakglass.refused', refusal: 'ERR_BG_EXPIRED', token: tk.request.jti });
    // Not consumed: the ledger has no record of it.
    let ran = false;
    expect(await g.inner.consume(tk.request.jti, new Date(Date.now() + 60_000), async () => void (ran = true))).toBe(true);
    expect(ran).toBe(true);
  });

  it('an approval that expires first ends the token at the point of use too', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const nowS = Math.floor(d.now().getTime() / 1000);
    const req = createRequest({ policy: d.policy.id, aud: d.policy.audience, requester: 'reviewer-7', reason: 'USER_REPORT_REVIEW', detail: 'case-1', scope: defaultScope(), exp: nowS + 3600 }, d.now);
    const approvals = [
      await approveRequest(req, { id: t1.id, privateJwk: t1.privateJwk }, { now: d.now }),
      await approveRequest(req, { id: t2.id, privateJwk: t2.privateJwk }, { now: d.now, expiresInSeconds: 30 }),
      await approveRequest(req, { id: l1.id, privateJwk: l1.privateJwk }, { now: d.now }),
    ];
    const g = gatedLedger();
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now, ledger: g.ledger });
    const m = d.messages.c0![0]!;
    const pending = bg.decrypt(encodeToken({ request: req, approvals }), 'c0', [{ ciphertext: m.ct, aad: m.aad }]).then((r) => r, (e) => e);
    await g.reached;
    d.setTime(d.now().getTime() + 60_000); // t2's approval has expired; the request has not
    g.open();
    expect(await pending).toMatchObject({ code: 'ERR_BG_EXPIRED' });
    expect((await entries(d)).some((e) => e.type === 'breakglass.access')).toBe(false);
  });

  it('the same slow ledger with the token still valid: released as usual', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const nowS = Math.floor(d.now().getTime() / 1000);
    const tk = await token(d, [t1, t2, l1], { exp: nowS + 600 });
    const g = gatedLedger();
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now, ledger: g.ledger });
    const m = d.messages.c0![0]!;
    const pending = bg.decrypt(tk.text, 'c0', [{ ciphertext: m.ct, aad: m.aad }]);
    await g.reached;
    d.setTime(d.now().getTime() + 120_000); // still 8 minutes before exp
    g.open();
    const r = await pending;
    expect(r.results.map((x) => (x.ok ? new TextDecoder().decode(x.plaintext) : x.error.code))).toEqual([m.text]);
  });
});
