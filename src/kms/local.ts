/**
 * LocalMasterKey: a 256-bit master key held in process, for development, tests and the demo.
 * Production deployments use a KMS (`AwsKmsMasterKey` from `keywarden/aws`), so that a copy of
 * the process memory or configuration is not a copy of every conversation key.
 */
import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { KmsError } from '../errors.js';
import { clean, concatBytes, toHex } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';
import { assertBytes, assertString, copyBytes, ownOptions } from '../util/validate.js';
import { type GeneratedDataKey, type KmsCallOptions, type MasterKeyProvider, type WrappedDataKey, encodeContext } from './provider.js';

/** Wrapped-key envelope version byte. */
const ENVELOPE_V1 = 0x01;
const NONCE = 12;
const TAG = 16;
const DATA_KEY = 32;
/** Length of a wrapped data key: version | nonce | encrypted key | tag. */
export const LOCAL_WRAPPED_KEY_LENGTH = 1 + NONCE + DATA_KEY + TAG;

/** Options of {@link LocalMasterKey}. */
export interface LocalMasterKeyOptions {
  /**
   * Stable id recorded with every wrapped key. Default: `local:` followed by 16 hex digits of
   * HMAC-SHA-256(key, "keywarden local master key id"), a fingerprint that reveals nothing
   * usable about the key.
   */
  keyId?: string;
}

/**
 * A master key held in memory. Wraps each data key with AES-256-GCM under a fresh random
 * nonce; the associated data is the master key id and the canonical encryption context, so a
 * wrapped key only unwraps for the conversation and version it was made for.
 *
 * @example
 * ```ts
 * const masterKey = new LocalMasterKey(Buffer.from(process.env.DEV_MASTER_KEY!, 'base64'));
 * const kw = new Keywarden({ masterKey, keyStore: new MemoryKeyStore() });
 * ```
 */
export class LocalMasterKey implements MasterKeyProvider {
  readonly keyId: string;
  #key: Uint8Array;

  /** `key` must be 32 bytes; it is copied, so the caller may wipe its own buffer. */
  constructor(key: Uint8Array, options?: LocalMasterKeyOptions) {
    assertBytes('key', key, 32);
    const o = ownOptions('options', options, ['keyId']);
    if (o.keyId !== undefined) assertString('options.keyId', o.keyId, 256);
    this.#key = copyBytes(key); // the engine's copy, not the caller's iterator
    this.keyId = o.keyId ?? `local:${toHex(hmac(sha256, this.#key, new TextEncoder().encode('keywarden local master key id')).subarray(0, 8))}`;
  }

  /** A new random 256-bit master key (for tests and demos). */
  static generateKey(): Uint8Array {
    return randomBytes(32);
  }

  #aad(context: Readonly<Record<string, string>>): Uint8Array {
    return concatBytes(new TextEncoder().encode(this.keyId), new Uint8Array([0]), encodeContext(context));
  }

  #alive(): Uint8Array {
    if (this.#key.length === 0) throw new KmsError('ERR_KMS_KEY_UNAVAILABLE', 'local master key was destroyed');
    return this.#key;
  }

  async generateDataKey(context: Readonly<Record<string, string>>, _options?: KmsCallOptions): Promise<GeneratedDataKey> {
    const plaintextKey = randomBytes(DATA_KEY);
    return { plaintextKey, ...this.#wrap(plaintextKey, context) };
  }

  /** Wraps an existing data key (re-wrap from another master key, docs/KEYS.md §6). */
  async wrapDataKey(plaintextKey: Uint8Array, context: Readonly<Record<string, string>>, _options?: KmsCallOptions): Promise<WrappedDataKey> {
    assertBytes('plaintextKey', plaintextKey, DATA_KEY);
    return this.#wrap(plaintextKey, context);
  }

  /** `0x01 || nonce || AES-256-GCM(master key, nonce, key, id || 0x00 || context)` (docs/FORMAT.md §6). */
  #wrap(plaintextKey: Uint8Array, context: Readonly<Record<string, string>>): WrappedDataKey {
    const key = this.#alive();
    const nonce = randomBytes(NONCE);
    const sealed = gcm(key, nonce, this.#aad(context)).encrypt(plaintextKey);
    const wrappedKey = concatBytes(new Uint8Array([ENVELOPE_V1]), nonce, sealed);
    clean(sealed);
    return { wrappedKey, masterKeyId: this.keyId };
  }

  async unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string, _options?: KmsCallOptions): Promise<Uint8Array> {
    const key = this.#alive();
    if (masterKeyId !== this.keyId) {
      throw new KmsError('ERR_KMS_KEY_UNAVAILABLE', `data key was wrapped by another master key (${masterKeyId})`);
    }
    if (!(wrappedKey instanceof Uint8Array) || wrappedKey.length !== LOCAL_WRAPPED_KEY_LENGTH || wrappedKey[0] !== ENVELOPE_V1) {
      throw new KmsError('ERR_KMS_INVALID_CIPHERTEXT', 'wrapped data key is malformed');
    }
    try {
      return gcm(key, wrappedKey.subarray(1, 1 + NONCE), this.#aad(context)).decrypt(wrappedKey.subarray(1 + NONCE));
    } catch (cause) {
      throw new KmsError('ERR_KMS_INVALID_CIPHERTEXT', 'wrapped data key or its encryption context was refused', cause);
    }
  }

  /** Wipes the master key; every later call fails with `ERR_KMS_KEY_UNAVAILABLE`. */
  destroy(): void {
    clean(this.#key);
    this.#key = new Uint8Array(0);
  }
}
