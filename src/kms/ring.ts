/**
 * MasterKeyRing: several master keys acting as one, for the time a master key is being replaced
 * (docs/KEYS.md §6). New data keys are generated (and re-wrapped) under the primary; a stored key
 * is unwrapped by whichever member wrapped it, found by the master key id its record carries. So
 * old and new master keys both work while `Keywarden.rewrap` moves every stored key to the
 * primary, and afterwards the old members can be dropped.
 */
import { InvalidInputError, KmsError } from '../errors.js';
import type { GeneratedDataKey, KmsCallOptions, MasterKeyProvider, WrappedDataKey } from './provider.js';

function isProvider(p: unknown): p is MasterKeyProvider {
  const o = p as MasterKeyProvider | null;
  return o !== null && typeof o === 'object' && typeof o.keyId === 'string' && typeof o.generateDataKey === 'function' && typeof o.unwrapDataKey === 'function';
}

/**
 * A primary master key plus older ones that still unwrap.
 *
 * @example
 * ```ts
 * const masterKey = new MasterKeyRing(newKey, [oldKey]);
 * const kw = new Keywarden({ masterKey, keyStore });   // reads old and new keys, writes new ones
 * await kw.rewrap();                                   // moves every stored key to newKey
 * ```
 */
export class MasterKeyRing implements MasterKeyProvider {
  /** The primary's id (the cache is partitioned by provider instance, not by this id). */
  readonly keyId: string;
  readonly primary: MasterKeyProvider;
  readonly members: readonly MasterKeyProvider[];

  /** @throws InvalidInputError naming `primary` or `previous[i]` when one is not a MasterKeyProvider. */
  constructor(primary: MasterKeyProvider, previous: readonly MasterKeyProvider[] = []) {
    if (!isProvider(primary)) throw new InvalidInputError('primary', 'expected a MasterKeyProvider');
    if (!Array.isArray(previous)) throw new InvalidInputError('previous', 'expected an array of MasterKeyProviders');
    previous.forEach((p, i) => {
      if (!isProvider(p)) throw new InvalidInputError(`previous[${i}]`, 'expected a MasterKeyProvider');
    });
    this.primary = primary;
    this.members = Object.freeze([primary, ...previous]);
    this.keyId = primary.keyId;
  }

  /** The member that unwraps keys recorded with `masterKeyId`: an exact id first, then one that claims it. */
  memberFor(masterKeyId: string): MasterKeyProvider | undefined {
    return this.members.find((m) => m.keyId === masterKeyId) ?? this.members.find((m) => m.handlesKeyId?.(masterKeyId) === true);
  }

  generateDataKey(context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<GeneratedDataKey> {
    return this.primary.generateDataKey(context, options);
  }

  async unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string, options?: KmsCallOptions): Promise<Uint8Array> {
    const found = this.memberFor(masterKeyId);
    if (found !== undefined) return found.unwrapDataKey(wrappedKey, context, masterKeyId, options);
    const undescribed = await this.#resolveMembers(options);
    const m = this.memberFor(masterKeyId);
    if (m !== undefined) return m.unwrapDataKey(wrappedKey, context, masterKeyId, options);
    // Members that may not learn their ARN (no kms:DescribeKey: the documented key policy grants
    // GenerateDataKey and Decrypt only) may still own the key: each is asked in turn and refuses a
    // key that is not its own (AwsKmsMasterKey pins its Decrypt to the configured alias and checks
    // the ARN KMS answers with). Outside review, 2026-12-02: a cold ring of alias-configured members
    // refused every key.
    for (const u of undescribed) {
      try {
        return await u.unwrapDataKey(wrappedKey, context, masterKeyId, options);
      } catch (err) {
        if (!(err instanceof KmsError) || err.code !== 'ERR_KMS_KEY_UNAVAILABLE') throw err;
      }
    }
    throw new KmsError('ERR_KMS_KEY_UNAVAILABLE', `no master key in the ring unwraps keys of ${masterKeyId}`);
  }

  /**
   * Lets members configured by alias learn the key ARN behind it (KMS DescribeKey, once each):
   * a member claims only the ARNs it knows are its own (AwsKmsMasterKey, strict mode). A member
   * that cannot tell claims nothing more. Returns the members refused DescribeKey
   * (ERR_KMS_ACCESS_DENIED), in ring order.
   */
  async #resolveMembers(options: KmsCallOptions | undefined): Promise<MasterKeyProvider[]> {
    const denied = await Promise.all(this.members.map(async (m) => {
      if (m.resolveKeyId === undefined) return false;
      try {
        await m.resolveKeyId(options);
        return false;
      } catch (err) {
        return err instanceof KmsError && err.code === 'ERR_KMS_ACCESS_DENIED';
      }
    }));
    return this.members.filter((_, i) => denied[i]);
  }

  handlesKeyId(masterKeyId: string): boolean {
    return this.memberFor(masterKeyId) !== undefined;
  }

  /**
   * Registers `listener` with every member that can invalidate keys (a BranchKeyProvider: a
   * branch shred), so Keywarden drops its cached keys through a ring as without one (review 6:
   * the ring swallowed branch shreds). Returns one function that unregisters it everywhere.
   */
  onKeysInvalidated(listener: () => void): () => void {
    const offs = this.members.map((m) => m.onKeysInvalidated?.(listener));
    return () => {
      for (const off of offs) off?.();
    };
  }

  wrappingKeyAgeMs(masterKeyId: string): number | undefined {
    return this.memberFor(masterKeyId)?.wrappingKeyAgeMs?.(masterKeyId);
  }

  wrapDataKey(plaintextKey: Uint8Array, context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<WrappedDataKey> {
    if (this.primary.wrapDataKey === undefined) return Promise.reject(new KmsError('ERR_KMS_FAILED', 'the primary master key cannot wrap existing data keys (no wrapDataKey)'));
    return this.primary.wrapDataKey(plaintextKey, context, options);
  }

  canReEncryptFrom(sourceMasterKeyId: string): boolean {
    return this.primary.reEncryptDataKey !== undefined && this.primary.canReEncryptFrom?.(sourceMasterKeyId) === true;
  }

  reEncryptDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, sourceMasterKeyId: string, options?: KmsCallOptions): Promise<WrappedDataKey> {
    if (this.primary.reEncryptDataKey === undefined) return Promise.reject(new KmsError('ERR_KMS_FAILED', 'the primary master key cannot re-encrypt'));
    return this.primary.reEncryptDataKey(wrappedKey, context, sourceMasterKeyId, options);
  }

  /** The primary's key id; the other members learn theirs too (best effort), so routing by ARN works. */
  async resolveKeyId(options?: KmsCallOptions): Promise<string> {
    const id = await (this.primary.resolveKeyId?.(options) ?? Promise.resolve(this.primary.keyId));
    await this.#resolveMembers(options);
    return id;
  }
}
