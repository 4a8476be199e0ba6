/**
 * Mutation review 4 (attachment parsers under fuzzing, SECURITY.md: "forged headers (any header
 * field, segment sizes up to 4 GiB never allocated) never open ... `inspectAttachment` reads
 * exactly the header or refuses"; test/fuzz-attachments.test.ts).
 *
 * Surviving mutation: src/stream/format.ts parseAttachmentHeader without its upper bound
 * (`segmentSize > MAX_SEGMENT_SIZE` dropped). The fuzz tests still passed: a forged header fails
 * authentication later anyway (ERR_DECRYPT_FAILED), and inspectAttachment's property only checks
 * the fields of what it accepts. So a header claiming segments of up to 4 GiB was accepted —
 * by inspectAttachment as a valid attachment, and by createAttachmentDecryptor, which then waits
 * for a first segment of that size before anything authenticates (read from the code; the memory
 * use itself is not measured here).
 *
 * Now asserted, for all segment sizes above MAX_SEGMENT_SIZE up to 2^32 - 1: inspectAttachment
 * refuses the header with ERR_UNSUPPORTED_FORMAT (the same header with a size within the bound is
 * read), and createAttachmentDecryptor refuses it with ERR_DECRYPT_FAILED before any body byte.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, inspectAttachment } from '../src/node.js';
import { ATTACHMENT_HEADER_LENGTH, MAX_SEGMENT_SIZE } from '../src/stream/format.js';

describe('attachment headers: a segment size above MAX_SEGMENT_SIZE is refused at the header', () => {
  it('for all sizes up to 4 GiB: inspectAttachment and createAttachmentDecryptor refuse the header', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(new Uint8Array(32).fill(7)), keyStore: new MemoryKeyStore() });
    const genuine = await kw.encryptAttachment('c:oversize', new Uint8Array(1000).fill(1), { segmentSize: 256 });
    const header = genuine.slice(0, ATTACHMENT_HEADER_LENGTH);
    expect(inspectAttachment(header).segmentSize).toBe(256); // the control
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(MAX_SEGMENT_SIZE + 1, 2 ** 31, 2 ** 32 - 1), fc.integer({ min: MAX_SEGMENT_SIZE + 1, max: 2 ** 32 - 1 })), async (size) => {
        const forged = header.slice();
        new DataView(forged.buffer).setUint32(10, size);
        expect(() => inspectAttachment(forged)).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_FORMAT' }));
        await expect(kw.createAttachmentDecryptor('c:oversize', forged)).rejects.toMatchObject({ code: 'ERR_DECRYPT_FAILED' });
      }),
      { numRuns: 50 },
    );
    await kw.close();
  });
});
