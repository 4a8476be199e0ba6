/**
 * Break-glass checks a message's sealing time, waits for its key (key store, KMS), then opens
 * it and records a digest of what it opened. The caller owns the buffers it passed: if the call
 * read them again after a wait, a caller who rewrites them meanwhile would have a message sealed
 * outside the token's window opened, or the outcome entry name ciphertexts that were never
 * opened (found by an outside review, 2026-11-30). The call works on its own copies.
 */
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { ciphertextsDigest, decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import type { MasterKeyProvider } from '../src/kms/provider.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

type Deployment = Awaited<ReturnType<typeof deployment>>;
const enc = (s: string) => new TextEncoder().encode(s);
const text = (r: { ok: boolean; plaintext?: Uint8Array; error?: { code: string } }) => (r.ok ? new TextDecoder().decode(r.plaintext) : r.error!.code);

/** A BreakGlass over `d` whose KMS runs `onUnwrap` (the caller's code, meanwhile) before each unwrap. */
function withHook(d: Deployment, onUnwrap: (n: number) => void): BreakGlass {
  let n = 0;
  const masterKey: MasterKeyProvider = {
    keyId: d.masterKey.keyId,
    generateDataKey: (ctx) => d.masterKey.generateDataKey(ctx),
    unwrapDataKey: async (w, ctx, id) => {
      onUnwrap(n++);
      return d.masterKey.unwrapDataKey(w, ctx, id);
    },
  };
  return new BreakGlass({ policy: d.policy, masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'tns-console' }, aead: nodeAead, now: d.now });
}

async function lastEntry(d: Deployment) {
  const size = await d.auditStore.size();
  return decodeEntry((await d.auditStore.read(size - 1, size))[0]!) as unknown as Record<string, unknown>;
}

describe('break-glass works on copies of the caller\'s buffers', () => {
  it('a message rewritten in place while its key loads is not opened outside the window', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const inside = d.messages.c0![4]!; // day 14, key v2
    const outside = d.messages.c0![3]!; // day 10, key v2: outside [day 12, day 19)
    expect(inside.ct.length).toBe(outside.ct.length);
    const scope = { from: new Date(T0 + 12 * DAY).toISOString(), to: new Date(T0 + 19 * DAY).toISOString() };
    const honest = await d.bg.decrypt((await token(d, [t1, t2, l1], { scope })).text, 'c0', [{ ciphertext: outside.ct, aad: outside.aad }]);
    expect(honest.results.map(text)).toEqual(['ERR_BG_OUT_OF_SCOPE']);

    const ct = Uint8Array.from(inside.ct);
    const aad = enc(inside.aad);
    const bg = withHook(d, () => {
      ct.set(outside.ct);
      aad.set(enc(outside.aad));
    });
    const r = await bg.decrypt((await token(d, [t1, t2, l1], { scope })).text, 'c0', [{ ciphertext: ct, aad }]);
    // What was asked for, as it was when asked: the message inside the window.
    expect(r.results.map(text)).toEqual([inside.text]);
    expect(Buffer.from(ct).equals(outside.ct)).toBe(true); // the rewrite did happen
    expect((await lastEntry(d)).ciphertexts).toBe(ciphertextsDigest([inside.ct]));
  });

  it('the outcome\'s digest names exactly the ciphertexts opened, however the caller\'s buffers change', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const [, m1, m2, , m4] = d.messages.c0!; // m1, m2: key v1; m4: key v2
    const ct0 = Uint8Array.from(m1!.ct);
    const aad0 = enc(m1!.aad);
    // The second unwrap (key v2, for item 1) runs after item 0's key: rewrite item 0 then.
    const bg = withHook(d, (n) => {
      if (n === 1) {
        ct0.set(m2!.ct);
        aad0.set(enc(m2!.aad));
      }
    });
    const r = await bg.decrypt((await token(d, [t1, t2, l1])).text, 'c0', [{ ciphertext: ct0, aad: aad0 }, { ciphertext: m4!.ct, aad: m4!.aad }]);
    expect(r.results.map(text)).toEqual([m1!.text, m4!.text]);
    expect(Buffer.from(ct0).equals(m2!.ct)).toBe(true);
    const outcome = await lastEntry(d);
    expect(outcome.type).toBe('breakglass.outcome');
    expect(outcome.ciphertexts).toBe(ciphertextsDigest([m1!.ct, m4!.ct]));
  });

  it('a ciphertext on a detached buffer is a failed item, not a raw TypeError', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const m = d.messages.c0![4]!;
    const gone = Uint8Array.from(m.ct);
    structuredClone(gone.buffer, { transfer: [gone.buffer] }); // detaches it
    expect(gone.length).toBe(0);
    const r = await d.bg.decrypt((await token(d, [t1, t2, l1])).text, 'c0', [{ ciphertext: gone, aad: m.aad }, { ciphertext: m.ct, aad: m.aad }]);
    expect(r.results.map(text)).toEqual(['ERR_DECRYPT_FAILED', m.text]);
  });
});
