/**
 * Review 2026-12-02 (second; suspected by the attachment-streams review, reproduced here):
 * break-glass `openAttachment` read the caller's aad view after the token was consumed.
 *
 * Was: the aad (bytes) was used to derive the attachment key only after the token checks, the
 * header read and the token's consumption. An aad transferred away (detached) meanwhile made the
 * derivation throw a raw TypeError: the token was spent, the access recorded as failed, and the
 * caller got `ERR_INTERNAL` — or, had the bytes merely changed, a key bound to other bytes.
 *
 * Now: break-glass works on its own copy of the aad, taken when the call is made (as `decrypt`
 * copies its items): what the caller asked to open is what is opened, whatever happens to its
 * buffer meanwhile.
 */
import { describe, expect, it } from 'vitest';
import type { AttachmentSource } from '../src/stream/reader.js';
import { bytesOf } from './support/attachments.js';
import { DAY, T0, deployment, token } from './support/breakglass-fixtures.js';

describe('break-glass openAttachment with an aad detached while the call runs', () => {
  it('opens with the aad as it was when the call was made', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    d.setTime(T0 + 5 * DAY);
    const pt = bytesOf(3000, 7);
    const aad = new TextEncoder().encode('att-aad-7');
    const ct = await d.kw.encryptAttachment('c0', pt, { aad, segmentSize: 1024 });
    d.setTime(T0 + 20 * DAY);
    const tok = await token(d, [t1, t2, l1]);
    const callerAad = Uint8Array.from(aad);
    let detached = false;
    // The source detaches the caller's aad the first time it is read (the header, before the token is used).
    const source: AttachmentSource = {
      size: ct.length,
      read: async (offset, length) => {
        if (!detached) {
          structuredClone(callerAad.buffer, { transfer: [callerAad.buffer] });
          detached = true;
        }
        return ct.slice(offset, offset + length);
      },
    };
    const r = await d.bg.openAttachment(tok.text, 'c0', source, { aad: callerAad });
    expect(detached && callerAad.length === 0).toBe(true);
    expect(Buffer.from(await r.attachment.decryptRange(0, pt.length)).equals(Buffer.from(pt))).toBe(true);
    r.attachment.close();
  });
});
