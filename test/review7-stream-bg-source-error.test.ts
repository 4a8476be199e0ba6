/**
 * Review 7 (break-glass attachments): a rejecting `AttachmentSource.read` reached the caller of
 * `BreakGlass.openAttachment` as `ERR_INTERNAL` ("break-glass failed unexpectedly") once the
 * token was spent, though SECURITY.md says the caller's own I/O errors — "a rejecting
 * `AttachmentSource.read`" — pass through unchanged, and `asKeywardenError` is meant for "a bug".
 *
 * Observed: the same source error is passed through unchanged when it hits the header read (before
 * the token is used), and by `Keywarden.openAttachment` and the reader's `decryptRange`; but when
 * it hits a segment read during the full authentication pass (after the token is consumed) it
 * became `ERR_INTERNAL`, so the operator was told keywarden had a bug when their object store
 * failed (e.g. a 503), and a code that switches on the caller's own error (retry the storage)
 * never saw it.
 *
 * Where: src/breakglass/access.ts openAttachment — the catch around openAndVerify wraps every
 * error with `asKeywardenError`, the source's rejection included
 * (src/breakglass/attachment.ts openAndVerify → AttachmentReader.authenticateAll).
 *
 * Now: openAndVerify marks a rejection of the caller's read, and openAttachment rethrows it
 * unchanged (after recording the outcome `failed`, as before); every other error is as it was.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import type { AttachmentSource } from '../src/stream/reader.js';
import { bytesOf } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

describe('break-glass openAttachment with a source whose read rejects', () => {
  it('passes the caller\'s own read error through unchanged, after recording the outcome failed', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const ct = await d.kw.encryptAttachment('c0', bytesOf(5000, 3), { aad: 'att-3', segmentSize: 1024 });
    d.setTime(T0 + 20 * DAY);
    const tok = await token(d, [t1, t2, l1]);
    const storageDown = Object.assign(new Error('object store: 503 Slow Down'), { status: 503 });
    let reads = 0;
    // The header read succeeds; the first segment read (after the token is used) fails.
    const source: AttachmentSource = {
      size: ct.length,
      read: async (offset, length) => {
        if (reads++ > 0) throw storageDown;
        return ct.slice(offset, offset + length);
      },
    };
    const err = await d.bg.openAttachment(tok.text, 'c0', source, { aad: 'att-3' }).catch((e: unknown) => e);
    expect(reads).toBe(2);
    expect(err).toBe(storageDown);
    const evs = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry);
    expect(evs.slice(-2).map((e) => `${e.type}:${e.outcome ?? ''}`)).toEqual(['breakglass.access:', 'breakglass.outcome:failed']);
  });

  it('as the header read and Keywarden.openAttachment do with the same error', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const ct = await d.kw.encryptAttachment('c0', bytesOf(5000, 3), { aad: 'att-3', segmentSize: 1024 });
    d.setTime(T0 + 20 * DAY);
    const storageDown = new Error('object store: 503 Slow Down');
    const failing: AttachmentSource = { size: ct.length, read: async () => { throw storageDown; } };
    await expect(d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', failing, { aad: 'att-3' })).rejects.toBe(storageDown);
    await expect(d.kw.openAttachment('c0', failing, { aad: 'att-3' })).rejects.toBe(storageDown);
  });

  it('keywarden\'s own failures after the token is used are unchanged: a damaged segment is ERR_DECRYPT_FAILED', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const ct = Uint8Array.from(await d.kw.encryptAttachment('c0', bytesOf(5000, 3), { aad: 'att-3', segmentSize: 1024 }));
    ct[46 + 1040 + 3]! ^= 1;
    d.setTime(T0 + 20 * DAY);
    const source: AttachmentSource = { size: ct.length, read: async (o, n) => ct.slice(o, o + n) };
    await expect(d.bg.openAttachment((await token(d, [t1, t2, l1])).text, 'c0', source, { aad: 'att-3' })).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
  });
});
