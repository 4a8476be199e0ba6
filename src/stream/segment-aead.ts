/**
 * Sealing and opening one segment (docs/FORMAT.md §9.3). A segment's plaintext may arrive in
 * several pieces (the caller's chunks, never copied on the native path); its ciphertext is the
 * AEAD ciphertext followed by the 16-byte tag, with empty associated data (the header, the
 * conversation and the aad are bound through the key, §9.2).
 *
 * Nonce (12 bytes) = 7 zero bytes || u32be(segment index) || last-segment flag (0x01 / 0x00), the
 * layout of Tink's streaming AEAD with a zero prefix (age uses an 11-byte counter and the same
 * flag): each attachment key seals each index once, so nonces never repeat under a key, and a
 * segment opens only at its own position and only as last or not-last, as sealed.
 *
 * Suites: 0x01 seals segments with AES-256-GCM; 0x02 with ChaCha20-Poly1305 (RFC 8439) — the
 * attachment key is fresh per attachment, so XChaCha's extended nonce buys nothing here.
 * This file is portable (noble); ./segment-node.ts is the native implementation.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { AeadImpl } from '../aead/types.js';
import { SuiteId } from '../format/suites.js';
import { SEGMENT_TAG_LENGTH } from './format.js';

/** Bytes of a segment nonce. */
export const SEGMENT_NONCE_LENGTH = 12;

/**
 * One implementation of segment sealing. keywarden ships two that agree byte for byte: a
 * portable one (@noble/ciphers) and a native one (node:crypto), chosen with the message AEAD
 * (`KeywardenOptions.aead`).
 */
export interface SegmentAead {
  /** `"noble"` or `"node"`. */
  readonly name: string;
  /**
   * Seals one segment whose plaintext is the concatenation of `pieces` (possibly none), and
   * passes its ciphertext then its tag to `emit`, in one or more chunks the caller may keep.
   */
  seal(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, pieces: readonly Uint8Array[], emit: (chunk: Uint8Array) => void): void;
  /**
   * Opens one segment whose ciphertext (without tag) is the concatenation of `pieces`: the
   * plaintext in one or more new buffers the caller owns, or null when it does not authenticate
   * — and then no plaintext exists anywhere (what was decrypted before the tag check is wiped).
   */
  open(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, pieces: readonly Uint8Array[], tag: Uint8Array): Uint8Array[] | null;
}

/** Writes the nonce of segment `index` into `out` (12 bytes; the first 7 stay zero). */
export function writeSegmentNonce(out: Uint8Array, index: number, last: boolean): void {
  out[7] = index >>> 24;
  out[8] = (index >>> 16) & 0xff;
  out[9] = (index >>> 8) & 0xff;
  out[10] = index & 0xff;
  out[11] = last ? 1 : 0;
}

/** A fresh nonce for segment `index`. */
export function segmentNonce(index: number, last: boolean): Uint8Array {
  const n = new Uint8Array(SEGMENT_NONCE_LENGTH);
  writeSegmentNonce(n, index, last);
  return n;
}

/** The pieces as one array: the piece itself when there is one, else a copy. */
function contiguous(pieces: readonly Uint8Array[], extra?: Uint8Array): Uint8Array {
  if (pieces.length === 1 && extra === undefined) return pieces[0]!;
  let n = extra?.length ?? 0;
  for (const p of pieces) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  if (extra !== undefined) out.set(extra, at);
  return out;
}

function cipher(suite: SuiteId, key: Uint8Array, nonce: Uint8Array) {
  return suite === SuiteId.AES_256_GCM ? gcm(key, nonce) : chacha20poly1305(key, nonce);
}

/** Segments through @noble/ciphers: any JavaScript runtime. */
export const nobleSegments: SegmentAead = {
  name: 'noble',
  seal(suite, key, nonce, pieces, emit) {
    const pt = pieces.length === 0 ? new Uint8Array(0) : contiguous(pieces);
    const out = cipher(suite, key, nonce).encrypt(pt);
    if (pt !== pieces[0] && pieces.length > 0) pt.fill(0); // our copy of the caller's plaintext
    emit(out);
  },
  open(suite, key, nonce, pieces, tag) {
    if (tag.length !== SEGMENT_TAG_LENGTH) return null;
    const data = contiguous(pieces, tag); // always a copy: ciphertext, nothing to wipe
    try {
      return [cipher(suite, key, nonce).decrypt(data)];
    } catch {
      return null; // noble verifies the tag before it decrypts: nothing to wipe
    }
  },
};

/** The segment implementation that goes with a message AEAD: its own, or the portable one. */
export function segmentsFor(aead: AeadImpl): SegmentAead {
  return aead.segments ?? nobleSegments;
}
