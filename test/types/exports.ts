/**
 * Type-level test of the public API, checked by `npm run typecheck` (tsconfig.test.json): every
 * documented name is imported from its subpath, through the package's own name (tsconfig
 * `paths` maps `keywarden/*` to the entry files), so a missing or moved export fails CI. Names
 * that must NOT be public are checked too. The packed tarball is checked the same way under
 * each resolver by test/ci/consumers.test.ts.
 */
import * as root from 'keywarden';
import * as portable from 'keywarden/portable';
import {
  AES_GCM_MAX_MESSAGES, AuditCorruptError, AuditEntryError, AuditUnavailableError, BreakGlassError, ClosedError, DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_ENTRIES, DecryptionError, InternalError, FORMAT_V1, HEADER_LENGTH, InvalidInputError, KeyCache, KeyLimitError, KeyNotFoundError, Keywarden,
  KeywardenError, KmsError, LOCAL_WRAPPED_KEY_LENGTH, LocalMasterKey, MAX_AAD_BYTES, MAX_CONVERSATION_ID_BYTES, MAX_KEY_VERSION,
  MAX_PLAINTEXT_BYTES, MemoryKeyStore, SUITES, StoreError, SuiteId, UnsupportedFormatError, VERSION, encodeContext, inspectCiphertext,
  isKeywardenError, keyContext, nobleAead, suiteById, suiteByName,
  type AeadImpl, type AnyKeywardenError, type BreakGlassErrorCode, type CiphertextInfo, type DecryptItem, type DecryptResult, type ErrorCode,
  type ErrorOf, type GeneratedDataKey, type InsertResult, type KeyAuditOptions, type KeyCacheOptions, type KeyCacheStats, type KeyRecord,
  type KeyState, type KeyStore, type KeyVersionInfo, type KeywardenOptions, type KeywardenStats, type KmsErrorCode, type LocalMasterKeyOptions,
  type MasterKeyProvider, type MessageOptions, type SuiteInfo, type SuiteName,
} from 'keywarden';
import {
  AuditIdHasher, AuditLog, ENTRY_V1, FileAuditStore, MAX_ENTRY_BYTES, MemoryAuditStore, ciphertextsDigest, decodeEntry, encodeEntry,
  validateEvent, verifyAuditLog,
  type AuditEvent, type AuditEventType, type AuditLogOptions, type AuditProblem, type AuditReceipt, type AuditScope, type AuditStore,
  type AuditVerifyInput, type AuditVerifyReport, type FileAuditStoreOptions,
} from 'keywarden/audit';
import {
  HASH_SIZE, MerkleTree, cosignCheckpoint, emptyRoot, formatCheckpoint, formatConsistencyRequest, formatTlogProof, generateCosignerKey,
  generateNoteKey, leafHash, newCosignatureVerifier, newCosigner, newNoteSigner, newNoteVerifier, nodeHash, openCheckpoint, openNote,
  parseCheckpoint, parseNote, parseTlogProof, signCheckpoint, signNote, verifierKeyFromSigner, verifyConsistency, verifyCosignatures,
  verifyInclusion, verifyTlogProof,
  type Checkpoint, type NoteSignature, type NoteSigner, type NoteVerifier, type OpenedNote, type ParsedNote, type TlogProof,
  type VerifiedCosignature,
} from 'keywarden/tlog';
import * as breakglass from 'keywarden/breakglass';
import {
  APPROVAL_TYP, BreakGlass, MemoryTokenLedger, REASON_CODES, approveRequest, canonicalRequest, createRequest, decodeToken, encodeToken,
  generateApproverKey, inspectToken, requestDigest, validatePolicy, verifyToken,
  type ApproverKey, type BreakGlassOptions, type BreakGlassPolicy, type BreakGlassRequest, type BreakGlassResult, type BreakGlassScope,
  type BreakGlassToken, type BreakGlassAttachmentResult, type Jwk, type PolicyFactor, type ReasonCode, type RequestFields, type TokenInspection, type TokenLedger, type VerifiedToken,
} from 'keywarden/breakglass';
import * as breakglassPortable from '../../src/breakglass/index.js';
import { DEFAULT_SCHEMA, LATEST_MIGRATION, PostgresAuditStore, PostgresKeyStore, PostgresTokenLedger, migrate } from 'keywarden/postgres';
import { AwsKmsMasterKey, mapKmsError, type AwsKmsMasterKeyOptions } from 'keywarden/aws';
import { DynamoDbKeyStore, type DynamoDbKeyStoreOptions } from 'keywarden/dynamodb';
// Attachments (issue #16): the format on the root, Node streams and files on their own subpath.
import {
  ATTACHMENT_HEADER_LENGTH, ATTACHMENT_V1, DEFAULT_SEGMENT_SIZE, MAX_ATTACHMENT_BYTES, MAX_SEGMENTS, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
  SEGMENT_TAG_LENGTH, attachmentSize, inspectAttachment,
  type AttachmentDecryptOptions, type AttachmentDecryptor, type AttachmentEncryptOptions, type AttachmentEncryptor, type AttachmentInfo,
  type AttachmentReader, type AttachmentSource, type SegmentAead,
} from 'keywarden';
import { createDecryptStream, createEncryptStream, decryptFile, encryptFile, fileSource, type FileResult, type FileSource } from 'keywarden/attachments';

// @ts-expect-error Node streams and files are not on the portable root
void root.createEncryptStream;
// @ts-expect-error the attachment machinery's key adapter is internal
void root.Attachments;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const yes = <T extends true>(): T => true as T;

// The Node and portable builds of a subpath share one set of declarations: same names.
yes<Same<keyof typeof root, keyof typeof portable>>();
yes<Same<keyof typeof breakglass, keyof typeof breakglassPortable>>();

