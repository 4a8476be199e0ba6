/**
 * AwsKmsMasterKey: conversation keys wrapped by an AWS KMS key through the caller's
 * `@aws-sdk/client-kms` client. Import it from `keywarden/aws` so the core never loads AWS code.
 *
 * KMS API mapping (AWS KMS API reference):
 * - generateDataKey → GenerateDataKey (KeySpec AES_256) with the key's EncryptionContext;
 * - unwrapDataKey   → Decrypt with the same EncryptionContext and KeyId pinned to the key ARN
 *   recorded at wrapping, so KMS refuses a wrapped key moved to another conversation or version
 *   (InvalidCiphertextException) and CloudTrail logs which conversation was unwrapped. Only this
 *   key's ARN and `previousKeyIds` are accepted (strict mode, as the AWS Encryption SDK's): the
 *   recorded ARN comes from the key store, and a store writer who named a KMS key of their own
 *   would otherwise hand the service a data key they chose (SECURITY.md, threat model);
 * - reEncryptDataKey → ReEncrypt (master-key re-wrap): the data key never leaves KMS; the
 *   SourceEncryptionContext is checked against the old wrapping and the same context is bound
 *   to the new one, SourceKeyId pinned to the recorded ARN;
 * - wrapDataKey     → Encrypt (re-wrap from a master key outside this KMS region);
 * - resolveKeyId    → DescribeKey (the ARN behind an alias, which wrapped keys record).
 */
import { DecryptCommand, DescribeKeyCommand, EncryptCommand, GenerateDataKeyCommand, type KMSClient, ReEncryptCommand } from '@aws-sdk/client-kms';
import { KmsError, type KmsErrorCode } from '../errors.js';
import { clean } from '../util/bytes.js';
import { assertString, ownOptions } from '../util/validate.js';
import { InvalidInputError } from '../errors.js';
import type { GeneratedDataKey, KmsCallOptions, MasterKeyProvider, WrappedDataKey } from './provider.js';

/** Options of {@link AwsKmsMasterKey}. */
export interface AwsKmsMasterKeyOptions {
  /** A configured KMSClient (region, credentials, retries and timeouts are yours to set). */
  client: KMSClient;
  /** Key id, key ARN, alias name (`alias/…`) or alias ARN of a symmetric encryption KMS key. */
  keyId: string;
  /** Grant tokens passed on every call, for keys used through grants. */
  grantTokens?: string[];
  /**
   * Key ARNs of earlier master keys whose wrapped keys this key may still unwrap (and re-wrap
   * from), e.g. the key an alias pointed to before: until `rewrap` has moved every key. Keys
   * recorded under any other ARN are refused with ERR_KMS_KEY_UNAVAILABLE, never sent to Decrypt
   * under the key they name (configured by alias without kms:DescribeKey, a cold instance asks KMS to
   * Decrypt under the alias itself, which refuses any other key's blob).
   */
  previousKeyIds?: string[];
}

// Error names as the SDK reports them (unmodelled errors arrive as KMSServiceException with `name` set).
const ACCESS_DENIED = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'InvalidGrantTokenException']);
const KEY_UNAVAILABLE = new Set(['NotFoundException', 'DisabledException', 'KMSInvalidStateException', 'InvalidKeyUsageException']);
const INVALID_CIPHERTEXT = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);
const UNAVAILABLE = new Set([
  'ThrottlingException', 'LimitExceededException', 'KMSInternalException', 'DependencyTimeoutException', 'InternalFailure',
  'ServiceUnavailable', 'ServiceUnavailableException', 'RequestTimeout', 'RequestTimeoutException', 'TimeoutError',
  'NetworkingError', 'AbortError',
  // A server fault AWS says to retry ("the key is temporarily unavailable"): not a dead key
  // (outside review, 2026-12-02).
  'KeyUnavailableException',
]);
/** A KMS key ARN: partition (1), region (2), account, key id. */
const KEY_ARN = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):key\/[A-Za-z0-9-]+$/;
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * Maps an error from `@aws-sdk/client-kms` to a {@link KmsError}; the original is `cause`.
 * Throttling, server faults, timeouts and network failures are `ERR_KMS_UNAVAILABLE` (retryable).
 * `keyId`, the key the call used (and `param`, the option it came from), is named in the message
 * when it has the shape of a key id, ARN or alias.
 */
