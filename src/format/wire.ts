/**
 * Message wire formats (docs/FORMAT.md). keywarden seals format v2 and opens v1 and v2:
 *
 *   v1: 0x01 | suite (1) | key version (4) | nonce (12 or 24) | ciphertext | tag (16)
 *   v2: 0x02 | suite (1) | key version (4) | sealed at (4)    | nonce      | ciphertext | tag
 *
 * `sealed at` is the sealing time in whole seconds since 1970 (u32be, to 2106). The associated
 * data is the header (6 or 10 bytes) followed by u16be(len(conversation id)), the conversation id
 * and the caller's aad, so every header field is authenticated by the tag — v2's sealing time
 * included, which is what lets break-glass open exactly the messages sealed inside its window
 * (§4, §7). The conversation id is bound but not stored: the caller supplies it on decrypt.
 */
import { UnsupportedFormatError } from '../errors.js';
import { type SuiteInfo, suiteById } from './suites.js';
import { readU32, writeU32 } from '../util/bytes.js';
import { MAX_PLAINTEXT_BYTES, isBytes, plainBytes } from '../util/validate.js';

/** Format version byte of v1 (opened, no longer sealed). */
export const FORMAT_V1 = 0x01;
/** Format version byte of v2: v1 plus the authenticated sealing time. */
export const FORMAT_V2 = 0x02;
/** Bytes before the nonce in v1: version, suite, key version. */
export const HEADER_LENGTH = 6;
/** Bytes before the nonce in v2: version, suite, key version, sealed at. */
export const HEADER_LENGTH_V2 = 10;
/** Largest key version a header can carry. */
export const MAX_KEY_VERSION = 0xffff_ffff;
/** Largest sealing time v2 can carry (seconds since 1970): 2106-02-07. */
export const MAX_SEALED_AT = 0xffff_ffff;

/** Public, unauthenticated fields of a ciphertext header. */
export interface CiphertextHeader {
  /** Wire format version (1 or 2). */
  formatVersion: number;
  /** Suite used to seal the message. */
  suite: SuiteInfo;
  /** Key version of the conversation key that sealed it. */
  keyVersion: number;
  /** v2: sealing time, whole seconds since 1970; undefined for v1. */
  sealedAt: number | undefined;
  /** Length of the header (before the nonce). */
  headerLength: number;
  /** Offset of the AEAD ciphertext (after the nonce). */
  bodyOffset: number;
}


/** Writes a v1 header (6 bytes) into `out` at offset 0. */
export function writeHeader(out: Uint8Array, suiteId: number, keyVersion: number): void {
  out[0] = FORMAT_V1;
  out[1] = suiteId;
  writeU32(out, 2, keyVersion);
}

/** Writes a v2 header (10 bytes) into `out` at offset 0. */
export function writeHeaderV2(out: Uint8Array, suiteId: number, keyVersion: number, sealedAt: number): void {
  out[0] = FORMAT_V2;
  out[1] = suiteId;
  writeU32(out, 2, keyVersion);
  writeU32(out, 6, sealedAt);
}

/**
 * Parses a header. Returns undefined for anything that is not a well-formed v1 or v2 header of a
 * known suite long enough to hold nonce and tag; callers turn that into their own error.
 */
export function parseHeader(ct: Uint8Array): CiphertextHeader | undefined {
  const keyVersion = headerVersion(ct);
  if (keyVersion === 0) return undefined;
  const formatVersion = ct[0]!;
  const suite = suiteById(ct[1]!)!;
  const headerLength = formatVersion === FORMAT_V2 ? HEADER_LENGTH_V2 : HEADER_LENGTH;
  return { formatVersion, suite, keyVersion, sealedAt: formatVersion === FORMAT_V2 ? readU32(ct, 6) : undefined, headerLength, bodyOffset: headerLength + suite.nonceLength };
}

