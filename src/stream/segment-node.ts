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

function algo(suite: SuiteId): 'aes-256-gcm' {
  // Typed as the GCM overload: node's chacha20-poly1305 overload takes the same options.
  return (suite === SuiteId.AES_256_GCM ? 'aes-256-gcm' : 'chacha20-poly1305') as 'aes-256-gcm';
}

/** Segments through node:crypto. */
export const nodeSegments: SegmentAead = {
  name: 'node',
  seal(suite, key, nonce, pieces, emit) {
    const c = createCipheriv(algo(suite), key, nonce, TAG_OPTS);
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (p.length > 0) emit(c.update(p));
    }
    c.final(); // a stream mode: emits nothing
    emit(c.getAuthTag());
  },
  open(suite, key, nonce, pieces, tag) {
    if (tag.length !== SEGMENT_TAG_LENGTH) return null;
    const d = createDecipheriv(algo(suite), key, nonce, TAG_OPTS);
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
