/**
 * keywarden — server-side envelope encryption for direct messages.
 *
 * This is the portable entry point: every AEAD runs through @noble/ciphers, so it works on any
 * JavaScript runtime. On Node, `import 'keywarden'` resolves to the native entry point
 * (`keywarden/node` build) with the same API and node:crypto on the hot path.
 *
 * @example
 * ```ts
 * import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
 * const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
 * ```
 * @module
 */
export { Keywarden } from './keywarden.js';
export type { KeywardenOptions, MessageOptions, DecryptItem, DecryptResult, KeywardenStats } from './keywarden.js';
export * from './errors.js';
export { VERSION } from './version.js';
export type { KeyAuditOptions } from './keys/lifecycle.js';
export { SuiteId, SUITES, AES_GCM_MAX_MESSAGES, suiteById, suiteByName } from './format/suites.js';
export type { SuiteInfo, SuiteName } from './format/suites.js';
export { inspectCiphertext, FORMAT_V1, HEADER_LENGTH, MAX_KEY_VERSION } from './format/wire.js';
export type { KeyRecord, KeyState, KeyVersionInfo } from './keys/records.js';
export { keyContext } from './keys/records.js';
export type { MasterKeyProvider, GeneratedDataKey } from './kms/provider.js';
export { encodeContext } from './kms/provider.js';
export { LocalMasterKey, LOCAL_WRAPPED_KEY_LENGTH } from './kms/local.js';
export type { LocalMasterKeyOptions } from './kms/local.js';
export type { KeyStore, InsertResult } from './store/types.js';
export { MemoryKeyStore } from './store/memory.js';
export { KeyCache, CachePartition, CachedKey, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_AGE_MS } from './cache/key-cache.js';
export type { KeyCacheOptions, KeyCacheStats } from './cache/key-cache.js';
export type { AeadImpl } from './aead/types.js';
export { nobleAead } from './aead/noble.js';
export { MAX_CONVERSATION_ID_BYTES, MAX_AAD_BYTES, MAX_PLAINTEXT_BYTES } from './util/validate.js';
// Tamper-evident audit log (docs/AUDIT.md). FileAuditStore is in the Node entry point.
export { AuditLog } from './audit/log.js';
export type { AuditLogOptions, AuditReceipt } from './audit/log.js';
export { MemoryAuditStore } from './audit/store.js';
export type { AuditStore } from './audit/store.js';
export { AuditIdHasher, AuditEntryError, ciphertextsDigest, decodeEntry, encodeEntry, validateEvent, ENTRY_V1, MAX_ENTRY_BYTES } from './audit/entry.js';
export type { AuditEvent, AuditEventType, AuditScope } from './audit/entry.js';
export { verifyAuditLog } from './audit/verify.js';
export type { AuditVerifyInput, AuditVerifyReport, AuditProblem } from './audit/verify.js';
export { MerkleTree, leafHash, nodeHash, emptyRoot, verifyInclusion, verifyConsistency } from './audit/merkle.js';
export { generateNoteKey, newNoteSigner, newNoteVerifier, verifierKeyFromSigner, signNote, openNote, parseNote, NoteError } from './audit/note.js';
export type { NoteSigner, NoteVerifier, OpenedNote } from './audit/note.js';
export { formatCheckpoint, parseCheckpoint, signCheckpoint, openCheckpoint, generateCosignerKey, newCosigner, cosignCheckpoint, verifyCosignatures } from './audit/checkpoint.js';
export type { Checkpoint } from './audit/checkpoint.js';
export { formatTlogProof, parseTlogProof, verifyTlogProof, formatConsistencyRequest } from './audit/formats.js';
// Break-glass access (docs/BREAK-GLASS.md).
export { BreakGlass } from './breakglass/access.js';
export type { BreakGlassOptions, BreakGlassResult } from './breakglass/access.js';
export { MemoryTokenLedger } from './breakglass/ledger.js';
export type { TokenLedger } from './breakglass/ledger.js';
export { validatePolicy, verifyToken, inspectToken } from './breakglass/policy.js';
export type { BreakGlassPolicy, PolicyFactor, ApproverKey, VerifiedToken, TokenInspection } from './breakglass/policy.js';
export { REASON_CODES, APPROVAL_TYP, createRequest, canonicalRequest, requestDigest, approveRequest, encodeToken, decodeToken, generateApproverKey } from './breakglass/token.js';
export type { BreakGlassRequest, BreakGlassScope, BreakGlassToken, ReasonCode } from './breakglass/token.js';
// PostgreSQL (caller-supplied `pg` Pool; `pg` is an optional peer dependency, imported as types only).
export { PostgresKeyStore } from './store/postgres.js';
export { migrate, DEFAULT_SCHEMA, LATEST_MIGRATION } from './store/migrations.js';
export { PostgresAuditStore } from './audit/postgres-store.js';
export { PostgresTokenLedger } from './breakglass/postgres-ledger.js';