export function mapKmsError(err: unknown, op: string, keyId?: string, param?: string): KmsError {
  const e = err as { name?: string; code?: string; $fault?: string; $response?: { statusCode?: unknown }; $responseBodyText?: unknown };
  const name = typeof e?.name === 'string' ? e.name : '';
  // A response the SDK could not read (a 2xx it failed to deserialize): its error quotes the body
  // (the parser's message, `$responseBodyText`, `$response`), which for Decrypt and GenerateDataKey
  // holds the plaintext key — not kept as the cause (review 6).
  const status = e?.$response?.statusCode;
  if (name === 'SyntaxError' || e?.$responseBodyText !== undefined || (typeof status === 'number' && status >= 200 && status < 300)) {
    return new KmsError('ERR_KMS_FAILED', `KMS ${op} returned an unexpected response`);
  }
  let code: KmsErrorCode = 'ERR_KMS_FAILED';
  if (ACCESS_DENIED.has(name)) code = 'ERR_KMS_ACCESS_DENIED';
  else if (KEY_UNAVAILABLE.has(name)) code = 'ERR_KMS_KEY_UNAVAILABLE';
  else if (INVALID_CIPHERTEXT.has(name)) code = 'ERR_KMS_INVALID_CIPHERTEXT';
  else if (UNAVAILABLE.has(name) || e?.$fault === 'server' || (typeof e?.code === 'string' && NETWORK_CODES.has(e.code))) code = 'ERR_KMS_UNAVAILABLE';
  // Which key (review 7: a mistyped alias said only "NotFoundException"). Key ids, ARNs and
  // aliases are not secret — KMS and CloudTrail print them — but only what looks like one is echoed.
  const which = keyId !== undefined && KEY_ID_SHAPE.test(keyId) ? ` for key ${keyId}${param ? ` (${param})` : ''}` : '';
  return new KmsError(code, `KMS ${op} failed${name ? ` (${name})` : ''}${which}`, err);
}

/** What a KMS key id, key ARN, alias name or alias ARN can look like (the characters KMS allows in them). */
const KEY_ID_SHAPE = /^[A-Za-z0-9:/_.-]{1,512}$/;

/** The refusal of a key recorded under a KMS key this one was not configured for. */
function notOurs(masterKeyId: string, cause?: unknown): KmsError {
  return new KmsError('ERR_KMS_KEY_UNAVAILABLE', `keys recorded under ${KEY_ARN.test(masterKeyId) ? masterKeyId : 'that master key id'} are not this master key's: list an earlier key's ARN in previousKeyIds`, cause);
}

/**
 * A master key in AWS KMS.
 *
 * @example
 * ```ts
 * import { KMSClient } from '@aws-sdk/client-kms';
 * import { Keywarden } from 'keywarden';
 * import { AwsKmsMasterKey } from 'keywarden/aws';
 *
 * const masterKey = new AwsKmsMasterKey({ client: new KMSClient({ region: 'eu-west-1' }), keyId: 'alias/keywarden-dm' });
 * const kw = new Keywarden({ masterKey, keyStore });
 * ```
 */
export class AwsKmsMasterKey implements MasterKeyProvider {
  /** The key as configured (partitions the cache). Wrapped keys record the full key ARN KMS returns. */
  readonly keyId: string;
  readonly #client: KMSClient;
  readonly #grantTokens: string[] | undefined;
  /** The key ARN, once known (from keyId if it is one, else from DescribeKey). */
  #arn: string | undefined;
  /** ARNs of earlier master keys this one may unwrap from (options.previousKeyIds). */
  readonly #previous: ReadonlySet<string>;

  constructor(options: AwsKmsMasterKeyOptions) {
    if (options === undefined) throw new InvalidInputError('options', 'expected { client, keyId }');
    const o = ownOptions('options', options, ['client', 'keyId', 'grantTokens', 'previousKeyIds']);
    if (!o.client || typeof (o.client as { send?: unknown }).send !== 'function') {
      throw new InvalidInputError('options.client', 'expected a KMSClient from @aws-sdk/client-kms');
    }
    assertString('options.keyId', o.keyId, 2048);
    if (o.grantTokens !== undefined && (!Array.isArray(o.grantTokens) || o.grantTokens.some((t) => typeof t !== 'string'))) {
      throw new InvalidInputError('options.grantTokens', 'expected an array of strings');
    }
    this.#client = o.client;
    this.keyId = o.keyId;
    this.#grantTokens = o.grantTokens === undefined ? undefined : [...o.grantTokens];
    if (KEY_ARN.test(o.keyId)) this.#arn = o.keyId;
    if (o.previousKeyIds !== undefined && !Array.isArray(o.previousKeyIds)) throw new InvalidInputError('options.previousKeyIds', 'expected an array of KMS key ARNs');
    const previous = [...(o.previousKeyIds ?? [])];
    previous.forEach((id, i) => {
      if (typeof id !== 'string' || !KEY_ARN.test(id)) throw new InvalidInputError(`options.previousKeyIds[${i}]`, 'expected a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): wrapped keys record ARNs, not aliases');
    });
    this.#previous = new Set(previous);
  }

