/**
 * The per-attachment key (docs/FORMAT.md §9.2):
 *
 *   K = HKDF-SHA-256(IKM = conversation data key, salt = header salt, info, L = 32)
 *   info = "keywarden/attachment" || header (46 bytes) || u16be(len(conversation id)) || conversation id || aad
 *
 * Why derive: the segments are sealed with counter nonces (§9.3), which are safe only under a key
 * no other attachment uses; the 32-byte random salt gives each attachment its own key, so the
 * conversation key's message count is charged once per attachment, not once per segment. Why the
 * whole header, conversation and aad go into `info`: every segment is then bound to them through
 * its key — changing any of them gives another key, and every segment fails — without the cost
 * of associated data on each segment (the caller's aad may be 64 KiB). This is the shape of
 * Tink's AES-GCM-HKDF streaming key derivation (associated data as HKDF info), with the label and
 * the header (format, suite, key version, sealing time, segment size) added. Portable (noble).
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { clean, utf8 } from '../util/bytes.js';
import { ATTACHMENT_HEADER_LENGTH, headerSalt } from './format.js';

/** Domain label: the data key also seals messages directly, so attachment keys get their own name. */
export const ATTACHMENT_KEY_LABEL = utf8('keywarden/attachment');

/** The HKDF info of §9.2 for a validated conversation id (its UTF-8 bytes) and aad. */
export function attachmentKeyInfo(header: Uint8Array, conversationId: Uint8Array, aad: Uint8Array | string): Uint8Array {
  const a = typeof aad === 'string' ? utf8(aad) : aad;
  const label = ATTACHMENT_KEY_LABEL.length;
  const out = new Uint8Array(label + ATTACHMENT_HEADER_LENGTH + 2 + conversationId.length + a.length);
  out.set(ATTACHMENT_KEY_LABEL, 0);
  out.set(header.subarray(0, ATTACHMENT_HEADER_LENGTH), label);
  let at = label + ATTACHMENT_HEADER_LENGTH;
  out[at++] = conversationId.length >>> 8;
  out[at++] = conversationId.length & 0xff;
  out.set(conversationId, at);
  out.set(a, at + conversationId.length);
  return out;
}

/**
 * Derives the 32-byte attachment key. The caller owns the result and wipes it; the intermediate
 * PRK is wiped here. `dataKey` is read, never kept.
 *
 * @example
 * ```ts
 * const key = deriveAttachmentKey(dataKey, header, conversationIdBytes(id), aad);
 * try { … } finally { key.fill(0); }
 * ```
 */
export function deriveAttachmentKey(dataKey: Uint8Array, header: Uint8Array, conversationId: Uint8Array, aad: Uint8Array | string): Uint8Array {
  const prk = extract(sha256, dataKey, headerSalt(header));
  try {
    return expand(sha256, prk, attachmentKeyInfo(header, conversationId, aad), 32);
  } finally {
    clean(prk);
  }
}
