/**
 * Segments through node:crypto (OpenSSL): the native path (docs/FORMAT.md §9.3). Each piece of a
 * segment's plaintext goes to `update()` as it is — no copy into a segment buffer — and each
 * output is handed on as OpenSSL produced it, so a segment costs one cipher context and the
 * buffers node allocates for its output. Opening holds the outputs until `final()` has checked
 * the tag and wipes them when it fails, so no unverified plaintext leaves this file.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SuiteId } from '../format/suites.js';
import { SEGMENT_TAG_LENGTH } from './format.js';
import type { SegmentAead } from './segment-aead.js';

const TAG_OPTS = Object.freeze({ authTagLength: SEGMENT_TAG_LENGTH });

/**
 * Pieces smaller than this on average, and more than {@link MANY_PIECES} of them, are joined
 * before they go to OpenSSL: a caller that streams tiny chunks (down to single bytes) would
 * otherwise cost one `update()` call and one output Buffer per chunk — time linear in the bytes
 * but with a large constant and a flood of tiny allocations. Normal streams (chunks of KiBs) are
 * passed through uncopied.
 */
const SMALL_PIECE = 1024;
const MANY_PIECES = 8;

/** The pieces, or one buffer joining them when they are many and small (the caller wipes a join of plaintext). */
function coalesce(pieces: readonly Uint8Array[]): readonly Uint8Array[] {
  if (pieces.length <= MANY_PIECES) return pieces;
  let n = 0;
  for (const p of pieces) n += p.length;
  if (n >= SMALL_PIECE * pieces.length) return pieces;
  const out = Buffer.allocUnsafeSlow(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return [out];
}

function algo(suite: SuiteId): 'aes-256-gcm' {
  // Typed as the GCM overload: node's chacha20-poly1305 overload takes the same options.
  return (suite === SuiteId.AES_256_GCM ? 'aes-256-gcm' : 'chacha20-poly1305') as 'aes-256-gcm';
}

/** Segments through node:crypto. */
export const nodeSegments: SegmentAead = {
  name: 'node',
  seal(suite, key, nonce, given, emit) {
    const c = createCipheriv(algo(suite), key, nonce, TAG_OPTS);
    const pieces = coalesce(given);
    try {
      for (let i = 0; i < pieces.length; i++) {
        const p = pieces[i]!;
        if (p.length > 0) emit(c.update(p));
      }
    } finally {
      if (pieces !== given) pieces[0]!.fill(0); // our copy of the caller's plaintext
    }
    c.final(); // a stream mode: emits nothing
    emit(c.getAuthTag());
  },
  open(suite, key, nonce, given, tag) {
    if (tag.length !== SEGMENT_TAG_LENGTH) return null;
    const d = createDecipheriv(algo(suite), key, nonce, TAG_OPTS);
    const pieces = coalesce(given); // ciphertext: a join holds nothing secret
    const outs: Buffer[] = [];
    try {
      d.setAuthTag(tag);
      for (let i = 0; i < pieces.length; i++) {
        const p = pieces[i]!;
        if (p.length > 0) outs.push(d.update(p));
      }
      d.final(); // throws when the tag does not verify
      return outs;
    } catch {
      for (const o of outs) o.fill(0); // decrypted before the check: never released
      return null;
    }
  },
};
