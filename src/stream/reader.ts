/**
 * Random access to a stored attachment (docs/FORMAT.md §9.6): a video player seeks, the server
 * asks for plaintext bytes [offset, offset + length), and only the segments that hold them are
 * read (one ranged read, e.g. an object-store Range GET) and authenticated. Opening reads the
 * header and authenticates the last segment once, which authenticates the header and the total
 * length (only the real last segment opens with the last-segment flag at its index), so `size`
 * can be trusted and a truncated or extended object is refused up front. Portable.
 */
import { ClosedError, DecryptionError, InvalidInputError } from '../errors.js';
import type { SuiteName } from '../format/suites.js';
import { clean } from '../util/bytes.js';
import { isAbortSignal, raceAbort, throwIfAborted } from '../util/deadline.js';
import { MAX_PLAINTEXT_BYTES, assertInt, isBytes, ownOptions } from '../util/validate.js';
import { ATTACHMENT_HEADER_LENGTH, type Geometry, SEGMENT_TAG_LENGTH, geometry, parseAttachmentHeader } from './format.js';
import { SEGMENT_NONCE_LENGTH, writeSegmentNonce } from './segment-aead.js';
import type { SegmentParams } from './sealer.js';

/**
 * Where a stored attachment's bytes come from, for random access: its total size and a way to
 * read a byte range — an object store's Content-Length and Range GET, a file handle, a buffer.
 */
export interface AttachmentSource {
  /** Total bytes of the stored attachment (header and every segment). */
  readonly size: number;
  /**
   * Resolves to exactly `length` bytes starting at `offset` (never outside `[0, size)`). keywarden
   * never changes the bytes it gets. A rejection is passed on unchanged (it is your error).
   */
  read(offset: number, length: number, options: { signal?: AbortSignal }): Promise<Uint8Array>;
}

/** A source over bytes in memory. */
export function memorySource(bytes: Uint8Array): AttachmentSource {
  return {
    size: bytes.length,
    // The caller's memory: once transferred away (or shrunk) it holds fewer bytes, which
    // readExactly refuses as ERR_DECRYPT_FAILED — subarray on a detached buffer would be a raw
    // TypeError (outside review, 2026-12-02).
    read: async (offset, length) => (offset + length <= bytes.length ? bytes.subarray(offset, offset + length) : new Uint8Array(0)),
  };
}

/** Validates a caller's source; ERR_INVALID_INPUT naming `param` otherwise. */
export function checkSource(param: string, s: unknown): AttachmentSource {
  if (s === null || typeof s !== 'object') throw new InvalidInputError(param, 'expected an AttachmentSource { size, read(offset, length) } or a Uint8Array');
  const { size, read } = s as { size?: unknown; read?: unknown };
  assertInt(`${param}.size`, size, 0, Number.MAX_SAFE_INTEGER);
  if (typeof read !== 'function') throw new InvalidInputError(`${param}.read`, 'expected a function (offset, length) => Promise<Uint8Array>');
  return { size, read: (offset, length, options) => read.call(s, offset, length, options) };
}

/** Ciphertext bytes read at a time when every segment is authenticated (break-glass). */
const VERIFY_BATCH_BYTES = 1 << 20;

/** Reads exactly `length` bytes; a source that returns anything else fails like a bad ciphertext. */
async function readExactly(src: AttachmentSource, offset: number, length: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
  // Whatever `read` returned, as a promise: a plain value (a read that answers at once) worked
  // without a signal and was a raw TypeError with one (raceAbort calls .catch on it; outside
  // review, 2026-12-02).
  const got: unknown = await raceAbort(Promise.resolve(src.read(offset, length, signal === undefined ? {} : { signal })), signal);
  if (!isBytes(got)) throw new DecryptionError();
  return intact(got, length);
}

/**
 * `bytes` when it still holds `length` bytes, else ERR_DECRYPT_FAILED: called again by the
 * caller of readExactly once its await resumed, since the source's buffer (the caller's memory
 * for a Uint8Array source) may have been transferred away in between, and every view of a
 * detached buffer is a raw TypeError (outside review, 2026-12-02).
 */
function intact(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length !== length) throw new DecryptionError();
  return bytes;
}

