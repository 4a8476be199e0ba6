/**
 * Node streams over the attachment encryptor and decryptor: `Transform`s for `stream.pipeline`
 * (docs/FORMAT.md §9). Backpressure is node's own: a Transform takes its next chunk only after
 * the previous one's output fits its readable buffer, so memory stays at about one segment plus
 * one input chunk whatever the attachment's length. Node only.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { DecryptionError } from '../errors.js';
import type { Keywarden } from '../keywarden.js';
import { type AttachmentDecryptOptions, type AttachmentEncryptOptions, checkCall, checkKeywarden, checkedOptions } from './attachments.js';
import { ATTACHMENT_HEADER_LENGTH } from './format.js';
import type { AttachmentDecryptor, AttachmentEncryptor } from './sealer.js';

/** Shared shape: an encryptor or decryptor that may still be on its way (the key lookup). */
abstract class AttachmentTransform<T extends AttachmentEncryptor | AttachmentDecryptor> extends Transform {
  protected core: T | undefined;
  protected readonly out = (chunk: Uint8Array): void => {
    this.push(chunk);
  };

  /** Runs `step` once the core is ready (at once when it is); reports failures to `cb`. */
  protected withCore(pending: Promise<T>, cb: TransformCallback, step: (core: T) => void): void {
    const run = (core: T) => {
      if (this.destroyed) return void core.destroy();
      this.core = core;
      try {
        step(core);
        core.ownHeld(); // the writer may reuse its chunk once the callback ran
      } catch (err) {
        core.destroy();
        return cb(err as Error);
      }
      cb();
    };
    if (this.core !== undefined) return run(this.core);
    pending.then(run, (err: Error) => cb(err));
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.core?.destroy(); // wipes the attachment key however the stream ends
    cb(err);
  }
}

class EncryptTransform extends AttachmentTransform<AttachmentEncryptor> {
  readonly #pending: Promise<AttachmentEncryptor>;

  constructor(pending: Promise<AttachmentEncryptor>) {
    super();
    this.#pending = pending;
    // A key that arrives after the stream was destroyed is wiped; one that arrives before is the
    // core at once, so that a destroy before the first chunk wipes it too (outside review,
    // 2026-12-02). A failure is reported on first use.
    pending.then((e) => {
      if (this.destroyed) e.destroy();
      else this.core ??= e;
    }, () => undefined);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, cb: TransformCallback): void {
    const e = this.core;
    if (e === undefined) return this.withCore(this.#pending, cb, (core) => core.update(chunk, this.out));
    try {
      e.update(chunk, this.out);
      e.ownHeld();
    } catch (err) {
      return cb(err as Error);
    }
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.withCore(this.#pending, cb, (core) => core.final(this.out));
  }
}

class DecryptTransform extends AttachmentTransform<AttachmentDecryptor> {
  readonly #open: (header: Uint8Array) => Promise<AttachmentDecryptor>;
  readonly #header = new Uint8Array(ATTACHMENT_HEADER_LENGTH);
  #have = 0;

  constructor(open: (header: Uint8Array) => Promise<AttachmentDecryptor>) {
    super();
    this.#open = open;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, cb: TransformCallback): void {
    const d = this.core;
    if (d !== undefined) {
      try {
        d.update(chunk, this.out);
        d.ownHeld();
      } catch (err) {
        return cb(err as Error);
      }
      return cb();
    }
    // Still reading the header: take what belongs to it, then open the rest under the key it names.
    const n = Math.min(ATTACHMENT_HEADER_LENGTH - this.#have, chunk.length);
    this.#header.set(chunk.subarray(0, n), this.#have);
    this.#have += n;
    if (this.#have < ATTACHMENT_HEADER_LENGTH) return cb();
    this.withCore(this.#open(this.#header), cb, (core) => core.update(chunk.subarray(n), this.out));
  }

  override _flush(cb: TransformCallback): void {
    if (this.core === undefined) return cb(new DecryptionError()); // the input ended inside the header
    this.withCore(Promise.resolve(this.core), cb, (core) => core.final(this.out));
  }
}

/**
 * A Node `Transform` that seals a plaintext byte stream into an attachment under the
 * conversation's active key (docs/FORMAT.md §9), for `stream.pipeline`. Bad arguments throw
 * here; a failure to get the key (KMS or store outage, closed instance, aborted) fails the
 * pipeline with keywarden's error.
 *
 * @example
 * ```ts
 * import { pipeline } from 'node:stream/promises';
 * import { createEncryptStream } from 'keywarden/attachments';
 *
 * await pipeline(upload, createEncryptStream(kw, conversationId, { aad: attachmentId }), objectStoreWriter);
 * ```
 */
export function createEncryptStream(kw: Keywarden, conversationId: string, options?: AttachmentEncryptOptions): Transform {
  checkKeywarden(kw);
  checkCall(conversationId, options, true); // throws ERR_INVALID_INPUT now, not later in the pipeline
  return new EncryptTransform(kw.createAttachmentEncryptor(conversationId, options));
}

/**
 * A Node `Transform` that opens an attachment byte stream. Each segment's plaintext is pushed
 * only after that segment authenticates. On any failure the stream is destroyed with
 * `ERR_DECRYPT_FAILED`: what was pushed before is authentic but incomplete, so write to a
 * provisional place and use the result only when the pipeline resolves (as `decryptFile` does).
 *
 * @example
 * ```ts
 * await pipeline(objectStoreReader, createDecryptStream(kw, conversationId, { aad: attachmentId }), response);
 * ```
 */
export function createDecryptStream(kw: Keywarden, conversationId: string, options?: AttachmentDecryptOptions): Transform {
  checkKeywarden(kw);
  const c = checkCall(conversationId, options, false);
  // The options as checked now, not read again when the header has arrived (see checkedOptions).
  return new DecryptTransform(async (header) => kw.createAttachmentDecryptor(conversationId, header, checkedOptions(c, false)));
}
