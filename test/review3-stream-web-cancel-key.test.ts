/**
 * Review 3 (streams): the Web Streams transforms leave the attachment key unwiped when the
 * stream is cancelled while the key lookup is still in flight.
 *
 * Where: src/stream/web.ts:23-47 (encryptTransform: `enc = await pending` at :29, `cancel` at :43) and
 * :55-101 (decryptTransform: `cancel` at :97).
 * - encryptTransform: `start` awaits the pending encryptor; a `readable.cancel()` (e.g. the
 *   upload destination failed, `pipeTo` cancels its source chain) runs the transformer's
 *   `cancel` while `enc` is still undefined, so `enc?.destroy()` is a no-op; when the key then
 *   arrives `enc = await pending` keeps it, and nothing ever wipes it.
 * - decryptTransform: the same while `open(header)` is pending: `cancel` sees `dec === undefined`;
 *   when the decryptor arrives it is stored and fed the rest of the chunk, and unless that
 *   completes a segment (whose enqueue then throws) the key is never wiped.
 * The Node Transforms handle exactly this case ("a key that arrives after the stream was
 * destroyed is wiped", node-stream.ts:51 and :24); docs/FORMAT.md §9.2 and SECURITY.md promise
 * attachment keys are wiped when the attachment is finished, failed or closed.
 *
 * Correct behaviour: remember that the stream was cancelled and destroy an encryptor/decryptor
 * that arrives afterwards (e.g. `cancelled = true` in cancel; `pending.then(e => cancelled && e.destroy())`,
 * and in decryptTransform's `.then` destroy `d` instead of using it when cancelled).
 *
 * Now: cancel() sets a flag; a key that arrives afterwards is destroyed at once.
 */
import { describe, expect, it } from 'vitest';
import { SUITES } from '../src/format/suites.js';
import { encodeAttachmentHeader } from '../src/stream/format.js';
import { AttachmentDecryptor, AttachmentEncryptor } from '../src/stream/sealer.js';
import { nodeSegments } from '../src/stream/segment-node.js';
import { decryptTransform, encryptTransform } from '../src/stream/web.js';

const suite = SUITES[1];
const header = encodeAttachmentHeader(1, 1, 0, 256, new Uint8Array(32));
const settle = () => new Promise((r) => setTimeout(r, 20));
const wiped = (k: Uint8Array) => k.every((b) => b === 0);

describe('Web Streams: a key that arrives after cancel() is wiped', () => {
  it('encryptTransform: readable cancelled while the key lookup is pending', async () => {
    const key = new Uint8Array(32).fill(7);
    let deliver!: (e: AttachmentEncryptor) => void;
    const ts = encryptTransform(new Promise<AttachmentEncryptor>((r) => (deliver = r)));
    await ts.readable.cancel(new Error('upload failed')).catch(() => undefined);
    deliver(new AttachmentEncryptor({ aead: nodeSegments, suite, key, segmentSize: 256 }, header));
    await settle();
    expect(wiped(key)).toBe(true); // fails: the encryptor's key stays in memory
  });

  it('decryptTransform: readable cancelled while the decryptor (key lookup) is pending', async () => {
    const key = new Uint8Array(32).fill(7);
    let deliver!: (d: AttachmentDecryptor) => void;
    const ts = decryptTransform(() => new Promise<AttachmentDecryptor>((r) => (deliver = r)));
    const reader = ts.readable.getReader();
    const read = reader.read().catch(() => undefined);
    const written = ts.writable.getWriter().write(new Uint8Array(46 + 10)).catch(() => undefined); // header + part of segment 0
    await settle();
    await reader.cancel(new Error('client went away'));
    deliver(new AttachmentDecryptor({ aead: nodeSegments, suite, key, segmentSize: 256 }));
    await settle();
    await Promise.all([read, written]);
    expect(wiped(key)).toBe(true); // fails: the decryptor's key stays in memory
  });
});