/**
 * An open attachment: its authenticated plaintext `size`, and {@link AttachmentReader.decryptRange}
 * for any byte range. Holds the attachment key (not the conversation key) until `close()`.
 * Made by `Keywarden.openAttachment` (and `BreakGlass.openAttachment`).
 *
 * @example
 * ```ts
 * const att = await kw.openAttachment(conversationId, source, { aad: attachmentId });
 * try {
 *   const bytes = await att.decryptRange(1_000_000, 65_536); // e.g. an HTTP Range request
 * } finally {
 *   att.close();
 * }
 * ```
 */
export class AttachmentReader {
  /** Plaintext length in bytes (authenticated when the reader was opened). */
  readonly size: number;
  /** Plaintext bytes per segment. */
  readonly segmentSize: number;
  /** Key version of the conversation key that sealed it. */
  readonly keyVersion: number;
  /** Suite of that key. */
  readonly suite: SuiteName;
  /** When sealing began, to the second (authenticated). */
  readonly sealedAt: Date;
  readonly #src: AttachmentSource;
  readonly #p: SegmentParams;
  readonly #geo: Geometry;
  readonly #instanceClosed: () => boolean;
  readonly #recheck: ((signal: AbortSignal | undefined) => Promise<void>) | undefined;
  readonly #header: Uint8Array;
  #key: Uint8Array | undefined;
  readonly #nonce = new Uint8Array(SEGMENT_NONCE_LENGTH);

  /** @internal Reads and parses the header: ERR_DECRYPT_FAILED if it is not one, or the size is no attachment's. */
  static async readHeader(src: AttachmentSource, signal: AbortSignal | undefined): Promise<Uint8Array> {
    if (src.size < ATTACHMENT_HEADER_LENGTH + SEGMENT_TAG_LENGTH) throw new DecryptionError();
    const header = Uint8Array.from(intact(await readExactly(src, 0, ATTACHMENT_HEADER_LENGTH, signal), ATTACHMENT_HEADER_LENGTH));
    const h = parseAttachmentHeader(header);
    if (h === undefined || geometry(src.size, h.segmentSize) === undefined) throw new DecryptionError();
    return header;
  }

  /**
   * @internal `p.key` is owned by the reader from now on. `recheck`, when given, runs before
   * every range and throws once the key version may no longer be read (shredded, retired): the
   * reader holds the attachment key, not the conversation key, so without it a reader opened
   * before a shred would go on reading after it (docs/FORMAT.md §9.6).
   */
  constructor(src: AttachmentSource, header: Uint8Array, p: SegmentParams, instanceClosed: () => boolean, recheck?: (signal: AbortSignal | undefined) => Promise<void>) {
    const h = parseAttachmentHeader(header)!;
    this.#src = src;
    this.#p = p;
    this.#key = p.key;
    this.#geo = geometry(src.size, h.segmentSize)!;
    this.#instanceClosed = instanceClosed;
    this.#recheck = recheck;
    this.#header = header;
    this.size = this.#geo.plaintextLength;
    this.segmentSize = h.segmentSize;
    this.keyVersion = h.keyVersion;
    this.suite = h.suite.name;
    this.sealedAt = new Date(h.sealedAt * 1000);
  }

  /** Number of segments. */
  get segments(): number {
    return this.#geo.segments;
  }