  /** Whether keys recorded under `masterKeyId` are this key's or a listed previous key's. */
  #accepts(masterKeyId: string): boolean {
    return masterKeyId === this.#arn || this.#previous.has(masterKeyId);
  }

  /**
   * {@link AwsKmsMasterKey.#accepts}, after learning this key's ARN when configured by alias.
   * Returns the KeyId the Decrypt must name: the recorded ARN once it is known to be accepted; or,
   * when this key is configured by alias (or key id) and may not `DescribeKey` — the documented
   * key policy grants `GenerateDataKey` and `Decrypt` only — the configured id itself, so that KMS
   * resolves it and refuses a blob under any other key (IncorrectKeyException), and the ARN it
   * answers with is checked against the record (outside review, 2026-12-02: a cold instance
   * configured by alias could unwrap nothing until it had generated a key).
   */
  async #check(masterKeyId: string, options: KmsCallOptions | undefined): Promise<string> {
    if (this.#accepts(masterKeyId)) return masterKeyId;
    if (this.#arn === undefined && KEY_ARN.test(masterKeyId)) {
      try {
        await this.resolveKeyId(options);
      } catch (err) {
        if (!(err instanceof KmsError) || err.code !== 'ERR_KMS_ACCESS_DENIED') throw err;
        return this.keyId;
      }
    }
    if (!this.#accepts(masterKeyId)) throw notOurs(masterKeyId);
    return masterKeyId;
  }

  #opts(options: KmsCallOptions | undefined): { abortSignal?: AbortSignal } {
    return options?.signal === undefined ? {} : { abortSignal: options.signal };
  }

  /** The key ARN (DescribeKey when configured by alias or key id; then cached). */
  async resolveKeyId(options?: KmsCallOptions): Promise<string> {
    if (this.#arn !== undefined) return this.#arn;
    let out;
    try {
      out = await this.#client.send(new DescribeKeyCommand({ KeyId: this.keyId, GrantTokens: this.#grantTokens }), this.#opts(options));
    } catch (err) {
      throw mapKmsError(err, 'DescribeKey', this.keyId, 'options.keyId');
    }
    const arn = out.KeyMetadata?.Arn;
    if (typeof arn !== 'string' || !KEY_ARN.test(arn)) throw new KmsError('ERR_KMS_FAILED', 'KMS DescribeKey returned an unexpected response');
    return (this.#arn = arn);
  }

  /**
   * Keys recorded under this key's ARN or one of `previousKeyIds`. Configured by alias, the key
   * claims its own ARN only once it knows it ({@link AwsKmsMasterKey.resolveKeyId}; a
   * {@link MasterKeyRing} resolves its members before routing).
   */
  handlesKeyId(masterKeyId: string): boolean {
    return this.#accepts(masterKeyId);
  }

  /** ReEncrypt works within one region and partition: the source ARN must share them with this key. */
  canReEncryptFrom(sourceMasterKeyId: string): boolean {
    const src = KEY_ARN.exec(sourceMasterKeyId);
    const dst = this.#arn === undefined ? null : KEY_ARN.exec(this.#arn);
    return src !== null && dst !== null && src[1] === dst[1] && src[2] === dst[2];
  }

  /**
   * ReEncrypt from `sourceMasterKeyId` into this key. The caller vouches for the source: `rewrap`
   * re-encrypts only keys recorded under a master key its own provider accepts (its
   * `handlesKeyId`), and unwraps the rest through that provider, which refuses foreign keys.
   */
  async reEncryptDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, sourceMasterKeyId: string, options?: KmsCallOptions): Promise<WrappedDataKey> {
    let out;
    try {
      out = await this.#client.send(
        new ReEncryptCommand({
          CiphertextBlob: wrappedKey, SourceKeyId: sourceMasterKeyId, SourceEncryptionContext: { ...context },
          DestinationKeyId: this.#arn ?? this.keyId, DestinationEncryptionContext: { ...context }, GrantTokens: this.#grantTokens,
        }),
        this.#opts(options),
      );
    } catch (err) {
      throw mapKmsError(err, 'ReEncrypt', this.#arn ?? this.keyId, 'options.keyId');
    }
    // KMS says which keys it used: anything but the recorded source and this key is refused.
    if (!(out.CiphertextBlob instanceof Uint8Array) || !out.KeyId || out.SourceKeyId !== sourceMasterKeyId || (this.#arn !== undefined && out.KeyId !== this.#arn)) {
      throw new KmsError('ERR_KMS_FAILED', 'KMS ReEncrypt returned an unexpected response');
    }
    return { wrappedKey: out.CiphertextBlob, masterKeyId: out.KeyId };
  }

  async wrapDataKey(plaintextKey: Uint8Array, context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<WrappedDataKey> {
    let out;
    try {
      out = await this.#client.send(
        new EncryptCommand({ KeyId: this.#arn ?? this.keyId, Plaintext: plaintextKey, EncryptionContext: { ...context }, GrantTokens: this.#grantTokens }),
        this.#opts(options),
      );
    } catch (err) {
      throw mapKmsError(err, 'Encrypt', this.#arn ?? this.keyId, 'options.keyId');
    }
    if (!(out.CiphertextBlob instanceof Uint8Array) || !out.KeyId) throw new KmsError('ERR_KMS_FAILED', 'KMS Encrypt returned an unexpected response');
    return { wrappedKey: out.CiphertextBlob, masterKeyId: out.KeyId };
  }

  async generateDataKey(context: Readonly<Record<string, string>>, options?: KmsCallOptions): Promise<GeneratedDataKey> {
    let out;
    try {
      out = await this.#client.send(
        new GenerateDataKeyCommand({ KeyId: this.#arn ?? this.keyId, KeySpec: 'AES_256', EncryptionContext: { ...context }, GrantTokens: this.#grantTokens }),
        options?.signal === undefined ? {} : { abortSignal: options.signal },
      );
    } catch (err) {
      throw mapKmsError(err, 'GenerateDataKey', this.#arn ?? this.keyId, 'options.keyId');
    }
    const { Plaintext, CiphertextBlob, KeyId } = out;
    // The key KMS used must be this one: keys it records are the keys it will unwrap.
    if (!(Plaintext instanceof Uint8Array) || Plaintext.length !== 32 || !(CiphertextBlob instanceof Uint8Array) || typeof KeyId !== 'string' || !KEY_ARN.test(KeyId) || (this.#arn !== undefined && KeyId !== this.#arn)) {
      if (Plaintext instanceof Uint8Array) clean(Plaintext);
      throw new KmsError('ERR_KMS_FAILED', 'KMS GenerateDataKey returned an unexpected response');
    }
    this.#arn ??= KeyId; // configured by alias: the ARN behind it, as KMS just named it
    return { plaintextKey: Plaintext, wrappedKey: CiphertextBlob, masterKeyId: KeyId };
  }

  async unwrapDataKey(wrappedKey: Uint8Array, context: Readonly<Record<string, string>>, masterKeyId: string, options?: KmsCallOptions): Promise<Uint8Array> {
    const pinned = await this.#check(masterKeyId, options);
    /** Pinned to the configured alias rather than the recorded ARN (see #check). */
    const byAlias = pinned !== masterKeyId;
    let out;
    try {
      out = await this.#client.send(
        new DecryptCommand({ CiphertextBlob: wrappedKey, EncryptionContext: { ...context }, KeyId: pinned, GrantTokens: this.#grantTokens }),
        options?.signal === undefined ? {} : { abortSignal: options.signal },
      );
    } catch (err) {
      // The blob is not under the key the alias names: not this master key's.
      if (byAlias && (err as { name?: unknown } | null)?.name === 'IncorrectKeyException') throw notOurs(masterKeyId, err);
      throw mapKmsError(err, 'Decrypt', pinned);
    }
    const { Plaintext, KeyId } = out;
    if (byAlias && Plaintext instanceof Uint8Array && typeof KeyId === 'string' && KEY_ARN.test(KeyId) && KeyId !== masterKeyId) {
      // This key's blob, recorded under another ARN: the record is not this master key's.
      clean(Plaintext);
      throw notOurs(masterKeyId);
    }
    // KMS names the key it decrypted with: it must be the one asked for (strict mode).
    if (!(Plaintext instanceof Uint8Array) || Plaintext.length !== 32 || KeyId !== masterKeyId) {
      if (Plaintext instanceof Uint8Array) clean(Plaintext);
      throw new KmsError('ERR_KMS_FAILED', 'KMS Decrypt returned an unexpected response');
    }
    if (byAlias) this.#arn ??= KeyId; // the ARN behind the alias, as KMS just named it (as GenerateDataKey does)
    return Plaintext;
  }
}
