/**
 * Native AEADs through node:crypto (OpenSSL): the fast path on Node. XChaCha20-Poly1305 is
 * HChaCha20 (noble, 1 block of work) followed by OpenSSL's chacha20-poly1305.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SuiteId } from '../format/suites.js';
import { hchacha20, xchachaInnerNonce } from './noble.js';
import type { AeadImpl } from './types.js';

const TAG = 16;
const EMPTY = Buffer.alloc(0);

function algo(suite: SuiteId): 'aes-256-gcm' | 'chacha20-poly1305' {
  return suite === SuiteId.AES_256_GCM ? 'aes-256-gcm' : 'chacha20-poly1305';
}

/** AEADs implemented by node:crypto. */
export const nodeAead: AeadImpl = {
  name: 'node',
  seal(suite, key, nonce, plaintext, aad, prefix) {
    let k = key;
    let n = nonce;
    if (suite === SuiteId.XCHACHA20_POLY1305) {
      k = hchacha20(key, nonce.subarray(0, 16));
      n = xchachaInnerNonce(nonce);
    }
    try {
      // Typed as the GCM overload: node's chacha20-poly1305 overload has the same options shape.
      const c = createCipheriv(algo(suite) as 'aes-256-gcm', k, n, { authTagLength: TAG });
      if (aad.length > 0) c.setAAD(aad, { plaintextLength: plaintext.length });
      const body = c.update(plaintext);
      c.final(); // GCM and ChaCha20-Poly1305 are stream modes: final() emits nothing
      return Buffer.concat([prefix ?? EMPTY, body, c.getAuthTag()]);
    } finally {
      if (k !== key) k.fill(0);
    }
  },
  open(suite, key, nonce, ct, aad) {
    if (ct.length < TAG) return null;
    let k = key;
    let n = nonce;
    if (suite === SuiteId.XCHACHA20_POLY1305) {
      k = hchacha20(key, nonce.subarray(0, 16));
      n = xchachaInnerNonce(nonce);
    }
    const bodyLen = ct.length - TAG;
    let out: Buffer | undefined;
    try {
      const d = createDecipheriv(algo(suite) as 'aes-256-gcm', k, n, { authTagLength: TAG });
      d.setAuthTag(ct.subarray(bodyLen));
      if (aad.length > 0) d.setAAD(aad, { plaintextLength: bodyLen });
      out = d.update(ct.subarray(0, bodyLen));
      d.final(); // throws when the tag does not verify
      return out;
    } catch {
      // OpenSSL decrypts before it verifies: wipe what update() produced so no unverified
      // plaintext outlives this call.
      out?.fill(0);
      return null;
    } finally {
      if (k !== key) k.fill(0);
    }
  },
};