/**
 * The key version of a well-formed header (the checks of {@link parseHeader}), or 0 for anything
 * parseHeader refuses. Allocates nothing: decryptMany reads a page's versions with it.
 */
export function headerVersion(ct: Uint8Array): number {
  const formatVersion = ct[0] ?? 0;
  const headerLength = formatVersion === FORMAT_V2 ? HEADER_LENGTH_V2 : formatVersion === FORMAT_V1 ? HEADER_LENGTH : 0;
  if (headerLength === 0 || ct.length < headerLength) return 0;
  const suite = suiteById(ct[1]!);
  if (!suite) return 0;
  if (ct.length < headerLength + suite.nonceLength + suite.tagLength) return 0;
  // Longer than any message encrypt produces (plaintext ≤ 64 MiB, docs/FORMAT.md "Sizes"): a
  // hostile or damaged row is refused here, before a key is loaded and the body run through the
  // cipher (outside review, 2026-12-02).
  if (ct.length > headerLength + suite.nonceLength + MAX_PLAINTEXT_BYTES + suite.tagLength) return 0;
  return readU32(ct, 2);
}

/**
 * The fixed part of a v1 message's associated data: the header, then the length-prefixed
 * conversation id (the caller's aad follows). For vectors and tests; the hot path uses
 * {@link AadBuilder}.
 */
export function aadPrefix(suiteId: number, keyVersion: number, conversationId: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + 2 + conversationId.length);
  writeHeader(out, suiteId, keyVersion);
  out[6] = conversationId.length >>> 8;
  out[7] = conversationId.length & 0xff;
  out.set(conversationId, 8);
  return out;
}

/** The same for v2 (header with the sealing time). */
export function aadPrefixV2(suiteId: number, keyVersion: number, sealedAt: number, conversationId: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH_V2 + 2 + conversationId.length);
  writeHeaderV2(out, suiteId, keyVersion, sealedAt);
  out[10] = conversationId.length >>> 8;
  out[11] = conversationId.length & 0xff;
  out.set(conversationId, 12);
  return out;
}

const encoder = new TextEncoder();
const MAX_ID = 256;

/**
 * Builds the associated data (§4) of one message in a reusable buffer, one per header length.
 * The hot path uses this instead of caching an encoded prefix per key: encoding a typical id
 * costs ~50 ns, a cached prefix would cost ~150 bytes per cached key. Views of the buffer are
 * made once per length (up to 512 bytes), so a message costs no allocation here.
 */
export class AadBuilder {
  readonly #v1: AadBuffer;
  readonly #v2: AadBuffer;

  constructor(maxAad: number) {
    this.#v1 = new AadBuffer(HEADER_LENGTH, maxAad);
    this.#v2 = new AadBuffer(HEADER_LENGTH_V2, maxAad);
  }

