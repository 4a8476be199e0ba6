/**
 * Property tests of the public encrypt/decrypt contract (issue #2 acceptance): round trip,
 * tamper detection, context binding, and agreement of the native and portable implementations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inspectCiphertext } from '../src/node.js';
import { aadArb, conversationIdArb, errorCode, pair, plaintextArb } from './support/fixtures.js';

const toBytes = (a: Uint8Array | string | undefined) => (typeof a === 'string' ? new TextEncoder().encode(a) : a ?? new Uint8Array(0));
const sameBytes = (a: Uint8Array | string | undefined, b: Uint8Array | string | undefined) => Buffer.from(toBytes(a)).equals(Buffer.from(toBytes(b)));

for (const suite of ['AES-256-GCM', 'XChaCha20-Poly1305'] as const) {
  describe(`${suite}`, () => {
    const { node, noble } = pair({ suite });

    it('round-trips any conversation id, plaintext (0 B..1 MiB) and aad, across implementations', async () => {
      await fc.assert(
        fc.asyncProperty(conversationIdArb, plaintextArb, aadArb, async (conv, pt, aad) => {
          const opts = aad === undefined ? undefined : { aad };
          const a = await node.encrypt(conv, pt, opts);
          const b = await noble.encrypt(conv, pt, opts);
          expect(a.length).toBe(pt.length + (suite === 'AES-256-GCM' ? 38 : 50)); // format v2: 10-byte header
          for (const ct of [a, b]) {
            expect(Buffer.from(await node.decrypt(conv, ct, opts)).equals(Buffer.from(pt))).toBe(true);
            expect(Buffer.from(await noble.decrypt(conv, ct, opts)).equals(Buffer.from(pt))).toBe(true);
          }
          // Two seals of the same message differ (fresh random nonce).
          if (pt.length > 0) expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
        }),
        { numRuns: 60 },
      );
    });

    it('fails with ERR_DECRYPT_FAILED after any single-bit flip, truncation or extension', async () => {
      await fc.assert(
        fc.asyncProperty(conversationIdArb, fc.uint8Array({ maxLength: 300 }), aadArb, fc.nat(), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 }), async (conv, pt, aad, bitSeed, cutSeed, extra) => {
          const opts = aad === undefined ? undefined : { aad };
          const ct = await node.encrypt(conv, pt, opts);
          const flipped = Uint8Array.from(ct);
          const bit = bitSeed % (ct.length * 8);
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          const truncated = ct.subarray(0, cutSeed % ct.length);
          const extended = Buffer.concat([ct, extra]);
          for (const kw of [node, noble]) {
            for (const bad of [flipped, truncated, extended]) {
              expect(await errorCode(kw.decrypt(conv, bad, opts))).toBe('ERR_DECRYPT_FAILED');
            }
          }
        }),
        { numRuns: 150 },
      );
    });

    it('every single-bit flip of one ciphertext fails (exhaustive)', async () => {
      const ct = await node.encrypt('exhaustive', new TextEncoder().encode('flip every bit of me'), { aad: 'm-1' });
      for (let bit = 0; bit < ct.length * 8; bit++) {
        const bad = Uint8Array.from(ct);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(await errorCode(node.decrypt('exhaustive', bad, { aad: 'm-1' }))).toBe('ERR_DECRYPT_FAILED');
      }
      for (let len = 0; len < ct.length; len++) {
        expect(await errorCode(noble.decrypt('exhaustive', ct.subarray(0, len), { aad: 'm-1' }))).toBe('ERR_DECRYPT_FAILED');
      }
    });

    it('is bound to the conversation id and the aad', async () => {
      await fc.assert(
        fc.asyncProperty(conversationIdArb, conversationIdArb, aadArb, aadArb, fc.uint8Array({ maxLength: 200 }), async (c1, c2, aad1, aad2, pt) => {
          fc.pre(c1 !== c2 || !sameBytes(aad1, aad2));
          // Both conversations have keys, so a failure is the binding, not a missing key.
          await node.encrypt(c2, new Uint8Array(1));
          const ct = await node.encrypt(c1, pt, aad1 === undefined ? undefined : { aad: aad1 });
          const opts2 = aad2 === undefined ? undefined : { aad: aad2 };
          expect(await errorCode(node.decrypt(c2, ct, opts2))).toBe('ERR_DECRYPT_FAILED');
          expect(await errorCode(noble.decrypt(c2, ct, opts2))).toBe('ERR_DECRYPT_FAILED');
        }),
        { numRuns: 100 },
      );
    });

    it('is bound to the key version: relabelling a ciphertext with another version fails', async () => {
      const { node: kw } = pair({ suite });
      const conv = `versions-${suite}`;
      const sealed: Uint8Array[] = [];
      for (let v = 1; v <= 4; v++) {
        sealed.push(await kw.encrypt(conv, new TextEncoder().encode(`under v${v}`)));
        if (v < 4) await kw.rotate(conv);
      }
      sealed.forEach((ct, i) => expect(inspectCiphertext(ct).keyVersion).toBe(i + 1));
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 6 }), async (i, v) => {
          const ct = sealed[i]!;
          fc.pre(v !== i + 1);
          const relabelled = Uint8Array.from(ct);
          new DataView(relabelled.buffer).setUint32(2, v);
          expect(await errorCode(kw.decrypt(conv, relabelled))).toBe('ERR_DECRYPT_FAILED');
          expect(new TextDecoder().decode(await kw.decrypt(conv, ct))).toBe(`under v${i + 1}`);
        }),
      );
    });

    it('a ciphertext relabelled with the other suite id fails', async () => {
      const ct = await node.encrypt('suite-swap', new Uint8Array(64));
      const swapped = Uint8Array.from(ct);
      swapped[1] = suite === 'AES-256-GCM' ? 2 : 1;
      expect(await errorCode(node.decrypt('suite-swap', swapped))).toBe('ERR_DECRYPT_FAILED');
    });
  });
}

describe('parser robustness', () => {
  const { node, noble } = pair();
  it('arbitrary bytes never decrypt and only ever fail with ERR_DECRYPT_FAILED', async () => {
    await node.encrypt('robust', new Uint8Array(1));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 128 }),
          // Plausible headers: right version and suite, random rest.
          fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ minLength: 0, maxLength: 100 })).map(([s, rest]) => Uint8Array.from([1, s, 0, 0, 0, 1, ...rest])),
        ),
        async (bytes) => {
          expect(await errorCode(node.decrypt('robust', bytes))).toBe('ERR_DECRYPT_FAILED');
          expect(await errorCode(noble.decrypt('robust', bytes))).toBe('ERR_DECRYPT_FAILED');
        },
      ),
      { numRuns: 300 },
    );
  });
});
