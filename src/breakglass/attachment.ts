/**
 * Break-glass for attachments (issue #16, point 4; docs/BREAK-GLASS.md §6): the parts of
 * `BreakGlass.openAttachment` that touch the attachment — its header and window, its key, and a
 * full authentication pass — kept out of access.ts, whose method only orders them between the
 * audit records. Windowing is by the attachment's own sealing time (docs/FORMAT.md §9.1), as for
 * format-v2 messages: checked on the header before any key is unwrapped, authenticated by the
 * segments (the time is part of the attachment key's derivation, §9.2).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { AeadImpl } from '../aead/types.js';
import { DecryptionError } from '../errors.js';
import { type Deadlines, readVersion, unwrapRecord } from '../keys/key-path.js';
import type { MasterKeyProvider } from '../kms/provider.js';
import type { KeyStore } from '../store/types.js';
import { deriveAttachmentKey } from '../stream/derive.js';
import { type AttachmentHeader, parseAttachmentHeader } from '../stream/format.js';
import { AttachmentReader, type AttachmentSource, checkSource, memorySource } from '../stream/reader.js';
import { segmentsFor } from '../stream/segment-aead.js';
import { clean, toHex } from '../util/bytes.js';
import { raceAbort } from '../util/deadline.js';
import { isBytes, plainBytes } from '../util/validate.js';

/** What `BreakGlass.openAttachment` returns, once the access and its outcome are on the record. */
export interface BreakGlassAttachmentResult {
  /** Token id (jti) that was consumed. */
  token: string;
  /** Approvers counted for the token. */
  approvers: string[];
  /** Id of the intent audit entry. */
  intent: string;
  /**
   * The attachment, every segment of which authenticated before this was returned: read it with
   * `decryptRange(offset, length)`; `close()` wipes its key (the attachment key only — the
   * conversation key was wiped when it had been used).
   */
  attachment: AttachmentReader;
  /** The digest recorded in the outcome entry (`ciphertexts`): SHA-256 over SHA-256 of the whole stored attachment. */
  ciphertexts: string;
}

/**
 * A rejection of the caller's own `AttachmentSource.read` during {@link openAndVerify}: carried
 * out so that `openAttachment` passes the error on unchanged (SECURITY.md: the caller's own I/O
 * errors pass through), not as ERR_INTERNAL, which says keywarden failed (review 7).
 */
export class SourceReadFailure {
  constructor(readonly error: unknown) {}
}

/**
 * The caller's source (bytes or a ranged source), checked: ERR_INVALID_INPUT naming `source`
 * otherwise. Checked with the call's other arguments, before the token is looked at: a bad one
 * refused after the token's checks left a refusal on the record (outside review 7).
 */
export function attachmentSource(source: unknown): AttachmentSource {
  return isBytes(source) ? memorySource(plainBytes(source)) : checkSource('source', source);
}

/** The attachment's header, read before the token is consumed (no key is needed for that). */
export async function attachmentHeader(src: AttachmentSource, signal: AbortSignal | undefined): Promise<{ src: AttachmentSource; header: Uint8Array; h: AttachmentHeader }> {
  const header = await AttachmentReader.readHeader(src, signal);
  return { src, header, h: parseAttachmentHeader(header)! };
}

/** Whether the whole second the attachment's sealing time names lies inside `[from, to)` (ms), as for v2 messages. */
export function sealedInside(h: AttachmentHeader, from: number, to: number): boolean {
  return h.sealedAt * 1000 >= from && h.sealedAt * 1000 + 1000 <= to;
}

/**
 * Unwraps the attachment's key version through the shared key path, derives the attachment key,
 * wipes the conversation key, and authenticates every segment while hashing the stored bytes.
 * Returns the open reader and the digest for the outcome record; ERR_DECRYPT_FAILED (nothing
 * open) when any segment, or the version, does not check out.
 */
export async function openAndVerify(
  o: { masterKey: MasterKeyProvider; keyStore: KeyStore; timeouts: Deadlines; aead: AeadImpl },
  conversationId: string, conv: Uint8Array, aad: Uint8Array | string, at: { src: AttachmentSource; header: Uint8Array; h: AttachmentHeader }, signal: AbortSignal | undefined,
): Promise<{ reader: AttachmentReader; digest: string }> {
  const checked = await readVersion(o.keyStore, conversationId, at.h.keyVersion, o.timeouts);
  if (checked === undefined || checked.suite.id !== at.h.suite.id) throw new DecryptionError();
  const dataKey = await unwrapRecord(o.masterKey, checked.record, o.timeouts);
  let key: Uint8Array;
  try {
    key = deriveAttachmentKey(dataKey, at.header, conv, aad);
  } finally {
    clean(dataKey);
  }
  // Every range asks the key store again, as a Keywarden reader asks its key path: a shred after
  // the reader was opened stops it at its next range (docs/FORMAT.md §9.6; outside review,
  // 2026-12-01 — the break-glass reader had no such check and kept decrypting).
  // Raced against the range's signal, as a Keywarden reader's re-check is (review 7: it was not).
  const recheck = async (rangeSignal: AbortSignal | undefined): Promise<void> => {
    if ((await raceAbort(readVersion(o.keyStore, conversationId, at.h.keyVersion, o.timeouts), rangeSignal)) === undefined) throw new DecryptionError();
  };
  // The source as given, noting what its `read` rejected with (see SourceReadFailure).
  let failed: { error: unknown } | undefined;
  const src: AttachmentSource = {
    size: at.src.size,
    read: async (offset, length, options) => {
      try {
        return await at.src.read(offset, length, options);
      } catch (error) {
        failed = { error };
        throw error;
      }
    },
  };
  const reader = new AttachmentReader(src, at.header, { aead: segmentsFor(o.aead), suite: checked.suite, key, segmentSize: at.h.segmentSize }, () => false, recheck);
  try {
    const h = sha256.create();
    await reader.authenticateAll((bytes) => h.update(bytes), signal);
    // ciphertextsDigest([attachment]): SHA-256 over the SHA-256 of each item opened (here one).
    return { reader, digest: toHex(sha256(h.digest())) };
  } catch (err) {
    reader.close();
    throw failed !== undefined && err === failed.error ? new SourceReadFailure(err) : err;
  }
}
