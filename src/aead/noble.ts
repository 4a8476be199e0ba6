/**
 * Portable AEADs through @noble/ciphers: correct on any JavaScript runtime, and the
 * cross-check for the native implementation.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305, hchacha } from '@noble/ciphers/chacha.js';
import { InvalidInputError } from '../errors.js';
import { SuiteId } from '../format/suites.js';
import type { AeadImpl } from './types.js';

/**
 * Both suites take 256-bit keys: `seal` refuses anything else before a cipher runs (outside
 * review 7: noble sealed AES-128-GCM for a 16-byte key under suite 0x01, node threw a raw
 * RangeError); `open` gives null for it, as for any failure. @internal
 */
export function assertKey32(key: Uint8Array): void {
  if (key.length !== 32) throw new InvalidInputError('key', `expected Uint8Array of 32 bytes, got ${key.length}`);
}

// "expand 32-byte k" as little-endian words (RFC 8439 §2.3).
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function readLE32(src: Uint8Array, count: number, offset = 0): Uint32Array {
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const o = offset + 4 * i;
    out[i] = (src[o]! | (src[o + 1]! << 8) | (src[o + 2]! << 16) | (src[o + 3]! << 24)) >>> 0;
  }
  return out;
}

/**
 * HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2): derives the XChaCha20 subkey from the key and
 * the first 16 bytes of the 24-byte nonce. Used by both implementations.
 */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const k = readLE32(key, 8);
  const n = readLE32(nonce16, 4);
  const o = new Uint32Array(8);
  hchacha(SIGMA, k, n, o);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const w = o[i]!;
    out[4 * i] = w & 0xff;
    out[4 * i + 1] = (w >>> 8) & 0xff;
    out[4 * i + 2] = (w >>> 16) & 0xff;
    out[4 * i + 3] = w >>> 24;
  }
  k.fill(0);
  o.fill(0);
  return out;
}

/**
 * The XChaCha20-Poly1305 inner nonce: 4 zero bytes then the last 8 bytes of the 24-byte
 * nonce (draft-irtf-cfrg-xchacha-03 §2.3).
 */
export function xchachaInnerNonce(nonce24: Uint8Array): Uint8Array {
  const n = new Uint8Array(12);
  n.set(nonce24.subarray(16, 24), 4);
  return n;
}

function withPrefix(prefix: Uint8Array | undefined, body: Uint8Array): Uint8Array {
  if (!prefix || prefix.length === 0) return body;
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  body.fill(0);
  return out;
}

/** AEADs implemented in pure JavaScript by @noble/ciphers. */
export const nobleAead: AeadImpl = {
  name: 'noble',
  seal(suite, key, nonce, plaintext, aad, prefix) {
    assertKey32(key);
    if (suite === SuiteId.AES_256_GCM) return withPrefix(prefix, gcm(key, nonce, aad).encrypt(plaintext));
    // XChaCha20-Poly1305 built explicitly from HChaCha20 + ChaCha20-Poly1305, the same
    // construction the native implementation uses (checked against noble's xchacha20poly1305
    // and the Wycheproof vectors in the tests).
    const sub = hchacha20(key, nonce.subarray(0, 16));
    try {
      return withPrefix(prefix, chacha20poly1305(sub, xchachaInnerNonce(nonce), aad).encrypt(plaintext));
    } finally {
      sub.fill(0);
    }
  },
  open(suite, key, nonce, data, aad, start = 0) {
    if (key.length !== 32) return null; // see assertKey32
    let sub: Uint8Array | undefined;
    const ct = start === 0 ? data : data.subarray(start);
    try {
      if (suite === SuiteId.AES_256_GCM) return gcm(key, nonce, aad).decrypt(ct);
      sub = hchacha20(key, nonce.subarray(0, 16));
      return chacha20poly1305(sub, xchachaInnerNonce(nonce), aad).decrypt(ct);
    } catch {
      return null; // noble throws on a bad tag or a too-short input: one outcome for both
    } finally {
      sub?.fill(0);
    }
  },
};
