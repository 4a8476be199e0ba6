/**
 * `keywarden/tlog`: transparency-log primitives, portable (any JavaScript runtime) — RFC 6962 /
 * RFC 9162 Merkle trees and proofs, C2SP signed notes, tlog-checkpoint, tlog-cosignature,
 * tlog-proof and tlog-tiles (tile paths, entry bundles, the right edge, proofs from tiles), and
 * keywarden's signed tree heads. What an outside auditor or witness needs to check keywarden's audit log without
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
export {
  tilePath, parseTilePath, tileWidth, edgeTiles, tileHash, encodeBundle, decodeBundle, TILE_WIDTH, TILE_HEIGHT, MAX_BUNDLE_ENTRY,
} from './audit/tiles.js';
export type { TileRef } from './audit/tiles.js';
export { TileEdge } from './audit/tile-edge.js';
export type { TileWrite } from './audit/tile-edge.js';
export { TileTree } from './audit/tile-tree.js';
export type { TileBatchReader, TileReader, TileWant } from './audit/tile-tree.js';
export { openTreeHead, signTreeHead, TREE_HEAD_LINE } from './audit/records.js';
export type { TreeHead } from './audit/records.js';
