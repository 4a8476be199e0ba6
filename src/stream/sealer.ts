/**
 * The two push-based state machines every attachment API is built on (docs/FORMAT.md §9): an
 * encryptor that turns plaintext chunks of any size into the header and sealed segments, and a
 * decryptor that turns ciphertext chunks back into plaintext, one authenticated segment at a
 * time. Both are synchronous — the Web Streams, Node streams, file and in-memory APIs differ
 * only in how chunks reach them — and both own the attachment key and wipe it when done.
 */
import { ClosedError, DecryptionError, InvalidInputError } from '../errors.js';
import type { SuiteInfo } from '../format/suites.js';
import { clean } from '../util/bytes.js';
import { isBytes, ownBytes, plainBytes } from '../util/validate.js';
import { ChunkQueue } from './chunks.js';
import { MAX_ATTACHMENT_BYTES, MAX_SEGMENTS, SEGMENT_TAG_LENGTH } from './format.js';
import { SEGMENT_NONCE_LENGTH, type SegmentAead, writeSegmentNonce } from './segment-aead.js';

/** A caller's chunk as a plain view; ERR_INVALID_INPUT (nothing taken) when it is not bytes. */
function checkChunk(chunk: unknown, view: (b: Uint8Array) => Uint8Array): Uint8Array {
  if (!isBytes(chunk)) throw new InvalidInputError('chunk', `expected Uint8Array chunks, got ${chunk === null ? 'null' : typeof chunk}`);
  return view(chunk);
}

/** Receives output chunks; it may keep them (each is a new buffer or a view of one nobody reuses). */
export type Emit = (chunk: Uint8Array) => void;

function checkEmit(emit: unknown): void {
  if (typeof emit !== 'function') throw new InvalidInputError('emit', `expected a function, got ${emit === null ? 'null' : typeof emit}`);
}

/** What an encryptor or decryptor is made from: the attachment key (owned: wiped by it) and the header. */
export interface SegmentParams {
  aead: SegmentAead;
  suite: SuiteInfo;
  /** The attachment key (§9.2); the encryptor or decryptor owns it from now on. */
  key: Uint8Array;
  segmentSize: number;
  /** @internal Lower bound for tests of the limit; default MAX_ATTACHMENT_BYTES. */
  maxBytes?: number;
}

/**
 * Seals an attachment from plaintext chunks: `update` as chunks arrive, `final` at the end.
 * Output is the 46-byte header, then each segment's ciphertext and tag, as soon as the segment
 * is known not to be the last (one byte of lookahead). Made by `Keywarden.createAttachmentEncryptor`.
 *
 * @example
 * ```ts
 * const enc = await kw.createAttachmentEncryptor(conversationId, { aad: attachmentId });
 * for await (const chunk of source) enc.update(chunk, (c) => sink.write(c));
 * enc.final((c) => sink.write(c));
 * ```
 */
export class AttachmentEncryptor {
  /** The attachment header (§9.1): emitted before the first segment. */
  readonly header: Uint8Array;
  readonly #p: SegmentParams;
  #key: Uint8Array | undefined;
  readonly #queue = new ChunkQueue();
  readonly #pieces: Uint8Array[] = [];
  readonly #nonce = new Uint8Array(SEGMENT_NONCE_LENGTH);
  #index = 0;
  #bytes = 0;
  #started = false;

  /** @internal */
  constructor(p: SegmentParams, header: Uint8Array) {
    this.#p = p;
    this.#key = p.key;
    this.header = header;
  }

  /** Plaintext bytes taken so far. */
  get bytesIn(): number {
    return this.#bytes;
  }

