/**
 * Review 3 (streams): the push-based encryptor/decryptor never validate `emit`, and a failing
 * `emit` leaves them live in a state that silently produces a wrong result.
 *
 * Where: src/stream/sealer.ts:73-87 and :114-117 (AttachmentEncryptor.update / #start: sets
 * `#started = true` *before* calling `emit(this.header)`), and :163-172 / :199-210
 * (AttachmentDecryptor.update/#open: `#index` and `#bytes` advance before the plaintext is handed
 * to `emit`).
 * - A non-function `emit` (a plain caller mistake, e.g. `enc.update(chunk)`) throws a bare
 *   `TypeError: emit is not a function` instead of `ERR_INVALID_INPUT` naming `emit` (SECURITY.md:
 *   every error a public function throws is a KeywardenError; README: bad arguments are named).
 * - After that throw the encryptor is still live but believes the header was emitted: the next
 *   update/final with a working emit produce an "attachment" with no header at all.
 * - In the decryptor, when `emit` throws the segment counts as delivered (index advanced) and the
 *   decryptor stays live; carrying on yields a plaintext with a whole segment missing and
 *   `final()` succeeds — a dropped segment that does not fail (docs/FORMAT.md §9.3/§9.7 promise
 *   any dropped segment fails with ERR_DECRYPT_FAILED).
 *
 * Correct behaviour: check `typeof emit === 'function'` before touching any state
 * (`InvalidInputError('emit', ...)`), and treat an exception from `emit` as fatal: destroy the
 * encryptor/decryptor (wipe the key) and rethrow, so later calls fail instead of producing a
 * header-less attachment or a plaintext with a hole.
 *
 * Now: `emit` is checked first, and any exception after that (emit's own too) ends the
 * encryptor or decryptor (key wiped) before it is rethrown.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';

const CONV = 'dm:alice:bob';
const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });

function caught(f: () => void): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('emit of the push-based encryptor and decryptor', () => {
  it('a non-function emit is ERR_INVALID_INPUT naming "emit"', async () => {
    const enc = await kw.createAttachmentEncryptor(CONV, { segmentSize: 256 });
    const err = caught(() => enc.update(new Uint8Array(10), undefined as never));
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'emit' }); // fails: TypeError
    enc.destroy();
  });

  it('after an emit failure the encryptor never produces an attachment without its header', async () => {
    const enc = await kw.createAttachmentEncryptor(CONV, { segmentSize: 256 });
    caught(() =>
      enc.update(new Uint8Array(10), () => {
        throw new Error('sink full');
      }),
    );
    const out: Uint8Array[] = [];
    const more = caught(() => {
      enc.update(new Uint8Array(10), (c) => out.push(c));
      enc.final((c) => out.push(c));
    });
    // Either the encryptor refuses to go on, or what it produces is a complete attachment.
    if (more === undefined) expect(Buffer.concat(out)[0]).toBe(0xa1); // fails: 26 bytes, no header
  });

  it('after an emit failure the decryptor never completes with a segment missing', async () => {
    const plaintext = new Uint8Array(3 * 256).map((_, i) => i % 251);
    const sealed = await kw.encryptAttachment(CONV, plaintext, { segmentSize: 256 });
    const dec = await kw.createAttachmentDecryptor(CONV, sealed.subarray(0, 46));
    const full = 256 + 16;
    const got: Uint8Array[] = [];
    let calls = 0;
    const flaky = (p: Uint8Array) => {
      if (calls++ === 0) throw new Error('consumer hiccup'); // segment 0's plaintext is never delivered
      got.push(p);
    };
    const results: unknown[] = [];
    results.push(caught(() => dec.update(sealed.subarray(46, 46 + full + 1), flaky)));
    results.push(caught(() => dec.update(sealed.subarray(46 + full + 1), flaky)));
    results.push(caught(() => dec.final(flaky)));
    const delivered = Buffer.concat(got);
    // Correct: the decryptor fails for good after the lost segment (the last call throws), or it delivered everything.
    const completed = results[2] === undefined;
    expect(completed && !delivered.equals(Buffer.from(plaintext))).toBe(false); // fails: final() succeeds, 256 bytes missing
  });
});
