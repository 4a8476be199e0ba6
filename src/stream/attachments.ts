/**
 * Attachments for one Keywarden instance: option checks, keys, and the in-memory calls
 * (docs/FORMAT.md §9). Keywarden reaches this through one narrow interface, {@link AttachmentKeys},
 * which hands out copies of conversation keys from its cache and lifecycle — so reservations,
 * rotation, shredding and closing apply to attachments exactly as to messages, and nothing here
 * knows about stores or KMS.
 */
import { DecryptionError, InvalidInputError } from '../errors.js';
import { validAad } from '../format/items.js';
import type { SuiteInfo } from '../format/suites.js';
import type { Keywarden } from '../keywarden.js';
import { clean } from '../util/bytes.js';
import { isAbortSignal, throwIfAborted } from '../util/deadline.js';
import { randomBytes } from '../util/random.js';
import { assertBytes, assertInt, changedWhileWaiting, conversationIdBytes, isBytes, ownBytes, ownOptions, plainBytes } from '../util/validate.js';
import { deriveAttachmentKey } from './derive.js';
import { ATTACHMENT_HEADER_LENGTH, ATTACHMENT_SALT_LENGTH, DEFAULT_SEGMENT_SIZE, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SEGMENT_TAG_LENGTH, encodeAttachmentHeader, parseAttachmentHeader } from './format.js';
import { AttachmentReader, type AttachmentSource, checkSource, memorySource } from './reader.js';
import type { SegmentAead } from './segment-aead.js';
import { AttachmentDecryptor, AttachmentEncryptor, type SegmentParams } from './sealer.js';

/** A copy of the active key of a conversation, charged one message of its version's budget. */
export interface SealingKey {
  /** 32 bytes; the receiver wipes them. */
  key: Uint8Array;
  version: number;
  suite: SuiteInfo;
  /** Sealing time, whole seconds since 1970 (as format v2 stores it). */
  sealedAt: number;
}

/** A copy of one key version of a conversation. */
export interface OpeningKey {
  /** 32 bytes; the receiver wipes them. */
  key: Uint8Array;
  suite: SuiteInfo;
}

/**
 * The only way attachments reach conversation keys (implemented by Keywarden over its cache and
 * KeyLifecycle). Errors are the key path's own: ERR_DECRYPT_FAILED for a version that does not
 * exist, ERR_KMS_* / ERR_STORE_FAILED for outages, ERR_CLOSED, ERR_ABORTED.
 */
export interface AttachmentKeys {
  forSealing(conversationId: string, signal: AbortSignal | undefined): Promise<SealingKey>;
  forOpening(conversationId: string, version: number, signal: AbortSignal | undefined): Promise<OpeningKey>;
  /** Resolves while the version may still be read (as forOpening, without a copy of the key); throws as forOpening does otherwise. */
  readable(conversationId: string, version: number, signal: AbortSignal | undefined): Promise<void>;
  readonly closed: boolean;
}

/** Options of the calls that seal an attachment. */
export interface AttachmentEncryptOptions {
  /**
   * Caller associated data (typically the attachment id), bound to the attachment but not
   * stored in it; the same value must be given to decrypt. A string is its UTF-8 bytes.
   */
  aad?: Uint8Array | string;
  /** Plaintext bytes per segment, 256 to 16 MiB (default 64 KiB); recorded in the header. */
  segmentSize?: number;
  /** Gives up waiting for the conversation key with `ERR_ABORTED`. */
  signal?: AbortSignal;
}

/** Options of the calls that open an attachment. */
export interface AttachmentDecryptOptions {
  /** The aad the attachment was sealed with. */
  aad?: Uint8Array | string;
  /** Gives up waiting for the conversation key with `ERR_ABORTED`. */
  signal?: AbortSignal;
}

interface Checked {
  conv: Uint8Array;
  aad: Uint8Array | string;
  /** aadLength(aad) when the call was made: the aad is a view of the caller's bytes (see aadLength). */
  aadSize: number;
  signal: AbortSignal | undefined;
  segmentSize: number;
}

/**
 * The Keywarden a stream or file function was given (a wrong argument is named, not a TypeError
 * later). @internal
 */
export function checkKeywarden(kw: unknown): asserts kw is Keywarden {
  if (kw === null || typeof kw !== 'object' || typeof (kw as { createAttachmentEncryptor?: unknown }).createAttachmentEncryptor !== 'function') {
    throw new InvalidInputError('kw', 'expected a Keywarden instance');
  }
}

