/**
 * Everything the root entry point exports besides `Keywarden` itself, shared by its portable
 * (./index.ts) and Node (./node.ts) builds so that the two export exactly the same names — one
 * set of type declarations describes both (test/types/exports.test-d.ts checks every name).
 * @module
 */
export type { KeywardenOptions, MessageOptions, CallOptions, DecryptItem, DecryptResult, KeywardenStats, ShredOptions, ShredReport } from './keywarden.js';
export type { RotationOptions, RotationPolicy } from './keys/rotation.js';
export type { RetentionOptions, RetentionReport } from './keys/retention.js';
export type { RewrapOptions, RewrapProgress, RewrapReport } from './keys/rewrap.js';
export { MasterKeyRing } from './kms/ring.js';
export { BranchKeyProvider, branchKeyId, parseBranchKeyId } from './keys/branch-keys.js';
export type { BranchKeyOptions, BranchKeyStats } from './keys/branch-keys.js';
export { BRANCH_WRAPPED_KEY_LENGTH } from './kms/branch-wrap.js';
export type { WatchStats } from './keys/watch.js';
export * from './errors.js';
export { VERSION } from './version.js';
export type { KeyAuditOptions } from './keys/lifecycle.js';
export { SuiteId, SUITES, AES_GCM_MAX_MESSAGES, suiteById, suiteByName } from './format/suites.js';
export type { SuiteInfo, SuiteName } from './format/suites.js';
export { inspectCiphertext, FORMAT_V1, FORMAT_V2, HEADER_LENGTH, HEADER_LENGTH_V2, MAX_KEY_VERSION, MAX_SEALED_AT } from './format/wire.js';
export type { CiphertextInfo } from './format/wire.js';
export type { KeyRecord, KeyState, KeyVersionInfo, ShredScope } from './keys/records.js';
export { keyContext } from './keys/records.js';
export type { MasterKeyProvider, GeneratedDataKey, WrappedDataKey, KmsCallOptions } from './kms/provider.js';
export { encodeContext } from './kms/provider.js';
export { LocalMasterKey, LOCAL_WRAPPED_KEY_LENGTH } from './kms/local.js';
export type { LocalMasterKeyOptions } from './kms/local.js';
export type { KeyStore, InsertResult, ShredResult, KeyChange, ScanRow, KeyStoreSummary, WrappingUpdate, WrappedQuery, ScanQuery } from './store/types.js';
export { MemoryKeyStore } from './store/memory.js';
export { KeyCache, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_AGE_MS } from './cache/key-cache.js';
export type { KeyCacheOptions, KeyCacheStats } from './cache/key-cache.js';
export type { AeadImpl } from './aead/types.js';
export { nobleAead } from './aead/noble.js';
export { MAX_CONVERSATION_ID_BYTES, MAX_AAD_BYTES, MAX_PLAINTEXT_BYTES } from './util/validate.js';
// Attachments (docs/FORMAT.md §9): the Keywarden methods' types, the format's constants and header inspection.
export type { AttachmentEncryptOptions, AttachmentDecryptOptions } from './stream/attachments.js';
export type { AttachmentSource } from './stream/reader.js';
// The attachment classes are made by Keywarden, never by the caller: types only. Re-exported as
// aliases, since the declaration bundle turns `export type { SomeClass }` into a value export
// (`declare class` + `export { SomeClass }`) that the runtime build does not have: a consumer's
// `instanceof AttachmentReader` would type-check and then fail to load (outside review, round 7).
/** An open attachment: see {@link Keywarden.openAttachment}. */
export type AttachmentReader = import('./stream/reader.js').AttachmentReader;
/** The push-based attachment sealer: see {@link Keywarden.createAttachmentEncryptor}. */
export type AttachmentEncryptor = import('./stream/sealer.js').AttachmentEncryptor;
/** The push-based attachment opener: see {@link Keywarden.createAttachmentDecryptor}. */
export type AttachmentDecryptor = import('./stream/sealer.js').AttachmentDecryptor;
export type { SegmentAead } from './stream/segment-aead.js';
export {
  inspectAttachment, attachmentSize, ATTACHMENT_V1, ATTACHMENT_HEADER_LENGTH, SEGMENT_TAG_LENGTH, DEFAULT_SEGMENT_SIZE, MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE,
  MAX_ATTACHMENT_BYTES, MAX_SEGMENTS,
} from './stream/format.js';
export type { AttachmentInfo } from './stream/format.js';
