/**
 * Web Streams (WHATWG `TransformStream`) over the attachment encryptor and decryptor: what
 * `Keywarden.encryptAttachmentStream` / `decryptAttachmentStream` return. Works wherever
 * `TransformStream` exists (Node ≥ 18, browsers, Deno, Bun, workers), with the portable (noble)
 * or native segments. Backpressure is the stream's own: `transform` is not called while the
 * readable side is full, and each call emits at most the segments its chunk completes.
 */
import { DecryptionError, InvalidInputError } from '../errors.js';
import { isBytes } from '../util/validate.js';
import { ATTACHMENT_HEADER_LENGTH } from './format.js';
import type { AttachmentDecryptor, AttachmentEncryptor } from './sealer.js';

function checkChunk(chunk: unknown): Uint8Array {
  if (!isBytes(chunk)) throw new InvalidInputError('chunk', 'expected Uint8Array chunks');
  return chunk;
}

/**
 * A TransformStream that seals plaintext into an attachment with the encryptor `pending`
 * resolves to. If it rejects (no key: KMS or store down, closed, aborted), the stream errors
 * with that error before consuming anything.
 */
export function encryptTransform(pending: Promise<AttachmentEncryptor>): TransformStream<Uint8Array, Uint8Array> {
  let enc: AttachmentEncryptor | undefined;
  let emit: (c: Uint8Array) => void = () => undefined;
  // Set by cancel(): a key that arrives afterwards is wiped, not kept (outside review, 2026-12-02).
  let cancelled = false;
  return new TransformStream<Uint8Array, Uint8Array>({
    async start(controller) {
      emit = (c) => controller.enqueue(c);
      const e = await pending;
      if (cancelled) e.destroy();
      else enc = e;
    },
    transform(chunk) {
      try {
        enc!.update(checkChunk(chunk), emit);
        // The writer may reuse its chunk once this write is done: keep a copy of what is held.
        enc!.ownHeld();
      } catch (err) {
        enc!.destroy();
        throw err;
      }
    },
    flush() {
      enc!.final(emit);
    },
    // Called on abort or cancel: wipe the key now (or when it arrives).
    cancel() {
      cancelled = true;
      enc?.destroy();
    },
  } as Transformer<Uint8Array, Uint8Array>);
}

/**
 * A TransformStream that opens an attachment: it collects the 46-byte header, gets the decryptor
 * for it from `open` (the key lookup), then emits each segment's plaintext once that segment has
 * authenticated. Any failure errors both sides with `ERR_DECRYPT_FAILED`; what was emitted before
 * is authentic but the attachment as a whole is not (docs/FORMAT.md §9.7).
 */
export function decryptTransform(open: (header: Uint8Array) => Promise<AttachmentDecryptor>): TransformStream<Uint8Array, Uint8Array> {
  let dec: AttachmentDecryptor | undefined;
  let emit: (c: Uint8Array) => void = () => undefined;
  const header = new Uint8Array(ATTACHMENT_HEADER_LENGTH);
  let have = 0;
  let cancelled = false;
  const fail = (err: unknown): never => {
    dec?.destroy();
    throw err;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      emit = (c) => controller.enqueue(c);
    },
    transform(chunk): void | Promise<void> {
      let bytes: Uint8Array;
      try {
        bytes = checkChunk(chunk); // a bad chunk ends the stream: the key goes too
      } catch (err) {
        return fail(err);
      }
      if (dec !== undefined) {
        try {
          dec.update(bytes, emit);
          dec.ownHeld(); // the writer may reuse its chunk once this write is done
        } catch (err) {
          fail(err);
        }
        return undefined;
      }
      // Still reading the header: copy what belongs to it, then open the rest with the key it names.
      const n = Math.min(ATTACHMENT_HEADER_LENGTH - have, bytes.length);
      header.set(bytes.subarray(0, n), have);
      have += n;
      if (have < ATTACHMENT_HEADER_LENGTH) return undefined;
      return open(header).then((d) => {
        if (cancelled) return void d.destroy(); // cancelled during the key lookup
        dec = d;
        d.update(bytes.subarray(n), emit);
        d.ownHeld();
      }).catch(fail);
    },
    flush() {
      if (dec === undefined) return fail(new DecryptionError()); // ended inside the header
      try {
        dec.final(emit);
      } catch (err) {
        fail(err);
      }
      return undefined;
    },
    cancel() {
      cancelled = true;
      dec?.destroy();
    },
  } as Transformer<Uint8Array, Uint8Array>);
}
