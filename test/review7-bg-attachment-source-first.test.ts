/**
 * Outside review 7 (break-glass): `BreakGlass.openAttachment` checked its `source` argument only
 * after the token had been verified and judged against the call. A call whose source is not an
 * attachment source at all (null, a number, `{ size: -1, read }`) therefore ran every signature
 * check, and when the token was refused for another reason (expired, conversation out of scope,
 * already used) it wrote a `breakglass.refused` entry to the audit log and threw that refusal
 * (observed: `openAttachment(expiredToken, 'c0', null)` → ERR_BG_EXPIRED with a refused entry
 * on the log; with a valid token and a conversation outside its scope → ERR_BG_OUT_OF_SCOPE,
 * recorded) instead of ERR_INVALID_INPUT naming `source`. `decrypt` checks all of its arguments
 * (conversation id, items, options) before the token, and a bad argument writes nothing; the
 * attachment call did not, so a caller's bug put refusals on the permanent record.
 *
 * Where: src/breakglass/access.ts `openAttachment` (the source was resolved by
 * `attachmentHeader`, src/breakglass/attachment.ts, after verifyToken and the scope check).
 *
 * Now: the source is checked with the other arguments, before the token is looked at: a bad one
 * is ERR_INVALID_INPUT naming `source` (or `source.size` / `source.read`), nothing is written to
 * the log, the token is not used, and the same token then opens an attachment.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { bytesOf } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

type D = Awaited<ReturnType<typeof deployment>>;
const events = async (d: D) => (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);
const outcome = (p: Promise<unknown>) => p.then(() => ({ code: 'resolved' }), (e: { code?: string; param?: string }) => ({ code: e.code, param: e.param }));

describe('break-glass openAttachment checks its source before the token', () => {
  it('a source that is not one is ERR_INVALID_INPUT, whatever the token, and nothing is recorded', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const expired = await token(d, [t1, t2, l1], { exp: Math.floor(d.now().getTime() / 1000) + 60 });
    const tok = await token(d, [t1, t2, l1], { exp: Math.floor(d.now().getTime() / 1000) + 7200 });
    d.setTime(d.now().getTime() + 120_000); // `expired` has expired, `tok` has not
    const read = async () => new Uint8Array(0);
    const cases: [string, unknown, string, string][] = [
      [expired.text, null, 'c0', 'source'],
      [expired.text, 42, 'c0', 'source'],
      [tok.text, null, 'c2', 'source'], // c2 is outside the token's scope
      [tok.text, { size: -1, read }, 'c2', 'source.size'],
      [tok.text, { size: 10, read: 'nope' }, 'c2', 'source.read'],
    ];
    for (const [text, source, conversation, param] of cases) {
      expect(await outcome(d.bg.openAttachment(text, conversation, source as never))).toEqual({ code: 'ERR_INVALID_INPUT', param });
    }
    expect((await events(d)).map((e) => e.type)).toEqual([]);

    // The token was not used: it opens an attachment of c0 sealed inside its window.
    const back = d.now().getTime();
    d.setTime(T0 + 5 * DAY + 1000);
    const pt = bytesOf(3000, 5);
    const ct = await d.kw.encryptAttachment('c0', pt, { aad: 'att-5', segmentSize: 1024 });
    d.setTime(back);
    const r = await d.bg.openAttachment(tok.text, 'c0', ct, { aad: 'att-5' });
    expect(Buffer.from(await r.attachment.decryptRange(0, pt.length)).equals(Buffer.from(pt))).toBe(true);
    r.attachment.close();
    expect((await events(d)).map((e) => e.type)).toEqual(['breakglass.access', 'breakglass.outcome']);
  });
});