  /** v1 associated data. Valid until the next call. */
  build(suiteId: number, keyVersion: number, conversationId: string, aad: Uint8Array | string): Uint8Array {
    writeHeader(this.#v1.buf, suiteId, keyVersion);
    return this.#v1.finish(conversationId, aad);
  }

  /** v2 associated data (with the sealing time). Valid until the next call. */
  buildV2(suiteId: number, keyVersion: number, sealedAt: number, conversationId: string, aad: Uint8Array | string): Uint8Array {
    writeHeaderV2(this.#v2.buf, suiteId, keyVersion, sealedAt);
    return this.#v2.finish(conversationId, aad);
  }

  /** The associated data of a parsed header's format. */
  forHeader(h: CiphertextHeader, conversationId: string, aad: Uint8Array | string): Uint8Array {
    return h.sealedAt === undefined
      ? this.build(h.suite.id, h.keyVersion, conversationId, aad)
      : this.buildV2(h.suite.id, h.keyVersion, h.sealedAt, conversationId, aad);
  }
}

/** One reusable AD buffer: header (written by the caller), u16be id length, id, aad. */
class AadBuffer {
  readonly buf: Uint8Array;
  readonly #h: number;
  readonly #id: Uint8Array;
  /** buf from offset h + 2 + n, for an id of n bytes: where a string aad is encoded. */
  readonly #tails: Uint8Array[] = [];
  readonly #views: Uint8Array[] = [];
  /** The id whose bytes are in place: a busy conversation is encoded once. */
  #lastId: string | undefined;
  #lastLength = 0;

  constructor(headerLength: number, maxAad: number) {
    this.#h = headerLength;
    this.buf = new Uint8Array(headerLength + 2 + MAX_ID + maxAad);
    this.#id = this.buf.subarray(headerLength + 2, headerLength + 2 + MAX_ID);
  }

  /** For a validated conversation id (well-formed, at most 256 UTF-8 bytes) and aad. */
  finish(conversationId: string, aad: Uint8Array | string): Uint8Array {
    const out = this.buf;
    let n = this.#lastLength;
    if (conversationId !== this.#lastId) {
      n = this.#lastLength = encoder.encodeInto(conversationId, this.#id).written;
      this.#lastId = conversationId;
    }
    out[this.#h] = n >>> 8;
    out[this.#h + 1] = n & 0xff;
    let length = this.#h + 2 + n;
    if (typeof aad === 'string') {
      // Short ASCII strings (message ids) are copied in JS: cheaper than a call into encodeInto.
      let i = 0;
      if (aad.length <= 64) {
        for (let c; i < aad.length && (c = aad.charCodeAt(i)) < 0x80; i++) out[length + i] = c;
      }
      if (i === aad.length) length += i;
      else length += encoder.encodeInto(aad, (this.#tails[n] ??= out.subarray(this.#h + 2 + n))).written;
    } else if (aad.length > 0) {
      out.set(aad, length);
      length += aad.length;
    }
    if (length > 512) return out.subarray(0, length);
    return (this.#views[length] ??= out.subarray(0, length));
  }
}

/** What {@link inspectCiphertext} reports: public header fields, unauthenticated until decrypt succeeds. */
export interface CiphertextInfo {
  /** Wire format version. */
  formatVersion: number;
  /** Suite that sealed the message. */
  suite: SuiteInfo['name'];
  /** Key version of the conversation key that sealed it. */
  keyVersion: number;
  /** v2: when it was sealed (RFC 3339, to the second); absent for v1. */
  sealedAt?: string;
  /** Bytes the format adds to the plaintext (header, nonce, tag). */
  overhead: number;
}

/**
 * Reads the public header of a ciphertext without decrypting it, e.g. to find which key
 * version a stored message needs. Throws `ERR_UNSUPPORTED_FORMAT` for anything that is not a
 * v1 or v2 ciphertext of a known suite. The header is not authenticated until `decrypt` succeeds.
 *
 * @example
 * ```ts
 * const { keyVersion, suite, sealedAt } = inspectCiphertext(row.body);
 * ```
 */
export function inspectCiphertext(ciphertext: Uint8Array): CiphertextInfo {
  if (!isBytes(ciphertext)) throw new UnsupportedFormatError('ciphertext: expected Uint8Array');
  return inspectBytes(plainBytes(ciphertext));
}

function inspectBytes(ciphertext: Uint8Array): CiphertextInfo {
  if (ciphertext.length > 0 && ciphertext[0] !== FORMAT_V1 && ciphertext[0] !== FORMAT_V2) {
    throw new UnsupportedFormatError(`ciphertext: unknown format version ${ciphertext[0]}`);
  }
  const h = parseHeader(ciphertext);
  if (!h) throw new UnsupportedFormatError('ciphertext: not a well-formed ciphertext of a known format and suite');
  return {
    formatVersion: h.formatVersion,
    suite: h.suite.name,
    keyVersion: h.keyVersion,
    ...(h.sealedAt === undefined ? {} : { sealedAt: new Date(h.sealedAt * 1000).toISOString() }),
    overhead: h.bodyOffset + h.suite.tagLength,
  };
}
