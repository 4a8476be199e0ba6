/**
 * Mutation review 3 (attachments and the key lifecycle, SECURITY.md: "a shredded conversation's
 * or retired version's attachments fail with ERR_KEY_SHREDDED through every API (streams, ranges,
 * files, break-glass); a reader opened before a shred stops at its next range").
 *
 * Surviving mutation: making the break-glass reader's per-range re-check a no-op
 * (src/breakglass/attachment.ts openAndVerify, `recheck`) left the row's named test,
 * test/attachments-lifecycle.test.ts, passing: it re-checks only Keywarden's own readers, and
 * refuses break-glass only before the token is used. (test/breakglass-attachment.test.ts, cited
 * under another row, does catch the conversation-shred case.)
 *
 * Now asserted, next to the lifecycle test: a break-glass reader opened before the shred stops
 * at its next range with ERR_KEY_SHREDDED and stays stopped (ERR_CLOSED) — for a conversation
 * shred and for a retired version (shred below), where the later version's reader reads on.
 */
import { describe, expect, it } from 'vitest';
import { bytesOf } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';
import { errorCode } from './support/fixtures.js';

describe('break-glass attachment readers and the key lifecycle', () => {
  it('a break-glass reader opened before a conversation shred stops at its next range', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const pt = bytesOf(3000, 21);
    const a = await d.kw.encryptAttachment('c0', pt, { aad: 'att-21', segmentSize: 512 });
    d.setTime(T0 + 20 * DAY);
    const { attachment } = await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', a, { aad: 'att-21' });
    expect(await attachment.decryptRange(1000, 50)).toEqual(pt.subarray(1000, 1050));
    await d.kw.shred('c0');
    expect(await errorCode(attachment.decryptRange(1000, 50))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(attachment.decryptRange(0, 1))).toBe('ERR_CLOSED');
  });

  it('a retired version (shred below) stops its break-glass reader; the later version\'s reads on', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const pt = bytesOf(3000, 22);
    const old = await d.kw.encryptAttachment('c0', pt, { aad: 'att-22', segmentSize: 512 });
    const { version } = await d.kw.rotate('c0');
    const young = await d.kw.encryptAttachment('c0', pt, { aad: 'att-23', segmentSize: 512 });
    d.setTime(T0 + 20 * DAY);
    const oldReader = (await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', old, { aad: 'att-22' })).attachment;
    const youngReader = (await d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', young, { aad: 'att-23' })).attachment;
    await d.kw.shred('c0', { below: version });
    expect(await errorCode(oldReader.decryptRange(0, 10))).toBe('ERR_KEY_SHREDDED');
    expect(await youngReader.decryptRange(2990, 10)).toEqual(pt.subarray(2990));
  });
});
