/**
 * Wire format v1 (docs/FORMAT.md). A ciphertext is
 *
 *   version (1) | suite (1) | key version (4, big-endian) | nonce (12 or 24) | ciphertext | tag (16)
 *
 * and the AEAD's associated data is
 *
 *   version (1) | suite (1) | key version (4) | len(conversation id) (2, big-endian) | conversation id | aad
 *
 * The conversation id is bound but not stored: the caller supplies it on decrypt (§4).
 */
import { UnsupportedFormatError } from '../errors.js';
import { type SuiteInfo, suiteById } from './suites.js';

/** Format version byte of v1. */
export const FORMAT_V1 = 0x01;
/** Bytes before the nonce: version, suite, key version. */
export const HEADER_LENGTH = 6;
/** Largest key version a v1 header can carry. */
export const MAX_KEY_VERSION = 0xffff_ffff;

/** Public, unauthenticated fields of a ciphertext header. */
export interface CiphertextHeader {
  /** Wire format version (1). */
  formatVersion: number;
  /** Suite used to seal the message. */
  suite: SuiteInfo;
  /** Key version of the conversation key that sealed it. */
  keyVersion: number;
  /** Offset of the AEAD ciphertext (after the nonce). */
  bodyOffset: number;
}

/** Writes the 6-byte header into `out` at offset 0. */
export function writeHeader(out: Uint8Array, suiteId: number, keyVersion: number): void {
  out[0] = FORMAT_V1;
  out[1] = suiteId;
  out[2] = keyVersion >>> 24;
  out[3] = (keyVersion >>> 16) & 0xff;
  out[4] = (keyVersion >>> 8) & 0xff;
  out[5] = keyVersion & 0xff;
}

/**
 * Parses a header. Returns undefined for anything that is not a well-formed v1 header of a
 * known suite long enough to hold nonce and tag; callers turn that into their own error.
 */
export function parseHeader(ct: Uint8Array): CiphertextHeader | undefined {
  if (ct.length < HEADER_LENGTH || ct[0] !== FORMAT_V1) return undefined;
  const suite = suiteById(ct[1]!);
  if (!suite) return undefined;
  const keyVersion = ((ct[2]! << 24) | (ct[3]! << 16) | (ct[4]! << 8) | ct[5]!) >>> 0;
  if (keyVersion === 0) return undefined;
  const bodyOffset = HEADER_LENGTH + suite.nonceLength;
  if (ct.length < bodyOffset + suite.tagLength) return undefined;
  return { formatVersion: FORMAT_V1, suite, keyVersion, bodyOffset };
}

/**
 * Builds the part of the associated data that is fixed for one conversation key: header
 * fields, then the length-prefixed conversation id. The caller's aad follows it (§4).
 * Cached with the key so the hot path does not re-encode the conversation id.
 */
export function aadPrefix(suiteId: number, keyVersion: number, conversationId: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + 2 + conversationId.length);
  writeHeader(out, suiteId, keyVersion);
  out[6] = conversationId.length >>> 8;
  out[7] = conversationId.length & 0xff;
  out.set(conversationId, 8);
  return out;
}

const encoder = new TextEncoder();
const MAX_ID = 256;

/**
 * Builds the associated data (§4) of one message in a reusable buffer. The hot path uses this
 * instead of caching an encoded prefix per key: encoding a typical id costs ~50 ns, a cached
 * prefix would cost ~150 bytes per cached key. Views of the buffer are made once per length
 * (up to 512 bytes) and per id length, so a message costs no allocation here.
 */
export class AadBuilder {
  readonly #buf: Uint8Array;
  readonly #id: Uint8Array;
  /** #buf from offset 8 + n, for an id of n bytes: where a string aad is encoded. */
  readonly #tails: Uint8Array[] = [];
  readonly #views: Uint8Array[] = [];
  /** The id whose bytes are at [8, 8 + #lastLength): a busy conversation is encoded once. */
  #lastId: string | undefined;
  #lastLength = 0;

  constructor(maxAad: number) {
    this.#buf = new Uint8Array(8 + MAX_ID + maxAad);
    this.#id = this.#buf.subarray(8, 8 + MAX_ID);
  }

  /**
   * The associated data for a validated conversation id (well-formed, at most 256 UTF-8 bytes)
   * and a validated aad (at most maxAad bytes). Valid until the next call.
   */
  build(suiteId: number, keyVersion: number, conversationId: string, aad: Uint8Array | string): Uint8Array {
    const out = this.#buf;
    writeHeader(out, suiteId, keyVersion);
    let n = this.#lastLength;
    if (conversationId !== this.#lastId) {
      n = this.#lastLength = encoder.encodeInto(conversationId, this.#id).written;
      this.#lastId = conversationId;
    }
    out[6] = n >>> 8;
    out[7] = n & 0xff;
    let length = 8 + n;
    if (typeof aad === 'string') {
      if (aad.length > 0) length += encoder.encodeInto(aad, (this.#tails[n] ??= out.subarray(8 + n))).written;
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
  /** Bytes the format adds to the plaintext (header, nonce, tag). */
  overhead: number;
}

/**
 * Reads the public header of a ciphertext without decrypting it, e.g. to find which key
 * version a stored message needs. Throws `ERR_UNSUPPORTED_FORMAT` for anything that is not a
 * v1 ciphertext of a known suite. The header is not authenticated until `decrypt` succeeds.
 *
 * @example
 * ```ts
 * const { keyVersion, suite } = inspectCiphertext(row.body);
 * ```
 */
export function inspectCiphertext(ciphertext: Uint8Array): CiphertextInfo {
  if (!(ciphertext instanceof Uint8Array)) throw new UnsupportedFormatError('ciphertext: expected Uint8Array');
  if (ciphertext.length > 0 && ciphertext[0] !== FORMAT_V1) {
    throw new UnsupportedFormatError(`ciphertext: unknown format version ${ciphertext[0]}`);
  }
  const h = parseHeader(ciphertext);
  if (!h) throw new UnsupportedFormatError('ciphertext: not a well-formed v1 ciphertext of a known suite');
  return { formatVersion: h.formatVersion, suite: h.suite.name, keyVersion: h.keyVersion, overhead: h.bodyOffset + h.suite.tagLength };
}
