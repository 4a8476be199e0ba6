/**
 * Native AEADs through node:crypto (OpenSSL): the fast path on Node. XChaCha20-Poly1305 is
 * HChaCha20 (noble, 1 block of work) followed by OpenSSL's chacha20-poly1305.
 *
 * Hot-path notes (measured with `npm run bench`): option objects are hoisted; sub-views are
 * built with `new Uint8Array(buffer, offset, length)`, which skips Buffer's species lookup;
 * large messages are encrypted in 128 KiB slices straight into the output buffer, which costs
 * less than one large `update()` followed by a copy into the output.
 *
 * The output buffer is `Buffer.allocUnsafeSlow`, never `allocUnsafe`: below 4 KiB the latter is a
 * slice of Node's shared 8 KiB pool, so every ciphertext an application kept would keep 8 KiB
 * alive, and its `.buffer` would expose whatever else the process put in that slab (found by
 * `npm run soak`; test/ciphertext-memory.test.ts). Every byte of it is written before it is returned.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SuiteId } from '../format/suites.js';
import { assertKey32, hchacha20, xchachaInnerNonce } from './noble.js';
import { nodeSegments } from '../stream/segment-node.js';
import type { AeadImpl } from './types.js';

const TAG = 16;
const TAG_OPTS = Object.freeze({ authTagLength: TAG });
/** Scratch for the tag on open: node copies it into OpenSSL at once, so it can be reused. */
const TAG_SCRATCH = new Uint8Array(TAG);
const SLICE = 128 * 1024;

function algo(suite: SuiteId): 'aes-256-gcm' {
  // Typed as the GCM overload: node's chacha20-poly1305 overload has the same options shape.
  return (suite === SuiteId.AES_256_GCM ? 'aes-256-gcm' : 'chacha20-poly1305') as 'aes-256-gcm';
}

function view(b: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, end - start);
}

/** One message open through OpenSSL (AES-256-GCM or ChaCha20-Poly1305); null when the tag fails. */
function openNative(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad: Uint8Array, start: number): Uint8Array | null {
  const bodyLen = ct.length - TAG;
  let out: Buffer | undefined;
  try {
    const d = createDecipheriv(algo(suite), key, nonce, TAG_OPTS);
    for (let i = 0; i < TAG; i++) TAG_SCRATCH[i] = ct[bodyLen + i]!;
    d.setAuthTag(TAG_SCRATCH);
    if (aad.length > 0) d.setAAD(aad);
    out = d.update(view(ct, start, bodyLen));
    d.final(); // throws when the tag does not verify
    return out;
  } catch {
    // OpenSSL decrypts before it verifies: wipe what update() produced so no unverified
    // plaintext outlives this call.
    out?.fill(0);
    return null;
  }
}

/** AEADs implemented by node:crypto. */
export const nodeAead: AeadImpl = {
  name: 'node',
  segments: nodeSegments,
  seal(suite, key, nonce, plaintext, aad, prefix) {
    assertKey32(key);
    let k = key;
    let n = nonce;
    if (suite === SuiteId.XCHACHA20_POLY1305) {
      k = hchacha20(key, view(nonce, 0, 16));
      n = xchachaInnerNonce(nonce);
    }
    try {
      const c = createCipheriv(algo(suite), k, n, TAG_OPTS);
      if (aad.length > 0) c.setAAD(aad);
      const pre = prefix === undefined ? 0 : prefix.length;
      if (plaintext.length <= SLICE) {
        const body = c.update(plaintext);
        c.final(); // GCM and ChaCha20-Poly1305 are stream modes: final() emits nothing
        const out = Buffer.allocUnsafeSlow(pre + body.length + TAG); // not pooled: see the header
        if (prefix !== undefined) out.set(prefix, 0);
        out.set(body, pre);
        out.set(c.getAuthTag(), pre + body.length);
        return out;
      }
      const out = Buffer.allocUnsafeSlow(pre + plaintext.length + TAG);
      if (prefix !== undefined) out.set(prefix, 0);
      let pos = pre;
      for (let off = 0; off < plaintext.length; off += SLICE) {
        const part = c.update(view(plaintext, off, Math.min(plaintext.length, off + SLICE)));
        out.set(part, pos);
        pos += part.length;
      }
      c.final();
      out.set(c.getAuthTag(), pos);
      return out;
    } finally {
      if (k !== key) k.fill(0);
    }
  },
  open(suite, key, nonce, ct, aad, start = 0) {
    if (key.length !== 32 || ct.length - start < TAG) return null; // keys: see assertKey32
    if (suite !== SuiteId.XCHACHA20_POLY1305) return openNative(suite, key, nonce, ct, aad, start);
    const k = hchacha20(key, view(nonce, 0, 16));
    try {
      return openNative(suite, k, xchachaInnerNonce(nonce), ct, aad, start);
    } finally {
      k.fill(0);
    }
  },
};
