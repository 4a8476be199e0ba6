import type { SuiteId } from '../format/suites.js';
import type { SegmentAead } from '../stream/segment-aead.js';

/**
 * One implementation of the v1 suites' AEADs. keywarden ships two that agree byte for byte:
 * `nobleAead` (portable, any JavaScript runtime) and `nodeAead` (native node:crypto).
 */
export interface AeadImpl {
  /** `"noble"` or `"node"`. */
  readonly name: string;
  /**
   * Encrypts `plaintext` and returns `prefix || ciphertext || tag` in one new buffer, so the
   * caller's header and nonce need no extra copy. `key` is 32 bytes; `nonce` has the suite's
   * nonce length.
   */
  seal(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, prefix?: Uint8Array): Uint8Array;
  /**
   * Verifies and decrypts `data.subarray(start)`, which is ciphertext then tag. Returns the
   * plaintext, or `null` when authentication fails; never releases plaintext that did not
   * verify. (`start` lets the caller pass a whole wire message without making a view of it.)
   */
  open(suite: SuiteId, key: Uint8Array, nonce: Uint8Array, data: Uint8Array, aad: Uint8Array, start?: number): Uint8Array | null;
  /**
   * The same ciphers for attachment segments (docs/FORMAT.md §9.3). Optional: without it,
   * attachments use the portable implementation.
   */
  readonly segments?: SegmentAead;
}
