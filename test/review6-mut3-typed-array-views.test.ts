/**
 * Mutation review 3 (typed-array accessors, SECURITY.md "what is sealed is read through the
 * engine's own typed-array accessors").
 *
 * Guarantee: a caller's subclass, Proxy or look-alike view cannot re-enter a seal, pass a size
 * limit or be taken for bytes — every length that a limit or a seal relies on is read from the
 * view's internal slots (src/util/validate.ts ownBytes/plainBytes), never from the caller's object.
 *
 * Surviving mutations (test/input-views.test.ts and test/breakglass-toctou.test.ts still passed):
 *  1. src/stream/sealer.ts AttachmentEncryptor.update read the chunk as given
 *     (`checkChunk(chunk, (b) => b)` instead of ownBytes): a chunk whose `length` lies was
 *     dropped (says 0) or over-read (says more) — only the message `encrypt` path was tested;
 *  2. src/format/items.ts validAad compared the caller's `aad.length` with MAX_AAD_BYTES instead
 *     of the engine's: an aad that says it is short passed the 64 KiB limit — only the plaintext
 *     limit was tested.
 *
 * Now asserted: chunks of a subclass that reports a wrong length are sealed exactly as the bytes
 * they hold, through the encryptor and the Web stream (property over sizes, splits and lies);
 * an aad subclass over the limit that reports length 0 is refused ERR_INVALID_INPUT naming
 * options.aad at encrypt, encryptAttachment and decrypt.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { MAX_AAD_BYTES } from '../src/util/validate.js';
import { bytesOf } from './support/attachments.js';

const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const CONV = 'dm:alice:bob';

/** A Uint8Array subclass whose `length` getter reports `says` (a lie) instead of what it holds. */
function lying(bytes: Uint8Array, says: number): Uint8Array {
  class Liar extends Uint8Array {
    override get length(): number {
      return says;
    }
  }
  return new Liar(bytes);
}

const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string; param?: string }) => `${e.code} ${e.param ?? ''}`.trim());

describe('attachment chunks are read through the engine, whatever their class says', () => {
  it('the encryptor and the Web stream seal exactly the bytes a lying chunk holds (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3000 }), fc.integer(), fc.array(fc.nat(), { maxLength: 4 }), fc.constantFrom(0, 1, 1 << 20),
        async (size, seed, cutsIn, says) => {
          const pt = bytesOf(size, seed);
          const cuts = [...new Set(cutsIn.map((c) => c % size))].sort((a, b) => a - b);
          const pieces: Uint8Array[] = [];
          let at = 0;
          for (const c of [...cuts, size]) {
            if (c > at) pieces.push(pt.subarray(at, c));
            at = c;
          }
          // The encryptor, chunk by chunk.
          const enc = await kw.createAttachmentEncryptor(CONV, { aad: 'att', segmentSize: 256 });
          const out: Uint8Array[] = [];
          for (const p of pieces) enc.update(lying(p, says), (c) => out.push(Uint8Array.from(c)));
          enc.final((c) => out.push(Uint8Array.from(c)));
          const sealed = Buffer.concat(out);
          expect(Buffer.from(await kw.decryptAttachment(CONV, sealed, { aad: 'att' })).equals(Buffer.from(pt))).toBe(true);
          // The Web stream hands its chunks to the same encryptor.
          const source = new ReadableStream<Uint8Array>({
            start(c) {
              for (const p of pieces) c.enqueue(lying(p, says));
              c.close();
            },
          });
          const got: Uint8Array[] = [];
          await source.pipeThrough(kw.encryptAttachmentStream(CONV, { aad: 'att', segmentSize: 256 })).pipeTo(new WritableStream({ write: (c) => void got.push(Uint8Array.from(c)) }));
          expect(Buffer.from(await kw.decryptAttachment(CONV, Buffer.concat(got), { aad: 'att' })).equals(Buffer.from(pt))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('an aad that says it is short cannot pass the aad limit', () => {
  it('encrypt, encryptAttachment and decrypt refuse it, naming options.aad', async () => {
    const big = lying(new Uint8Array(MAX_AAD_BYTES + 1), 0);
    const ok = await kw.encrypt(CONV, new Uint8Array(3), { aad: new Uint8Array(MAX_AAD_BYTES) }); // at the limit: fine
    expect(await outcome(kw.encrypt(CONV, new Uint8Array(3), { aad: big }))).toBe('ERR_INVALID_INPUT options.aad');
    expect(await outcome(kw.encryptAttachment(CONV, new Uint8Array(3), { aad: big }))).toBe('ERR_INVALID_INPUT options.aad');
    expect(await outcome(kw.decrypt(CONV, ok, { aad: big }))).toBe('ERR_INVALID_INPUT options.aad');
    // The same bytes as a plain view are refused alike (the control).
    expect(await outcome(kw.encrypt(CONV, new Uint8Array(3), { aad: new Uint8Array(MAX_AAD_BYTES + 1) }))).toBe('ERR_INVALID_INPUT options.aad');
  });
});