/** Validates a call's conversation id and options (own properties only); throws ERR_INVALID_INPUT naming the culprit, or ERR_ABORTED if the signal already fired. */
export function checkCall(conversationId: unknown, options: unknown, sealing: boolean): Checked {
  const conv = conversationIdBytes(conversationId);
  const o = ownOptions('options', options as AttachmentEncryptOptions | undefined, sealing ? ['aad', 'segmentSize', 'signal'] : ['aad', 'signal']);
  const aad = validAad('options.aad', o.aad, ownBytes); // bound into the attachment key when sealing
  if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new InvalidInputError('options.signal', 'expected an AbortSignal');
  throwIfAborted(o.signal);
  const segmentSize = o.segmentSize === undefined ? DEFAULT_SEGMENT_SIZE : o.segmentSize;
  assertInt('options.segmentSize', segmentSize, MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
  return { conv, aad, aadSize: aadLength(aad), signal: o.signal, segmentSize };
}

/**
 * The options a call checked, as options again, for the call it makes after a wait (files,
 * Node streams): read once, since the caller's object may change meanwhile. An aad transferred
 * away in between reads as empty, and the check made again inside would take it as no aad — an
 * attachment sealed bound to nothing, or one sealed with no aad opened where the caller asked for
 * one (outside review, 2026-12-02): refused as encrypt refuses it, or failed as a decrypt. @internal
 */
export function checkedOptions(c: Checked, sealing: boolean): AttachmentEncryptOptions {
  if (aadLength(c.aad) !== c.aadSize) throw sealing ? changedWhileWaiting('options.aad') : new DecryptionError();
  return { aad: c.aad, ...(sealing ? { segmentSize: c.segmentSize } : {}), ...(c.signal === undefined ? {} : { signal: c.signal }) };
}

/** Length of a caller's aad view (reads 0 once its buffer is detached); -1 for a string, which cannot change. */
function aadLength(aad: Uint8Array | string): number {
  return typeof aad === 'string' ? -1 : aad.length;
}

/** The attachment machinery of one Keywarden instance. */
export class Attachments {
  readonly #keys: AttachmentKeys;
  readonly #aead: SegmentAead;

  constructor(keys: AttachmentKeys, aead: SegmentAead) {
    this.#keys = keys;
    this.#aead = aead;
  }

  /** An encryptor under the conversation's active key: one message of its budget, a fresh salt, a derived key. */
  async encryptor(conversationId: string, c: Checked): Promise<AttachmentEncryptor> {
    const k = await this.#keys.forSealing(conversationId, c.signal);
    try {
      // The aad is a view of the caller's bytes (util/validate.ts): transferred away or shrunk
      // during the wait, it would be a raw TypeError or an attachment bound to other bytes; refuse
      // it as encrypt does (outside review, 2026-12-02).
      if (aadLength(c.aad) !== c.aadSize) throw changedWhileWaiting('options.aad');
      const header = encodeAttachmentHeader(k.suite.id, k.version, k.sealedAt, c.segmentSize, randomBytes(ATTACHMENT_SALT_LENGTH));
      const key = deriveAttachmentKey(k.key, header, c.conv, c.aad);
      return new AttachmentEncryptor({ aead: this.#aead, suite: k.suite, key, segmentSize: c.segmentSize }, header);
    } finally {
      clean(k.key);
    }
  }

  /** A decryptor for the attachment whose first 46 bytes are `header`; ERR_DECRYPT_FAILED for anything that cannot be one of this conversation's. */
  async decryptor(conversationId: string, header: Uint8Array, c: Checked): Promise<AttachmentDecryptor> {
    return new AttachmentDecryptor(await this.#openingParams(conversationId, header, c));
  }

  /** The key and parameters to open the attachment with this header (the caller owns the key). */
  async #openingParams(conversationId: string, header: Uint8Array, c: Checked): Promise<SegmentParams> {
    const h = parseAttachmentHeader(header);
    if (h === undefined) throw new DecryptionError();
    // The header as it is now, in memory of our own: the key is derived after the wait, from the
    // same bytes that were parsed, whatever happens to the caller's buffer meanwhile (a transfer
    // made it a raw TypeError: outside review, 2026-12-02).
    const bytes = Uint8Array.from(h.bytes); // not .slice(): on a Buffer that is a view
    const k = await this.#keys.forOpening(conversationId, h.keyVersion, c.signal);
    try {
      if (k.suite.id !== h.suite.id) throw new DecryptionError(); // a key is used with one suite only (§1)
      if (aadLength(c.aad) !== c.aadSize) throw new DecryptionError(); // aad transferred away since the call: as decrypt
      return { aead: this.#aead, suite: k.suite, key: deriveAttachmentKey(k.key, bytes, c.conv, c.aad), segmentSize: h.segmentSize };
    } finally {
      clean(k.key);
    }
  }

  /** Seals a whole attachment held in memory; returns it as one buffer. */
  async encrypt(conversationId: string, plaintext: unknown, c: Checked): Promise<Uint8Array> {
    assertBytes('plaintext', plaintext);
    const pt = ownBytes(plaintext); // no code of the caller's runs while it is sealed (util/validate.ts)
    const size = pt.length;
    const enc = await this.encryptor(conversationId, c);
    if (pt.length !== size) {
      enc.destroy();
      throw changedWhileWaiting('plaintext'); // a view of the caller's bytes: see Keywarden#encryptSlow
    }
    const segments = Math.max(1, Math.ceil(pt.length / c.segmentSize));
    const out = new Uint8Array(ATTACHMENT_HEADER_LENGTH + pt.length + segments * SEGMENT_TAG_LENGTH);
    let at = 0;
    const emit = (chunk: Uint8Array) => {
      out.set(chunk, at);
      at += chunk.length;
    };
    try {
      enc.update(pt, emit);
      enc.final(emit);
    } finally {
      enc.destroy();
    }
    return out;
  }

  /** Opens a whole attachment held in memory: all of it authenticates, or ERR_DECRYPT_FAILED and nothing. */
  async decrypt(conversationId: string, ciphertext: unknown, c: Checked): Promise<Uint8Array> {
    assertBytes('ciphertext', ciphertext);
    const ct = plainBytes(ciphertext);
    const size = ct.length;
    if (size < ATTACHMENT_HEADER_LENGTH + SEGMENT_TAG_LENGTH) throw new DecryptionError();
    const dec = await this.decryptor(conversationId, ct.subarray(0, ATTACHMENT_HEADER_LENGTH), c);
    if (ct.length !== size) {
      dec.destroy();
      throw new DecryptionError(); // the caller's bytes were transferred away during the wait: as decrypt
    }
    const parts: Uint8Array[] = [];
    let n = 0;
    const emit = (p: Uint8Array) => {
      parts.push(p);
      n += p.length;
    };
    try {
      dec.update(ct.subarray(ATTACHMENT_HEADER_LENGTH), emit);
      dec.final(emit);
    } catch (err) {
      for (const p of parts) p.fill(0); // ours: the caller gets nothing of a failed attachment
      throw err;
    } finally {
      dec.destroy();
    }
    // One plain Uint8Array whatever the implementation (node's outputs are Buffers): a view, not a copy.
    if (parts.length === 1) return new Uint8Array(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.length);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
      p.fill(0);
    }
    return out;
  }

  /**
   * Opens an attachment for random access: reads and authenticates its header and last segment.
   * `hold` gets the reader as soon as it owns its key, before its first read (Keywarden registers
   * it there, so that a close() during that read wipes the key at once: review 7).
   */
  async open(conversationId: string, source: unknown, c: Checked, hold: (r: AttachmentReader) => AttachmentReader = (r) => r): Promise<AttachmentReader> {
    const src: AttachmentSource = isBytes(source) ? memorySource(plainBytes(source)) : checkSource('source', source);
    const header = await AttachmentReader.readHeader(src, c.signal);
    const version = parseAttachmentHeader(header)!.keyVersion;
    // Every range asks again whether the version is readable: a shred stops open readers too (§9.6).
    const recheck = (signal: AbortSignal | undefined) => this.#keys.readable(conversationId, version, signal);
    const reader = hold(new AttachmentReader(src, header, await this.#openingParams(conversationId, header, c), () => this.#keys.closed, recheck));
    try {
      await reader.authenticateLength(c.signal);
    } catch (err) {
      reader.close();
      throw err;
    }
    return reader;
  }
}
