/**
 * Review 5 (streams): the Node and Web decrypt streams keep a view object per input chunk again
 * (~110 bytes of heap per byte when the input trickles in one byte per chunk), and allocate a
 * new 64 KiB buffer per chunk — the memory blow-up test/attachment-hostile-input.test.ts fixed for
 * the push decryptor, brought back for every stream by the fix that made streams copy what they
 * hold (review 3, ChunkQueue.own). The segment size is declared by the unauthenticated header (up
 * to 16 MiB) and the chunking of a download is the network's, so an attacker who controls a stored
 * object or the connection makes a decrypting server hold ~1.7 GiB (and spend minutes of CPU) per
 * stream before the first tag is checked. The encrypting streams do the same with a trickled
 * upload (one view per chunk, ~110× the segment).
 *
 * Where: src/stream/chunks.ts `own()` — each call collapses the bytes pushed since the previous
 * call into a new view of its own buffer (one view per call, i.e. per chunk), and resets the
 * coalescing tail so that the next small chunk starts a new 64 KiB buffer; node-stream.ts and
 * web.ts call it after every chunk.
 *
 * Now: small chunks and own()'s copies go to one append-only buffer of the queue's own, and bytes
 * appended right after the view that ends there grow that view (as the coalescing tail did);
 * own() copies only chunks that are still the caller's. Held memory is about the bytes held.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { createDecryptStream, createEncryptStream } from '../src/stream/node.js';
import type { Transform } from 'node:stream';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
setFlagsFromString('--no-expose-gc');
const held = () => {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
const S = 128 * 1024;
const LIMIT = 4 * 2 ** 20; // 32 × the 128 KiB held; before the fix ~13 MiB

/** Writes `n` one-byte chunks into a Transform (nothing comes out: less than a segment) and returns the heap growth. */
async function trickle(t: Transform, n: number): Promise<number> {
  t.on('data', () => undefined);
  t.on('error', () => undefined);
  const before = held();
  for (let i = 0; i < n; i++) {
    if (!t.write(Buffer.from([i & 0xff]))) await new Promise((r) => t.once('drain', r));
  }
  await new Promise((r) => setImmediate(r));
  const grew = held() - before;
  t.destroy();
  return grew;
}

describe('streams fed one byte per chunk hold about the bytes they hold', () => {
  it('createDecryptStream under a header that declares large segments', async () => {
    const real = await kw.encryptAttachment('c', new Uint8Array(10), { aad: 'a' });
    const header = Buffer.from(real.subarray(0, 46));
    header.writeUInt32BE(4 * S, 10); // declared segment: 512 KiB (unauthenticated until its tag)
    const t = createDecryptStream(kw, 'c', { aad: 'a' });
    t.write(header);
    const grew = await trickle(t, S);
    expect(grew, `held ${(grew / 2 ** 20).toFixed(1)} MiB for ${S / 1024} KiB received`).toBeLessThan(LIMIT);
  }, 120_000);

  it('createEncryptStream with large segments', async () => {
    const t = createEncryptStream(kw, 'c', { aad: 'a', segmentSize: 4 * S });
    const grew = await trickle(t, S);
    expect(grew, `held ${(grew / 2 ** 20).toFixed(1)} MiB for ${S / 1024} KiB written`).toBeLessThan(LIMIT);
  }, 120_000);
});
