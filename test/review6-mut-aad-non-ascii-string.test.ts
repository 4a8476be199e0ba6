/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: "any … another
 * conversation, aad, key version or suite fails with the one `ERR_DECRYPT_FAILED`" (and the round
 * trip "for any … aad") — held, the table said, by test/keywarden-properties.test.ts and
 * test/format-vectors.test.ts.
 *
 * Survived: in src/format/wire.ts `AadBuffer.finish` no longer counting the bytes of a string aad
 * that takes the `encodeInto` path (`else length += encoder.encodeInto(…).written` → `else
 * encoder.encodeInto(…)`): a string aad with a non-ASCII character, or longer than 64 characters,
 * was then left out of the associated data entirely, on sealing and on opening alike — every
 * such message opened under ANY aad (a message moved to another message id of that kind still
 * decrypted). Both named files still passed: the property tests draw string aads from
 * `fc.string({ maxLength: 32 })` (fast-check 4: printable ASCII only, always the short-ASCII
 * copy loop), and the vectors' only non-ASCII aad is not valid UTF-8, so never tried as a string.
 *
 * Now asserted: string aads that are non-ASCII or longer than 64 characters are bound — another
 * such aad (or none) fails with ERR_DECRYPT_FAILED, on both implementations — and a string aad
 * means exactly its UTF-8 bytes (the same ciphertext opens with the bytes, not with anything else).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorCode, pair } from './support/fixtures.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
/** String aads off the short-ASCII path: some non-ASCII code point, or more than 64 characters. */
const hardAad = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((s) => s.isWellFormed() && /[^\x00-\x7f]/.test(s)),
  fc.string({ minLength: 65, maxLength: 200 }),
);

for (const suite of ['AES-256-GCM', 'XChaCha20-Poly1305'] as const) {
  describe(`${suite}: string aads beyond short ASCII are bound`, () => {
    const { node, noble } = pair({ suite });

    it('examples: a non-ASCII id, a long id', async () => {
      for (const [a, b] of [['msg-é', 'msg-ü'], ['😀', '😁'], ['x'.repeat(65), 'y'.repeat(65)], ['ä'.repeat(300), 'ö'.repeat(300)]]) {
        const ct = await node.encrypt('conv', utf8('hello'), { aad: a });
        expect(new TextDecoder().decode(await noble.decrypt('conv', ct, { aad: a }))).toBe('hello');
        expect(new TextDecoder().decode(await node.decrypt('conv', ct, { aad: utf8(a) }))).toBe('hello');
        for (const kw of [node, noble]) {
          expect(await errorCode(kw.decrypt('conv', ct, { aad: b }))).toBe('ERR_DECRYPT_FAILED');
          expect(await errorCode(kw.decrypt('conv', ct))).toBe('ERR_DECRYPT_FAILED');
        }
      }
    });

    it('property: sealed under one such aad, opened under another, fails', async () => {
      await fc.assert(
        fc.asyncProperty(hardAad, hardAad, fc.uint8Array({ maxLength: 64 }), async (a1, a2, pt) => {
          fc.pre(a1 !== a2);
          const ct = await noble.encrypt('conv-p', pt, { aad: a1 });
          expect(Buffer.from(await node.decrypt('conv-p', ct, { aad: a1 })).equals(Buffer.from(pt))).toBe(true);
          expect(await errorCode(node.decrypt('conv-p', ct, { aad: a2 }))).toBe('ERR_DECRYPT_FAILED');
          expect(await errorCode(noble.decrypt('conv-p', ct, { aad: a2 }))).toBe('ERR_DECRYPT_FAILED');
          expect(await errorCode(node.decrypt('conv-p', ct))).toBe('ERR_DECRYPT_FAILED');
        }),
        { numRuns: 100 },
      );
    });
  });
}
