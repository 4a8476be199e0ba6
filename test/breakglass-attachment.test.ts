/**
 * Break-glass for attachments (issue #16, point 4): an attachment of a conversation in scope,
 * sealed inside the token's window, opens — after its intent and outcome (with the digest of
 * exactly the stored attachment) are in the audit log; one sealed outside the window is refused
 * before the token is used or any key unwrapped; a tampered or relabelled one fails and is
 * recorded as failed; the conversation key is wiped in every case; the token is single-use.
 */
import { describe, expect, it } from 'vitest';
import { ciphertextsDigest, decodeEntry } from '../src/audit/entry.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { bytesOf } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

type D = Awaited<ReturnType<typeof deployment>>;
const events = async (d: D) => (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);

/** An attachment of c0 sealed on `day` (the token windows below cover days 0-30). */
async function attachment(d: D, day: number, size = 5000) {
  const back = d.now().getTime();
  d.setTime(T0 + day * DAY + 1000);
  const pt = bytesOf(size, day);
  const ct = await d.kw.encryptAttachment('c0', pt, { aad: `att-${day}`, segmentSize: 1024 });
  d.setTime(back);
  return { pt, ct, aad: `att-${day}` };
}

describe('break-glass attachments', () => {
  it('opens an attachment in scope, after the access and its outcome are on the record; single use', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const a = await attachment(d, 5);
    const tok = await token(d, [t1, t2, l1]);
    const before = (await events(d)).length;
    const r = await d.bg.openAttachment(tok.text, 'c0', a.ct, { aad: a.aad });
    expect(r.token).toBe(tok.request.jti);
    expect([...r.approvers].sort()).toEqual(['l1', 't1', 't2']);
    expect(r.attachment.size).toBe(a.pt.length);
    expect(Buffer.from(await r.attachment.decryptRange(0, a.pt.length)).equals(Buffer.from(a.pt))).toBe(true);
    r.attachment.close();
    const evs = (await events(d)).slice(before);
    expect(evs.map((e) => `${e.type}:${e.outcome ?? ''}`)).toEqual(['breakglass.access:', 'breakglass.outcome:released']);
    expect(evs[1]).toMatchObject({ intent: r.intent, messages: 1, ciphertexts: ciphertextsDigest([a.ct]) });
    expect(r.ciphertexts).toBe(ciphertextsDigest([a.ct]));
    // The conversation key (the active version, 2, sealed it) was unwrapped once and wiped.
    expect(d.unwrapped.map((u) => u.version)).toEqual(['c0#2']);
    expect(d.unwrapped.every((u) => u.key.every((b) => b === 0))).toBe(true);
    // Single use.
    await expect(d.bg.openAttachment(tok.text, 'c0', a.ct, { aad: a.aad })).rejects.toMatchObject({ code: 'ERR_BG_REPLAYED' });
    const all = await d.auditStore.read(0, await d.auditStore.size());
    expect(verifyAuditLog({ verifierKey: d.logVerifierKey, entries: all, checkpoints: await d.auditStore.checkpoints() }).ok).toBe(true);
  });

  it('a reader opened before the conversation is shredded stops at its next range, as a Keywarden reader does', async () => {
    // Outside review, 2026-12-01: the break-glass reader kept decrypting after the shred.
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const pt = bytesOf(4000, 3);
    const a = await d.kw.encryptAttachment('c0', pt, { aad: 'att-3', segmentSize: 512 });
    d.setTime(T0 + 20 * DAY);
    const { attachment } = await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', a, { aad: 'att-3' });
    expect(await attachment.decryptRange(0, 10)).toEqual(pt.subarray(0, 10));
    await d.kw.shred('c0');
    await expect(d.kw.decryptAttachment('c0', a, { aad: 'att-3' })).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    await expect(attachment.decryptRange(600, 100)).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    // Its key is gone: it stays failed.
    await expect(attachment.decryptRange(0, 10)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('reads a source by ranges, as Keywarden.openAttachment does', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const a = await attachment(d, 12, 100_000);
    const source = { size: a.ct.length, read: async (o: number, n: number) => a.ct.slice(o, o + n) };
    const r = await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', source, { aad: a.aad });
    expect(Buffer.from(await r.attachment.decryptRange(40_000, 1000)).equals(Buffer.from(a.pt.subarray(40_000, 41_000)))).toBe(true);
    expect(d.unwrapped.map((u) => u.version)).toEqual(['c0#2']);
  });

  it('refuses an attachment sealed outside the window before the token is used or a key unwrapped', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const late = await attachment(d, 40);
    const tok = await token(d, [t1, t2, l1]);
    await expect(d.bg.openAttachment(tok.text, 'c0', late.ct, { aad: late.aad })).rejects.toMatchObject({ code: 'ERR_BG_OUT_OF_SCOPE' });
    expect(d.unwrapped).toEqual([]);
    expect((await events(d)).at(-1)).toMatchObject({ type: 'breakglass.refused', refusal: 'ERR_BG_OUT_OF_SCOPE' });
    // The token was not consumed: it still opens an attachment inside its window.
    const ok = await attachment(d, 20);
    const r = await d.bg.openAttachment(tok.text, 'c0', ok.ct, { aad: ok.aad });
    expect(r.attachment.size).toBe(ok.pt.length);
  });

  it('refuses a conversation outside the token scope', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const a = await attachment(d, 5);
    await expect(d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c1', a.ct, { aad: a.aad })).rejects.toMatchObject({ code: 'ERR_BG_OUT_OF_SCOPE' });
    expect(d.unwrapped).toEqual([]);
  });

  const failures: [string, (a: { ct: Uint8Array; aad: string }) => { ct: Uint8Array; aad: string }][] = [
    ['a flipped bit in a middle segment', (a) => {
      const ct = Uint8Array.from(a.ct);
      ct[46 + 1040 * 2 + 9]! ^= 1;
      return { ...a, ct };
    }],
    ['a sealing time moved into the window (the header is authenticated through the key)', (a) => {
      const ct = Uint8Array.from(a.ct);
      new DataView(ct.buffer).setUint32(6, (T0 + 3 * DAY) / 1000);
      return { ...a, ct };
    }],
    ['another aad', (a) => ({ ...a, aad: 'att-other' })],
    ['the last segment dropped', (a) => ({ ...a, ct: a.ct.subarray(0, a.ct.length - (a.ct.length - 46) % 1040) })],
  ];
  for (const [name, spoil] of failures) {
    it(`${name}: ERR_DECRYPT_FAILED, recorded as failed, keys wiped, nothing returned`, async () => {
      const d = await deployment();
      const { t1, t2, l1 } = d.approvers;
      const a = spoil(await attachment(d, name.includes('sealing time') ? 40 : 5));
      const err = await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', a.ct, { aad: a.aad }).catch((e) => e);
      expect(err.code).toBe('ERR_DECRYPT_FAILED');
      const evs = await events(d);
      expect(evs.slice(-2).map((e) => `${e.type}:${e.outcome ?? ''}`)).toEqual(['breakglass.access:', 'breakglass.outcome:failed']);
      expect(evs.at(-1)).toMatchObject({ messages: 0 });
      expect(d.unwrapped.length).toBe(1);
      expect(d.unwrapped[0]!.key.every((b) => b === 0)).toBe(true);
    });
  }

  it('the outcome cannot be recorded: nothing is returned, the log says withheld', async () => {
    const store = new MemoryAuditStore();
    const d = await deployment({ auditStore: store });
    const { t1, t2, l1 } = d.approvers;
    const a = await attachment(d, 5);
    const tok = await token(d, [t1, t2, l1]);
    // A checkpoint is published in the step that integrates the batch (docs/AUDIT.md §4.1): the
    // outcome's step (its entry and checkpoint) fails.
    const realIntegrate = store.integrate.bind(store);
    let checkpoints = 0;
    store.integrate = async (batch) => {
      if (batch.checkpoint !== undefined && ++checkpoints === 2) throw new Error('fsync failed on the outcome checkpoint'); // 1: intent, 2: outcome
      return realIntegrate(batch);
    };
    const err = await d.bg.openAttachment(tok.text, 'c0', a.ct, { aad: a.aad }).catch((e) => e);
    expect(err.code).toBe('ERR_AUDIT_UNAVAILABLE');
    const evs = (await store.read(0, await store.size())).map(decodeEntry);
    expect(evs.map((e) => e.outcome).filter(Boolean)).toEqual(['withheld']);
  });

  it('bad arguments name the parameter; a source that is not an attachment fails without using the token', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    await expect(d.bg.openAttachment(tok.text, 'c0', null as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'source' });
    await expect(d.bg.openAttachment(tok.text, '', new Uint8Array(100))).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'conversationId' });
    await expect(d.bg.openAttachment(tok.text, 'c0', new Uint8Array(100), { level: 1 } as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.level' });
    await expect(d.bg.openAttachment(tok.text, 'c0', d.messages.c0![0]!.ct)).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
    const a = await attachment(d, 5);
    expect((await d.bg.openAttachment(tok.text, 'c0', a.ct, { aad: a.aad })).attachment.size).toBe(a.pt.length);
  });
});