// Internals stay internal.
// @ts-expect-error the cache's partition type is not exported
type _CachePartition = root.CachePartition;
// @ts-expect-error the cache's mutable entry type is not exported
type _CachedKey = root.CachedKey;
// @ts-expect-error the native AEAD is the Node default, not an export
void root.nodeAead;
// @ts-expect-error audit, tlog, break-glass and PostgreSQL have their own subpaths
void root.AuditLog;
// @ts-expect-error PostgreSQL has its own subpath
void root.PostgresKeyStore;

// `switch (err.code)` narrows to the class that carries the code.
function narrow(err: unknown): string | undefined {
  if (!isKeywardenError(err)) return undefined;
  switch (err.code) {
    case 'ERR_INVALID_INPUT':
      return err.param; // InvalidInputError
    case 'ERR_AUDIT_CORRUPT':
      return String(err.at); // AuditCorruptError
    case 'ERR_KMS_UNAVAILABLE':
      return ((k: KmsError) => k.message)(err); // narrowed to KmsError
    default:
      return err.code;
  }
}
yes<Same<ErrorOf<'ERR_DECRYPT_FAILED'>, DecryptionError>>();
yes<Same<ErrorOf<'ERR_BG_REPLAYED'>, BreakGlassError>>();
yes<Same<AnyKeywardenError['code'], ErrorCode>>();

// Every value export above is used, so a removed one fails to compile.
export const values = [
  AES_GCM_MAX_MESSAGES, AuditCorruptError, AuditEntryError, AuditUnavailableError, BreakGlassError, ClosedError, DEFAULT_MAX_AGE_MS,
  DEFAULT_MAX_ENTRIES, DecryptionError, FORMAT_V1, HEADER_LENGTH, InvalidInputError, KeyCache, KeyLimitError, KeyNotFoundError, Keywarden,
  KeywardenError, KmsError, LOCAL_WRAPPED_KEY_LENGTH, LocalMasterKey, MAX_AAD_BYTES, MAX_CONVERSATION_ID_BYTES, MAX_KEY_VERSION,
  MAX_PLAINTEXT_BYTES, MemoryKeyStore, SUITES, StoreError, SuiteId, UnsupportedFormatError, VERSION, encodeContext, inspectCiphertext,
  isKeywardenError, keyContext, nobleAead, suiteById, suiteByName, InternalError,
  AuditIdHasher, AuditLog, ENTRY_V1, FileAuditStore, MAX_ENTRY_BYTES, MemoryAuditStore, ciphertextsDigest, decodeEntry, encodeEntry,
  validateEvent, verifyAuditLog,
  HASH_SIZE, MerkleTree, cosignCheckpoint, emptyRoot, formatCheckpoint, formatConsistencyRequest, formatTlogProof, generateCosignerKey,
  generateNoteKey, leafHash, newCosignatureVerifier, newCosigner, newNoteSigner, newNoteVerifier, nodeHash, openCheckpoint, openNote,
  parseCheckpoint, parseNote, parseTlogProof, signCheckpoint, signNote, verifierKeyFromSigner, verifyConsistency, verifyCosignatures,
  verifyInclusion, verifyTlogProof,
  APPROVAL_TYP, BreakGlass, MemoryTokenLedger, REASON_CODES, approveRequest, canonicalRequest, createRequest, decodeToken, encodeToken,
  generateApproverKey, inspectToken, requestDigest, validatePolicy, verifyToken,
  DEFAULT_SCHEMA, LATEST_MIGRATION, PostgresAuditStore, PostgresKeyStore, PostgresTokenLedger, migrate,
  AwsKmsMasterKey, mapKmsError, narrow,
  DynamoDbKeyStore,
  ATTACHMENT_HEADER_LENGTH, ATTACHMENT_V1, DEFAULT_SEGMENT_SIZE, MAX_ATTACHMENT_BYTES, MAX_SEGMENTS, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE,
  SEGMENT_TAG_LENGTH, attachmentSize, inspectAttachment, createDecryptStream, createEncryptStream, decryptFile, encryptFile, fileSource,
];
// And every type export.
export type Types = [
  AeadImpl, BreakGlassErrorCode, CiphertextInfo, DecryptItem, DecryptResult, GeneratedDataKey, InsertResult, KeyAuditOptions, KeyCacheOptions,
  KeyCacheStats, KeyRecord, KeyState, KeyStore, KeyVersionInfo, KeywardenOptions, KeywardenStats, KmsErrorCode, LocalMasterKeyOptions,
  MasterKeyProvider, MessageOptions, SuiteInfo, SuiteName,
  AuditEvent, AuditEventType, AuditLogOptions, AuditProblem, AuditReceipt, AuditScope, AuditStore, AuditVerifyInput, AuditVerifyReport,
  FileAuditStoreOptions,
  Checkpoint, NoteSignature, NoteSigner, NoteVerifier, OpenedNote, ParsedNote, TlogProof, VerifiedCosignature,
  ApproverKey, BreakGlassOptions, BreakGlassPolicy, BreakGlassRequest, BreakGlassResult, BreakGlassScope, BreakGlassToken, PolicyFactor,
  Jwk, ReasonCode, RequestFields, TokenInspection, TokenLedger, VerifiedToken,
  AwsKmsMasterKeyOptions,
  DynamoDbKeyStoreOptions,
  AttachmentDecryptOptions, AttachmentDecryptor, AttachmentEncryptOptions, AttachmentEncryptor, AttachmentInfo, AttachmentReader, AttachmentSource,
  SegmentAead, FileResult, FileSource, BreakGlassAttachmentResult,
];
