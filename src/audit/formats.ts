/**
 * Text formats an auditor or witness consumes offline:
 * - C2SP `tlog-proof@v1`: `c2sp.org/tlog-proof@v1`, optional `extra <base64>`, `index <n>`, the
 *   inclusion proof hashes in base64 one per line, a blank line, then the signed checkpoint;
 * - the body of a C2SP `tlog-witness` add-checkpoint request: `old <size>`, the consistency
 *   proof hashes in base64 one per line, a blank line, then the signed checkpoint.
 */
import { openCheckpoint } from './checkpoint.js';
import { leafHash, verifyInclusion } from './merkle.js';
import { newNoteVerifier } from './note.js';
import { InvalidInputError, NoteError } from '../errors.js';
import { assertBytes, assertInt } from '../util/validate.js';
import { fromBase64, toBase64 } from '../util/bytes.js';

const PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

/** Exactly one 32-byte hash in canonical base64. */
function unb64(s: string): Uint8Array | undefined {
  const h = s.length === 44 ? fromBase64(s) : null;
  return h?.length === 32 ? h : undefined;
}

/** Formats a tlog-proof@v1 file. */
export function formatTlogProof(index: number, proof: readonly Uint8Array[], checkpointNote: string): string {
  assertInt('index', index, 0, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(proof)) throw new InvalidInputError('proof', 'expected an array of 32-byte hashes');
  // Holes too: `forEach` skips one and `map(...).join('')` drops it (outside review 6).
  for (let i = 0; i < proof.length; i++) assertBytes(`proof[${i}]`, proof[i], 32);
  if (typeof checkpointNote !== 'string') throw new InvalidInputError('checkpointNote', 'expected a signed checkpoint note');
  return `${PROOF_HEADER}\nindex ${index}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${checkpointNote}`;
}

/**
 * Formats a tlog-witness add-checkpoint request body. Checked like {@link formatTlogProof}: `old`
 * is a decimal size and every proof line a 32-byte hash, or no body at all (outside review 5).
 */
export function formatConsistencyRequest(oldSize: number, proof: readonly Uint8Array[], checkpointNote: string): string {
  assertInt('oldSize', oldSize, 0, Number.MAX_SAFE_INTEGER);
  if (!Array.isArray(proof)) throw new InvalidInputError('proof', 'expected an array of 32-byte hashes');
  // Holes too: `forEach` skips one and `map(...).join('')` drops it (outside review 6).
  for (let i = 0; i < proof.length; i++) assertBytes(`proof[${i}]`, proof[i], 32);
  if (typeof checkpointNote !== 'string') throw new InvalidInputError('checkpointNote', 'expected a signed checkpoint note');
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${checkpointNote}`;
}

/** A parsed tlog-proof@v1 file. */
export interface TlogProof {
  index: number;
  extra?: Uint8Array;
  proof: Uint8Array[];
  checkpoint: string;
}

const malformed = (what: string) => new NoteError('ERR_PROOF_MALFORMED', `tlog-proof: ${what}`);

/** Parses a tlog-proof@v1 file strictly; throws `ERR_PROOF_MALFORMED` naming what is wrong. */
export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== 'string') throw malformed('expected text');
  const blank = text.indexOf('\n\n');
  if (blank < 0) throw malformed('no blank line before the checkpoint');
  const lines = text.slice(0, blank).split('\n');
  const checkpoint = text.slice(blank + 2);
  let i = 0;
  if (lines[i++] !== PROOF_HEADER) throw malformed('missing c2sp.org/tlog-proof@v1 header');
  let extra: Uint8Array | undefined;
  if (lines[i]?.startsWith('extra ')) {
    // Strict canonical base64 (one spelling per value): never atob's leniency or exceptions.
    extra = fromBase64(lines[i++]!.slice(6)) ?? undefined;
    if (extra === undefined) throw malformed('bad extra line');
  }
  const m = /^index (0|[1-9][0-9]*)$/.exec(lines[i++] ?? '');
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw malformed('bad index line');
  const proof: Uint8Array[] = [];
  for (; i < lines.length; i++) {
    const h = unb64(lines[i]!);
    if (!h) throw malformed(`line ${i + 1} is not a base64 hash`);
    proof.push(h);
  }
  return { index: Number(m[1]), ...(extra ? { extra } : {}), proof, checkpoint };
}

/**
 * Checks a tlog-proof@v1 file offline: the checkpoint is signed by the log key and `entry`
 * (the exact entry bytes) is at the stated index in the checkpointed tree.
 *
 * @example
 * ```ts
 * const ok = verifyTlogProof(proofText, entryBytes, 'example.com/keywarden+1a2b3c4d+AbC...');
 * ```
 */
export function verifyTlogProof(text: string, entry: Uint8Array, verifierKey: string): { ok: boolean; index?: number; size?: number; reason?: string } {
  try {
    const p = parseTlogProof(text);
    const verifier = newNoteVerifier(verifierKey);
    const { checkpoint } = openCheckpoint(p.checkpoint, verifier, verifier.name);
    if (p.index >= checkpoint.size) return { ok: false, reason: 'index beyond the checkpoint' };
    const ok = verifyInclusion(leafHash(entry), p.index, checkpoint.size, p.proof, checkpoint.rootHash);
    return ok ? { ok, index: p.index, size: checkpoint.size } : { ok, reason: 'inclusion proof does not match the checkpoint root' };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
