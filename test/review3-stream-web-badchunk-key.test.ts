/**
 * Review 3 (streams): the Web Streams decrypting transform keeps the attachment key when it is
 * given a chunk that is not a Uint8Array after the header.
 *
 * Where: src/stream/web.ts:69-77 — `const bytes = checkChunk(chunk)` runs before (and outside)
 * the `try { dec.update(...) } catch (err) { fail(err) }`, so the ERR_INVALID_INPUT it throws errors
 * the stream without `dec.destroy()`. A transform's own exception does not call the transformer's
 * `cancel`, so nothing wipes the decryptor's key afterwards: the stream is dead (errored) and the
 * attachment key stays in memory. The encrypting transform (web.ts:31-38, checkChunk inside the try) does wipe in the same case,
 * and docs/FORMAT.md §9.2 / SECURITY.md promise the key is wiped when the attachment fails.
 *
 * Correct behaviour: run checkChunk inside the try (or call `fail` for its error), so the
 * decryptor is destroyed before the stream errors.
 *
 * Now: the chunk check is inside the failure path, which destroys the decryptor.
 */
import { describe, expect, it } from 'vitest';
import { SUITES } from '../src/format/suites.js';
import { AttachmentDecryptor } from '../src/stream/sealer.js';
import { nodeSegments } from '../src/stream/segment-node.js';
import { decryptTransform } from '../src/stream/web.js';

describe('decryptTransform and a chunk of the wrong type', () => {
  it('fails with ERR_INVALID_INPUT and wipes the attachment key', async () => {
    const key = new Uint8Array(32).fill(7);
    const ts = decryptTransform(async () => new AttachmentDecryptor({ aead: nodeSegments, suite: SUITES[1], key, segmentSize: 256 }));
    const done = ts.readable.pipeTo(new WritableStream()).then(() => undefined, (e: unknown) => e);
    const w = ts.writable.getWriter();
    await w.write(new Uint8Array(46 + 5)); // header (any: the decryptor is ours) and a little of segment 0
    const bad = await w.write('not bytes' as unknown as Uint8Array).then(() => undefined, (e: unknown) => e);
    expect(bad).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'chunk' });
    await done;
    expect(key.every((b) => b === 0)).toBe(true); // fails: the key is never wiped
  });
});
