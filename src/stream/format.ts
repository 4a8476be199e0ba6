/**
 * Attachment format 1 (docs/FORMAT.md §9): a 46-byte header, then fixed-size segments, each an
 * AEAD ciphertext with its own tag under a key derived for this attachment alone.
 *
 *   0xA1 | suite (1) | key version (4) | sealed at (4) | segment size (4) | salt (32) | segment 0 | … | segment n-1
 *
 * This module is the layout only: header encoding, the bounds of §9.5 and the geometry that maps
 * plaintext offsets to ciphertext segments. Nothing here touches a key. Portable.
 */
import { UnsupportedFormatError } from '../errors.js';
import { type SuiteInfo, suiteById } from '../format/suites.js';
import { readU32, writeU32 } from '../util/bytes.js';
import { assertInt, isBytes, plainBytes } from '../util/validate.js';

/** First byte of an attachment (format 1). Messages use 0x01-0x0F (§8), so neither is taken for the other. */
export const ATTACHMENT_V1 = 0xa1;
/** Bytes of the attachment header (§9.1). */
export const ATTACHMENT_HEADER_LENGTH = 46;
/** Bytes of the random salt in the header (§9.2). */
export const ATTACHMENT_SALT_LENGTH = 32;
/** Bytes of each segment's tag. */
export const SEGMENT_TAG_LENGTH = 16;
/** Default plaintext bytes per segment (64 KiB, as age and Tink's defaults). */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
/** Smallest plaintext segment size a header may carry. */
export const MIN_SEGMENT_SIZE = 256;
/** Largest plaintext segment size a header may carry (16 MiB): what a reader may have to buffer. */
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;
/**
 * Most plaintext bytes one attachment may hold: 2^40 (1 TiB). Keeps the blocks encrypted under one
 * attachment key within draft-irtf-cfrg-aead-limits' 2^-57 advantage for AES-GCM (§9.5), and the
 * segment index within its 32 bits for every allowed segment size.
 */
export const MAX_ATTACHMENT_BYTES = 2 ** 40;
/** Most segments one attachment may hold: the segment index is a u32 in the nonce (§9.3). */
export const MAX_SEGMENTS = 2 ** 32;

/** The header fields, as parsed (unauthenticated until a segment opens under the key they name). */
export interface AttachmentHeader {
  suite: SuiteInfo;
  keyVersion: number;
  /** Seconds since 1970 (u32). */
  sealedAt: number;
  /** Plaintext bytes per segment. */
  segmentSize: number;
  /** The 46 header bytes as read (a view; copy before keeping it). */
  bytes: Uint8Array;
}


/** Encodes a header (§9.1). The caller has validated every field. */
export function encodeAttachmentHeader(suiteId: number, keyVersion: number, sealedAt: number, segmentSize: number, salt: Uint8Array): Uint8Array {
  const out = new Uint8Array(ATTACHMENT_HEADER_LENGTH);
  out[0] = ATTACHMENT_V1;
  out[1] = suiteId;
  writeU32(out, 2, keyVersion);
  writeU32(out, 6, sealedAt);
  writeU32(out, 10, segmentSize);
  out.set(salt, 14);
  return out;
}

/**
 * Parses the first {@link ATTACHMENT_HEADER_LENGTH} bytes of `b`; undefined for anything that is
 * not a format-1 header of a known suite with key version ≥ 1 and an allowed segment size (the
 * caller turns that into its one error).
 */
export function parseAttachmentHeader(b: Uint8Array): AttachmentHeader | undefined {
  if (b.length < ATTACHMENT_HEADER_LENGTH || b[0] !== ATTACHMENT_V1) return undefined;
  const suite = suiteById(b[1]!);
  const keyVersion = readU32(b, 2);
  const segmentSize = readU32(b, 10);
  if (!suite || keyVersion === 0 || segmentSize < MIN_SEGMENT_SIZE || segmentSize > MAX_SEGMENT_SIZE) return undefined;
  return { suite, keyVersion, sealedAt: readU32(b, 6), segmentSize, bytes: b.subarray(0, ATTACHMENT_HEADER_LENGTH) };
}

/** The salt inside a header (a view). */
export function headerSalt(header: Uint8Array): Uint8Array {
  return header.subarray(14, 14 + ATTACHMENT_SALT_LENGTH);
}

