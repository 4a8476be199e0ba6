/**
 * `keywarden/tlog`: transparency-log primitives, portable (any JavaScript runtime) — RFC 6962 /
 * RFC 9162 Merkle trees and proofs, C2SP signed notes, tlog-checkpoint, tlog-cosignature and
 * tlog-proof. What an outside auditor or witness needs to check keywarden's audit log without
 * keywarden's stores; interoperable with Go's golang.org/x/mod/sumdb/{tlog,note}.
 *
 * @example
 * ```ts
 * import { verifyTlogProof } from 'keywarden/tlog';
 * const { ok } = verifyTlogProof(proofText, entryBytes, verifierKey);
 * ```
 * @module
 */
export { MerkleTree, leafHash, nodeHash, emptyRoot, verifyInclusion, verifyConsistency, HASH_SIZE } from './audit/merkle.js';
export { generateNoteKey, newNoteSigner, newNoteVerifier, verifierKeyFromSigner, signNote, openNote, parseNote } from './audit/note.js';
export type { NoteSigner, NoteVerifier, OpenedNote, ParsedNote, NoteSignature } from './audit/note.js';
export {
  formatCheckpoint, parseCheckpoint, signCheckpoint, openCheckpoint, generateCosignerKey, newCosigner, newCosignatureVerifier,
  cosignCheckpoint, verifyCosignatures,
} from './audit/checkpoint.js';
export type { Checkpoint, VerifiedCosignature } from './audit/checkpoint.js';
export { formatTlogProof, parseTlogProof, verifyTlogProof, formatConsistencyRequest } from './audit/formats.js';
export type { TlogProof } from './audit/formats.js';
