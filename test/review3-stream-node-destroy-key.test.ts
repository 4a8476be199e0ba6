/**
 * Review 3 (streams): createEncryptStream leaks the attachment key when the stream is destroyed
 * after the key arrived but before its first chunk.
 *
 * Where: src/stream/node-stream.ts:47-52 (constructor) and :38-41 (`_destroy`). The encryptor is stored in `this.core` only
 * by the first `_transform`/`_flush`. The constructor's `pending.then(...)` wipes a key that
 * arrives *after* a destroy, and `_destroy` wipes `this.core`; but when the key arrives first
 * (the usual case: a cached conversation key resolves within a tick) and the stream is then
 * destroyed before any chunk (pipeline's source fails to open, the client disconnects, the
 * caller calls destroy()), `_destroy` finds `this.core === undefined` and the resolved
 * encryptor — with its key — is never destroyed. docs/FORMAT.md §9.2 / SECURITY.md: attachment
 * keys are wiped when the attachment is finished, failed or closed.
 *
 * Correct behaviour: in `_destroy`, also destroy the pending encryptor (e.g.
 * `this.#pending.then((e) => e.destroy(), () => undefined)`), or assign `this.core` as soon as
 * the promise resolves.
 *
 * Now: a key that arrives before any chunk becomes the core at once, so _destroy wipes it.
 */
import { describe, expect, it } from 'vitest';
import { SUITES } from '../src/format/suites.js';
import { encodeAttachmentHeader } from '../src/stream/format.js';
import { createEncryptStream } from '../src/stream/node.js';
import { AttachmentEncryptor } from '../src/stream/sealer.js';
import { nodeSegments } from '../src/stream/segment-node.js';

const suite = SUITES[1];
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('createEncryptStream destroyed before its first chunk', () => {
  it('wipes the attachment key that had already arrived', async () => {
    const key = new Uint8Array(32).fill(7);
    // Stands in for a Keywarden whose conversation key is cached: the encryptor resolves at once.
    const kw = {
      createAttachmentEncryptor: async () =>
        new AttachmentEncryptor({ aead: nodeSegments, suite, key, segmentSize: 256 }, encodeAttachmentHeader(1, 1, 0, 256, new Uint8Array(32))),
    };
    const stream = createEncryptStream(kw as never, 'dm:alice:bob', { aad: 'att-1' });
    stream.on('error', () => undefined);
    await settle(); // the key has arrived
    stream.destroy(new Error('source could not be opened'));
    await settle();
    expect(stream.destroyed).toBe(true);
    expect(key.every((b) => b === 0)).toBe(true); // fails: the key stays in memory
  });
});
