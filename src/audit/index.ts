/**
 * `keywarden/audit`: the tamper-evident audit log (docs/AUDIT.md) — the log itself, its stores,
 * its entries, the auditor's verifiers (in memory, and streaming) and the tlog-tiles export.
 * Node only (FileAuditStore uses node:fs); the
 * transparency-log primitives an auditor needs anywhere are in `keywarden/tlog`, and the
 * PostgreSQL store in `keywarden/postgres`.
 *
 * @example
 * ```ts
 * import { AuditLog, AuditIdHasher, FileAuditStore } from 'keywarden/audit';
 * import { generateNoteKey } from 'keywarden/tlog';
 * const { signerKey } = generateNoteKey('example.com/keywarden-audit');
 * const log = await AuditLog.open({ store: await FileAuditStore.open('./audit'), signerKey });
 * ```
 * @module
 */
export { AuditLog } from './log.js';
export type { AuditLogOptions, AuditReceipt, AuditPending, AuditLogStats } from './log.js';
export { MemoryAuditStore } from './store.js';
export type { AuditStore, AuditStoreState, IntegrateBatch, ClaimedRecord } from './store.js';
export type { TileWant } from './tile-tree.js';
export type { OutboxRecord } from './records.js';
export { FileAuditStore } from './file-store.js';
export type { FileAuditStoreOptions } from './file-store.js';
export { exportLog } from './export.js';
export type { ExportOptions, ExportSource, ExportResult } from './export.js';
export { verifyAuditStream } from './verify-stream.js';
export type { AuditStreamInput } from './verify-stream.js';
export { AuditIdHasher, ciphertextsDigest, decodeEntry, encodeEntry, validateEvent, ENTRY_V1, MAX_ENTRY_BYTES } from './entry.js';
export type { AuditEvent, AuditEventType, AuditScope } from './entry.js';
export { verifyAuditLog } from './verify.js';
export type { AuditVerifyInput, AuditVerifyReport, AuditProblem } from './verify.js';
