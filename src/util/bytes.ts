/** Byte helpers shared by every module. Portable: no Node-only APIs. */
import { InvalidInputError } from '../errors.js';

/**
 * Overwrites buffers the library owns with zeros. Best effort: JavaScript engines may have
 * copied the bytes elsewhere, but no copy we control outlives its use. Never call it on a
 * caller's buffer.
 */
export function clean(...arrays: (Uint8Array | undefined | null)[]): void {
  for (const a of arrays) if (a) a.fill(0);
}

/** Constant-time equality: the time taken depends only on the lengths, not on the contents. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Concatenates byte arrays into a new Uint8Array. */
export function concatBytes(...arrays: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const a of arrays) total += a.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const a of arrays) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

const encoder = new TextEncoder();
// ignoreBOM: true keeps a leading U+FEFF as text: the default consumes it, so decryptString
// returned '\uFEFFhi' sealed by encryptString as 'hi' (outside review 4, 2026-12-02;
// test/review4-core-decryptstring-bom.test.ts). Strict means every byte decoded, none dropped.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 encode. */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Strict UTF-8 decode (throws TypeError on malformed input); a leading BOM is kept, as U+FEFF. */
export function fromUtf8(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Lower-case hex. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Parses lower- or upper-case hex of even length. */
export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new InvalidInputError('hex', 'expected an even number of hex digits');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Standard padded base64 (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/**
 * Strict standard base64: the bytes, or null unless `s` is their one canonical padded encoding
 * (no whitespace, no missing padding, no non-zero unused bits — RFC 4648 §3.5), so that no
 * second spelling of the same bytes is accepted where signed text is parsed.
 */
export function fromBase64(s: string): Uint8Array | null {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    return null;
  }
  const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return toBase64(out) === s ? out : null;
}

/** True for a Uint8Array (or Buffer) of exactly `length` bytes. */
export function isBytesOf(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length;
}

/**
 * True when `s` is the one canonical unpadded base64url spelling of some bytes. Decoders
 * (Node's included) ignore the unused low bits of the last character, so without this check
 * four different strings would decode to the same signature.
 *
 * @example
 * ```ts
 * isCanonicalBase64url('AQ'); // true  (0x01)
 * isCanonicalBase64url('AR'); // false (also 0x01, non-zero spare bits)
 * ```
 */
export function isCanonicalBase64url(s: string): boolean {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return false;
  const r = s.length % 4;
  if (r === 1) return false;
  if (r === 0) return true;
  const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(s[s.length - 1]!);
  return (last & (r === 2 ? 0x0f : 0x03)) === 0;
}

/** Writes `v` as a big-endian u32 at `at` (the wire formats' integers, docs/FORMAT.md §3 and §9). */
export function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** Reads a big-endian u32 at `at`. */
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