/** Where the segments of an attachment of a given total ciphertext size lie (§9.4). */
export interface Geometry {
  /** Number of segments (≥ 1). */
  segments: number;
  /** Plaintext length of the whole attachment. */
  plaintextLength: number;
  /** Ciphertext bytes of the last segment (tag included). */
  lastCiphertextLength: number;
}

/**
 * The segment layout implied by a total ciphertext size, or undefined when no attachment of
 * this segment size has that size: every segment but the last is full, the last holds 1 to
 * `segmentSize` plaintext bytes (0 only when it is the only segment), so a size has at most one
 * reading — the format is canonical, and a size that is not a valid one fails.
 */
export function geometry(totalSize: number, segmentSize: number): Geometry | undefined {
  const body = totalSize - ATTACHMENT_HEADER_LENGTH;
  const full = segmentSize + SEGMENT_TAG_LENGTH;
  if (!Number.isSafeInteger(body) || body < SEGMENT_TAG_LENGTH) return undefined;
  const whole = Math.floor(body / full);
  const rem = body - whole * full;
  let segments: number;
  let last: number;
  if (rem === 0) {
    segments = whole;
    last = full;
  } else {
    if (rem < SEGMENT_TAG_LENGTH) return undefined;
    segments = whole + 1;
    last = rem;
  }
  const lastPlain = last - SEGMENT_TAG_LENGTH;
  if (lastPlain === 0 && segments > 1) return undefined;
  const plaintextLength = (segments - 1) * segmentSize + lastPlain;
  if (segments > MAX_SEGMENTS || plaintextLength > MAX_ATTACHMENT_BYTES) return undefined;
  return { segments, plaintextLength, lastCiphertextLength: last };
}

/** Total ciphertext size of an attachment of `plaintextLength` bytes (§9.4). */
export function attachmentSize(plaintextLength: number, segmentSize: number): number {
  // Only sizes an attachment can have (§9.1, §9.5): no answer for one that cannot exist.
  assertInt('plaintextLength', plaintextLength, 0, MAX_ATTACHMENT_BYTES);
  assertInt('segmentSize', segmentSize, MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
  const segments = Math.max(1, Math.ceil(plaintextLength / segmentSize));
  return ATTACHMENT_HEADER_LENGTH + plaintextLength + segments * SEGMENT_TAG_LENGTH;
}

/** What {@link inspectAttachment} reports: the public header, unauthenticated until a segment opens. */
export interface AttachmentInfo {
  /** Attachment format (1). */
  formatVersion: 1;
  /** Suite of the conversation key that sealed it. */
  suite: SuiteInfo['name'];
  /** Key version of the conversation key. */
  keyVersion: number;
  /** When sealing began (RFC 3339, to the second). */
  sealedAt: string;
  /** Plaintext bytes per segment. */
  segmentSize: number;
  /** Plaintext length, when `totalSize` (the whole attachment's size) was given and is a valid size. */
  plaintextLength?: number;
}

/**
 * Reads the public header of an attachment without decrypting it, e.g. to find which key version
 * a stored attachment needs or its plaintext length from the object's size. Throws
 * `ERR_UNSUPPORTED_FORMAT` for anything that is not a format-1 attachment header of a known
 * suite. Nothing here is authenticated until the attachment (or a range of it) decrypts.
 *
 * @param header at least the first 46 bytes of the attachment
 * @param totalSize the whole attachment's size in bytes, to compute the plaintext length
 * @example
 * ```ts
 * const { keyVersion, sealedAt, plaintextLength } = inspectAttachment(firstBytes, object.size);
 * ```
 */
export function inspectAttachment(header: Uint8Array, totalSize?: number): AttachmentInfo {
  if (!isBytes(header)) throw new UnsupportedFormatError('header: expected Uint8Array');
  if (totalSize !== undefined) assertInt('totalSize', totalSize, 0, Number.MAX_SAFE_INTEGER);
  const h = parseAttachmentHeader(plainBytes(header));
  if (!h) throw new UnsupportedFormatError('header: not a format-1 attachment header of a known suite');
  const g = totalSize === undefined ? undefined : geometry(totalSize, h.segmentSize);
  if (totalSize !== undefined && g === undefined) throw new UnsupportedFormatError('totalSize: not the size of any attachment with this header');
  return {
    formatVersion: 1,
    suite: h.suite.name,
    keyVersion: h.keyVersion,
    sealedAt: new Date(h.sealedAt * 1000).toISOString(),
    segmentSize: h.segmentSize,
    ...(g === undefined ? {} : { plaintextLength: g.plaintextLength }),
  };
}
