import { InvalidInputError } from '../errors.js';
import { concatBytes } from '../util/bytes.js';

/**
 * The master key provider interface: a key-encryption key, usually in a KMS, that generates
 * and unwraps conversation data keys. keywarden never sees the master key itself.
 */

/** A freshly generated data key, in plaintext (owned by the caller, who wipes it) and wrapped. */
export interface GeneratedDataKey {
  /** 32 plaintext key bytes. The receiver owns this buffer and wipes it when done. */
  plaintextKey: Uint8Array;
  /** The same key wrapped by the master key: safe to store. */
  wrappedKey: Uint8Array;
  /** Id of the master key that wrapped it (e.g. the full KMS key ARN). */
  masterKeyId: string;
}

/**
 * A master key. Implementations bind `context` to the wrapping (a KMS EncryptionContext, or
 * AEAD associated data) so that `unwrapDataKey` fails under any other context.
 *
 * @example
 * ```ts
 * const mk: MasterKeyProvider = new LocalMasterKey(LocalMasterKey.generateKey());
 * const { plaintextKey, wrappedKey, masterKeyId } = await mk.generateDataKey({ purpose: 'demo' });
 * const again = await mk.unwrapDataKey(wrappedKey, { purpose: 'demo' }, masterKeyId);
 * ```
 */
export interface MasterKeyProvider {
  /** Stable id of this master key: recorded with every wrapped key (the cache is partitioned by provider instance). */
  readonly keyId: string;
  /**
   * Generates a 256-bit data key and returns it in plaintext and wrapped under `context`.
   * `options.signal` fires when keywarden's deadline passes: stop the call (e.g. pass it to the
   * AWS SDK as `abortSignal`).
   */
  generateDataKey(context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<GeneratedDataKey>;
  /**
   * Unwraps a data key wrapped by this master key under `context`. `masterKeyId` is the id
   * recorded at wrapping. Rejects with a {@link KmsError} when the key, context or wrapped bytes
   * do not match. The caller owns (and wipes) the returned buffer.
   */
  unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string, options?: KmsCallOptions): Promise<Uint8Array>;
  /**
   * Optional (master-key re-wrap, docs/KEYS.md §6): wraps an existing data key under this master
   * key and `context` (KMS `Encrypt`). Does not keep or wipe `plaintextKey` (the caller does).
   */
  wrapDataKey?(plaintextKey: Uint8Array, context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<WrappedDataKey>;
  /**
   * Optional (re-wrap): moves a data key wrapped by `sourceMasterKeyId` under this master key
   * without the plaintext leaving the KMS (AWS KMS `ReEncrypt`, the same context on both sides).
   * Only called when {@link MasterKeyProvider.canReEncryptFrom} says the source is reachable.
   */
  reEncryptDataKey?(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, sourceMasterKeyId: string, options?: KmsCallOptions): Promise<WrappedDataKey>;
  /** Optional: whether {@link MasterKeyProvider.reEncryptDataKey} can take keys wrapped by `sourceMasterKeyId`. */
  canReEncryptFrom?(sourceMasterKeyId: string): boolean;
  /**
   * Optional: whether this provider can unwrap keys recorded with `masterKeyId` (a
   * {@link MasterKeyRing} routes by it). Default: `masterKeyId === keyId`.
   */
  handlesKeyId?(masterKeyId: string): boolean;
  /**
   * Optional: the id wrapped keys record for this master key (e.g. the key ARN behind an alias,
   * from KMS `DescribeKey`). Default: `keyId`.
   */
  resolveKeyId?(options?: KmsCallOptions): Promise<string>;
  /**
   * Optional: registers `listener`, called when data keys this provider unwrapped before may no
   * longer be valid (a branch key was shredded); Keywarden then drops its cached keys. Returns a
   * function that unregisters it.
   */
  onKeysInvalidated?(listener: () => void): () => void;
  /**
   * Optional: how long ago (ms) the key that wraps data keys recorded with `masterKeyId` was read
   * from its store (a branch key's cache entry), or undefined. Keywarden's key cache counts the
   * age of a data key it unwraps or creates from then.
   */
  wrappingKeyAgeMs?(masterKeyId: string): number | undefined;
}

/** A data key wrapped by a master key (what {@link MasterKeyProvider.wrapDataKey} returns). */
export interface WrappedDataKey {
  /** The wrapped bytes: safe to store. */
  wrappedKey: Uint8Array;
  /** Id of the master key that wrapped it. */
  masterKeyId: string;
}

/** Per-call options keywarden passes to a {@link MasterKeyProvider}. */
export interface KmsCallOptions {
  /** Aborted when keywarden's deadline for the call (`timeouts.kmsMs`) passes. */
  signal?: AbortSignal;
}

/**
 * Canonical bytes of an encryption context: entries sorted by key (UTF-16 code unit order,
 * which for the ASCII keys keywarden uses equals byte order), each key and value length-
 * prefixed (u16, big-endian). Distinct contexts always encode differently.
 */
export function encodeContext(context: Readonly<Record<string, string>>): Uint8Array {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) throw new InvalidInputError('context', 'expected an object of strings');
  for (const k of Object.keys(context)) if (typeof context[k] !== 'string') throw new InvalidInputError(`context.${k}`, 'expected a string');
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const keys = Object.keys(context).sort();
  const count = new Uint8Array(2);
  count[0] = keys.length >>> 8;
  count[1] = keys.length & 0xff;
  parts.push(count);
  for (const k of keys) {
    for (const s of [k, context[k]!]) {
      // A lone surrogate would encode as U+FFFD and collide with it: refuse it.
      if (typeof s !== 'string' || !s.isWellFormed()) throw new InvalidInputError('context', 'expected well-formed string keys and values');
      const b = enc.encode(s);
      if (b.length > 0xffff) throw new InvalidInputError('context', 'expected entries of at most 65535 UTF-8 bytes');
      parts.push(new Uint8Array([b.length >>> 8, b.length & 0xff]), b);
    }
  }
  return concatBytes(...parts);
}