  /** @internal Opens the last segment (header and length are then authentic); ERR_DECRYPT_FAILED otherwise. */
  async authenticateLength(signal: AbortSignal | undefined): Promise<void> {
    const last = this.#geo.segments - 1;
    const start = this.#offsetOf(last);
    const ct = intact(await readExactly(this.#src, start, this.#src.size - start, signal), this.#src.size - start);
    for (const p of this.#openSegment(last, ct)) p.fill(0);
  }

  /**
   * @internal Authenticates every segment, a few at a time (their plaintext is wiped, never
   * returned), and passes the attachment's bytes in order — header first — to `onBytes`, e.g. to
   * hash exactly what was opened. ERR_DECRYPT_FAILED at the first segment that fails.
   */
  async authenticateAll(onBytes: (bytes: Uint8Array) => void, signal: AbortSignal | undefined): Promise<void> {
    onBytes(this.#header);
    const n = this.#geo.segments;
    const full = this.segmentSize + SEGMENT_TAG_LENGTH;
    const perRead = Math.max(1, Math.floor(VERIFY_BATCH_BYTES / full));
    for (let first = 0; first < n; first += perRead) {
      const last = Math.min(n - 1, first + perRead - 1);
      const start = this.#offsetOf(first);
      const length = (last === n - 1 ? this.#src.size : this.#offsetOf(last + 1)) - start;
      const data = intact(await readExactly(this.#src, start, length, signal), length);
      onBytes(data);
      for (let i = first, pos = 0; i <= last; i++, pos += full) {
        for (const p of this.#openSegment(i, data.subarray(pos, Math.min(pos + full, data.length)))) p.fill(0);
      }
    }
  }

  /**
   * Decrypts plaintext bytes `[offset, offset + length)`: reads only the segments holding them
   * (in one `source.read`), authenticates each, and returns the bytes only when all did. A range
   * holds at most 64 MiB; `offset + length` must not pass `size`.
   *
   * @example
   * ```ts
   * const chunk = await att.decryptRange(start, end - start + 1); // HTTP "Range: bytes=start-end"
   * ```
   */
  async decryptRange(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    this.#live();
    assertInt('offset', offset, 0, this.size);
    assertInt('length', length, 0, Math.min(MAX_PLAINTEXT_BYTES, this.size - offset));
    const o = ownOptions('options', options, ['signal']);
    if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new InvalidInputError('options.signal', 'expected an AbortSignal');
    throwIfAborted(o.signal);
    if (this.#recheck !== undefined) await this.#checkReadable(o.signal);
    if (length === 0) return new Uint8Array(0);
    const seg = this.segmentSize;
    const first = Math.floor(offset / seg);
    const last = Math.floor((offset + length - 1) / seg);
    const start = this.#offsetOf(first);
    const end = last === this.#geo.segments - 1 ? this.#src.size : this.#offsetOf(last + 1);
    const data = intact(await readExactly(this.#src, start, end - start, o.signal), end - start);
    this.#live(); // closed while we read: open nothing
    const out = new Uint8Array(length);
    let at = 0;
    try {
      for (let i = first, pos = 0; i <= last; i++) {
        const ctLength = i === this.#geo.segments - 1 ? this.#geo.lastCiphertextLength : seg + SEGMENT_TAG_LENGTH;
        const parts = this.#openSegment(i, data.subarray(pos, pos + ctLength));
        pos += ctLength;
        // Plaintext offset of this segment's first byte, and the part of it the range wants.
        let segPos = i * seg;
        for (const p of parts) {
          const from = Math.max(offset, segPos) - segPos;
          const to = Math.min(offset + length, segPos + p.length) - segPos;
          if (to > from) {
            out.set(p.subarray(from, to), at);
            at += to - from;
          }
          segPos += p.length;
          p.fill(0);
        }
      }
    } catch (err) {
      out.fill(0);
      throw err;
    }
    return out;
  }

  /** Wipes the attachment key; later reads fail with `ERR_CLOSED`. Idempotent. */
  close(): void {
    clean(this.#key);
    this.#key = undefined;
  }

  #live(): Uint8Array {
    if (this.#key === undefined || this.#instanceClosed()) {
      this.close();
      throw new ClosedError();
    }
    return this.#key;
  }

  /**
   * Asks the key path whether the key version is still readable — a cache lookup while it is
   * cached, the key store (and KMS) after an eviction, as a message's decrypt would. Shredded or
   * gone: the attachment key is wiped too, and the reader stays failed.
   */
  async #checkReadable(signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.#recheck!(signal);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ERR_KEY_SHREDDED' || code === 'ERR_DECRYPT_FAILED') this.close();
      throw err;
    }
    this.#live();
  }

  #offsetOf(index: number): number {
    return ATTACHMENT_HEADER_LENGTH + index * (this.segmentSize + SEGMENT_TAG_LENGTH);
  }

  /** Opens segment `index` from its complete ciphertext; ERR_DECRYPT_FAILED when it does not authenticate. */
  #openSegment(index: number, ct: Uint8Array): Uint8Array[] {
    const key = this.#live();
    const body = ct.length - SEGMENT_TAG_LENGTH;
    writeSegmentNonce(this.#nonce, index, index === this.#geo.segments - 1);
    const plain = this.#p.aead.open(this.#p.suite.id, key, this.#nonce, [ct.subarray(0, body)], ct.subarray(body));
    if (plain === null) throw new DecryptionError();
    return plain;
  }
}