  /** Takes a plaintext chunk (kept by reference until its segment is sealed: do not change it). */
  update(chunk: Uint8Array, emit: Emit): void {
    const pt = checkChunk(chunk, ownBytes); // sealed: read through the engine (util/validate.ts)
    checkEmit(emit);
    const key = this.#live();
    // Past this point a failure — the size limit, the cipher, or `emit` itself throwing — ends
    // the encryptor: carrying on could leave out the header or a segment (outside review, 2026-12-02).
    try {
      if (!this.#started) this.#start(emit);
      if (pt.length === 0) return;
      this.#bytes += pt.length;
      if (this.#bytes > (this.#p.maxBytes ?? MAX_ATTACHMENT_BYTES)) {
        throw new InvalidInputError('plaintext', `an attachment holds at most ${MAX_ATTACHMENT_BYTES} bytes (docs/FORMAT.md §9.5)`);
      }
      const q = this.#queue;
      q.push(pt);
      const seg = this.#p.segmentSize;
      // Strictly more than a segment: only then is the next segment known not to be the last.
      while (q.length > seg) this.#seal(key, q.take(seg, this.#pieces), false, emit);
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** @internal Copies the plaintext still held into memory of its own: a stream's writer may reuse its buffer once the write is done. */
  ownHeld(): void {
    this.#queue.own();
  }

  /** Seals what is left as the last segment (possibly empty, for an empty attachment) and wipes the key. */
  final(emit: Emit): void {
    checkEmit(emit);
    const key = this.#live();
    try {
      if (!this.#started) this.#start(emit);
      this.#seal(key, this.#queue.take(this.#queue.length, this.#pieces), true, emit);
    } finally {
      this.destroy();
    }
  }

  /** Wipes the key and drops held chunks; later calls fail. Idempotent. */
  destroy(): void {
    clean(this.#key);
    this.#key = undefined;
    this.#queue.clear();
    this.#pieces.length = 0;
  }

  /** @internal The Keywarden that made it closed: destroyed, and later calls fail ERR_CLOSED. */
  ownerClosed(): void {
    this.#ownerClosed = true;
    this.destroy();
  }

  #ownerClosed = false;

  #live(): Uint8Array {
    if (this.#key === undefined) throw this.#ownerClosed ? new ClosedError() : new InvalidInputError('encryptor', 'already finished or destroyed');
    return this.#key;
  }

  #start(emit: Emit): void {
    this.#started = true;
    emit(this.header);
  }

  #seal(key: Uint8Array, pieces: Uint8Array[], last: boolean, emit: Emit): void {
    // Cannot happen below 2^40 bytes with segments of at least 256 bytes; checked anyway (§9.5).
    if (this.#index >= MAX_SEGMENTS) throw new InvalidInputError('plaintext', 'too many segments');
    writeSegmentNonce(this.#nonce, this.#index++, last);
    this.#p.aead.seal(this.#p.suite.id, key, this.#nonce, pieces, emit);
    pieces.length = 0;
  }
}

/**
 * Opens an attachment's segments from ciphertext chunks (everything after the header): `update`
 * as chunks arrive, `final` at the end of the input. Each segment's plaintext is emitted only
 * after that segment authenticates; the first failure throws `ERR_DECRYPT_FAILED`, wipes the key
 * and ends the decryptor. Plaintext emitted before a failure is authentic but incomplete.
 *
 * @example
 * ```ts
 * const dec = await kw.createAttachmentDecryptor(conversationId, header, { aad: attachmentId });
 * for await (const chunk of rest) dec.update(chunk, (p) => out.push(p));
 * dec.final((p) => out.push(p)); // throws ERR_DECRYPT_FAILED if the end is missing or wrong
 * ```
 */
export class AttachmentDecryptor {
  readonly #p: SegmentParams;
  #key: Uint8Array | undefined;
  readonly #queue = new ChunkQueue({ coalesce: true }) // untrusted input: see ChunkQueue;
  readonly #pieces: Uint8Array[] = [];
  readonly #nonce = new Uint8Array(SEGMENT_NONCE_LENGTH);
  readonly #tag = new Uint8Array(SEGMENT_TAG_LENGTH);
  #index = 0;
  #bytes = 0;

  /** @internal */
  constructor(p: SegmentParams) {
    this.#p = p;
    this.#key = p.key;
  }

  /** Plaintext bytes emitted so far (all of them authenticated). */
  get bytesOut(): number {
    return this.#bytes;
  }

  /** Takes a ciphertext chunk (kept by reference until its segment is opened: do not change it). */
  update(chunk: Uint8Array, emit: Emit): void {
    const ct = checkChunk(chunk, plainBytes);
    checkEmit(emit);
    const key = this.#live();
    const q = this.#queue;
    q.push(ct);
    const full = this.#p.segmentSize + SEGMENT_TAG_LENGTH;
    // A full segment followed by at least one more byte is not the last one. Any failure ends
    // the decryptor, `emit` throwing too: going on would skip the segment it was given.
    try {
      while (q.length > full) this.#open(key, this.#p.segmentSize, false, emit);
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** @internal Copies the ciphertext still held into memory of its own (see {@link AttachmentEncryptor.ownHeld}). */
  ownHeld(): void {
    this.#queue.own();
  }

  /** Opens the last segment; throws `ERR_DECRYPT_FAILED` if the input ended anywhere but after it. Wipes the key. */
  final(emit: Emit): void {
    checkEmit(emit);
    const key = this.#live();
    try {
      const n = this.#queue.length - SEGMENT_TAG_LENGTH;
      // Canonical form (§9.4): the last segment holds 1..segmentSize bytes, or 0 when it is the only one.
      if (n < 0 || (n === 0 && this.#index > 0)) throw new DecryptionError();
      this.#open(key, n, true, emit);
    } finally {
      this.destroy();
    }
  }

  /** Wipes the key and drops held chunks; later calls fail. Idempotent. */
  destroy(): void {
    clean(this.#key);
    this.#key = undefined;
    this.#queue.clear();
    this.#pieces.length = 0;
  }

  /** @internal The Keywarden that made it closed: destroyed, and later calls fail ERR_CLOSED (the caller's shutdown, not a bad attachment). */
  ownerClosed(): void {
    this.#ownerClosed = true;
    this.destroy();
  }

  #ownerClosed = false;

  #live(): Uint8Array {
    if (this.#key === undefined) throw this.#ownerClosed ? new ClosedError() : new DecryptionError(); // failed, finished or destroyed: one error
    return this.#key;
  }

  #open(key: Uint8Array, bodyLength: number, last: boolean, emit: Emit): void {
    if (this.#index >= MAX_SEGMENTS || this.#bytes + bodyLength > (this.#p.maxBytes ?? MAX_ATTACHMENT_BYTES)) this.#fail();
    const pieces = this.#queue.take(bodyLength, this.#pieces);
    const tag = this.#queue.takeCopy(SEGMENT_TAG_LENGTH, this.#tag);
    writeSegmentNonce(this.#nonce, this.#index, last);
    const plain = this.#p.aead.open(this.#p.suite.id, key, this.#nonce, pieces, tag);
    pieces.length = 0;
    if (plain === null) this.#fail();
    this.#index++;
    this.#bytes += bodyLength;
    for (let i = 0; i < plain.length; i++) emit(plain[i]!);
  }

  #fail(): never {
    this.destroy();
    throw new DecryptionError();
  }
}
