/**
 * Transparency-log checkpoints (https://c2sp.org/tlog-checkpoint, v1.0.0) and Ed25519 witness
 * cosignatures (https://c2sp.org/tlog-cosignature, `cosignature/v1`), on top of the signed notes
 * of `note.ts`.
 *
 * A checkpoint is a signed note whose text is exactly:
 *
 * ```text
 * example.com/behind-the-sofa                    ← origin
 * 20852163                                       ← tree size, decimal, no leading zeroes
 * CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=   ← base64 RFC 6962 root hash
 *                                                ← (optional non-empty extension lines)
 * — example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
 * — witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==
 * ```
 *
 * The second signature line is a witness cosignature: key ID (4 bytes, signature type `0x04`) ||
 * timestamp (8 bytes, big-endian Unix seconds) || Ed25519 signature (64 bytes) over
 * `cosignature/v1\ntime <timestamp>\n` followed by the whole checkpoint text.
 *
 * Only the Ed25519 cosignature type is implemented (not the ML-DSA-44 `subtree/v1` one).
 * Portable: no Node-only APIs.
 * @module
 */
import { InvalidInputError } from '../errors.js';
import { ed25519Sign, ed25519Verify } from '../util/ed25519.js';
import { concatBytes, fromBase64, fromUtf8, toBase64, utf8 } from '../util/bytes.js';
import {
  MAX_NOTE_SIGNATURES,
  NoteError,
  generateEd25519NoteKey,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteSigner,
  type NoteVerifier,
  type OpenedNote,
} from './note.js';

/**
 * Signature type byte of timestamped Ed25519 witness cosignatures (signed-note §"Signature
 * types" `0x04`; tlog-cosignature §Format). It enters the key ID, so a cosigner key never
 * shares a key ID with the same Ed25519 key used as a plain (`0x01`) note key.
 *
 * @example
 * ```ts
 * noteKeyId('witness.example/w1', SIGNATURE_TYPE_COSIGNATURE_V1, publicKey);
 * ```
 */
export const SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04;

/**
 * Largest tree size accepted: 2^53 - 1, the largest integer a JavaScript number holds exactly.
 *
 * @example
 * ```ts
 * parseCheckpoint(`log\n${MAX_CHECKPOINT_SIZE}\n${root}\n`); // ok; one more is rejected
 * ```
 */
export const MAX_CHECKPOINT_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * A checkpoint body (tlog-checkpoint §"Note text").
 *
 * @example
 * ```ts
 * const c: Checkpoint = { origin: 'example.com/log42', size: 3, rootHash: root, extensions: [] };
 * ```
 */
export interface Checkpoint {
  /** Unique identifier of the log; non-empty (SHOULD be a schema-less URL without spaces or '+'). */
  origin: string;
  /** Number of leaves in the tree, 0 … {@link MAX_CHECKPOINT_SIZE}. */
  size: number;
  /** The 32-byte RFC 6962 Merkle tree root hash at `size`. */
  rootHash: Uint8Array;
  /** Opaque extension lines, each non-empty (their use is NOT RECOMMENDED by the spec). */
  extensions: string[];
}

/**
 * A valid cosignature found by {@link verifyCosignatures}.
 *
 * @example
 * ```ts
 * const [{ name, keyId, time }] = verifyCosignatures(note, [witnessVerifierKey]);
 * ```
 */
export interface VerifiedCosignature {
  /** The cosigner's key name. */
  name: string;
  /** The cosigner's key ID (computed with signature type `0x04`). */
  keyId: number;
  /** When the cosignature was made, Unix seconds (tlog-cosignature §Format `timestamp`). */
  time: number;
}

const COSIGNATURE_HEADER = 'cosignature/v1\n';

// ---------------------------------------------------------------------------------------------
// Helpers.

function malformed(message: string): NoteError {
  return new NoteError('ERR_CHECKPOINT_MALFORMED', message);
}


const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /[\x00-\x1F]/;
const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/** A line of a checkpoint: non-empty, valid Unicode, no control character (signed-note §Format). */
function isLine(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0 && !CONTROL.test(s) && !LONE_SURROGATE.test(s);
}

/** Big-endian uint64 of a safe integer. */
function uint64Bytes(n: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, Math.floor(n / 2 ** 32));
  dv.setUint32(4, n >>> 0);
  return out;
}

/** Reads a big-endian uint64; null if it exceeds 2^53 - 1 (the spec bound is 2^63 - 1). */
function readUint64(b: Uint8Array, offset: number): number | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hi = dv.getUint32(offset);
  const lo = dv.getUint32(offset + 4);
  if (hi > 0x1fffff) return null;
  return hi * 2 ** 32 + lo;
}

/** tlog-cosignature §"Ed25519 signed message": header line, timestamp line, whole checkpoint text. */
function cosignedMessage(time: number, checkpointText: Uint8Array): Uint8Array {
  return concatBytes(utf8(`${COSIGNATURE_HEADER}time ${time}\n`), checkpointText);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints.

/**
 * Encodes a checkpoint body (tlog-checkpoint §"Note text"): origin, decimal tree size, base64
 * root hash, then the extension lines, each line ending in `\n`.
 *
 * @throws {@link NoteError} `ERR_CHECKPOINT_MALFORMED` if a field is invalid (empty origin or
 * extension line, control characters, size not an integer in 0 … 2^53 - 1, hash not 32 bytes).
 *
 * @example
 * ```ts
 * formatCheckpoint({ origin: 'example.com/behind-the-sofa', size: 20852163, rootHash, extensions: [] });
 * // 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'
 * ```
 */
export function formatCheckpoint(c: Checkpoint): string {
  if (c === null || typeof c !== 'object') throw malformed('checkpoint must be an object');
  if (!isLine(c.origin)) throw malformed('origin must be a non-empty line');
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw malformed('size must be an integer in 0 … 2^53 - 1');
  if (!(c.rootHash instanceof Uint8Array) || c.rootHash.length !== 32) throw malformed('root hash must be 32 bytes');
  const extensions = c.extensions ?? [];
  // Every index: `every` skips holes, and a hole became the extension line "undefined" (outside
  // review 6, test/review6-parse-sparse-arrays.test.ts).
  if (!Array.isArray(extensions) || !Array.from(extensions).every(isLine)) throw malformed('extension lines must be non-empty lines');
  let out = `${c.origin}\n${c.size}\n${toBase64(c.rootHash)}\n`;
  for (const e of extensions) out += `${e}\n`;
  return out;
}

/**
 * Parses a checkpoint body strictly (tlog-checkpoint §"Note text"): at least three non-empty
 * lines, each ending in `\n`; a non-empty origin; the tree size in decimal with no leading zeroes
 * (and at most 2^53 - 1); the root hash as the canonical standard base64 of exactly 32 bytes;
 * any further lines are extension lines and must be non-empty. Whatever does not re-encode to
 * exactly the same text is rejected.
 *
 * @throws {@link NoteError} `ERR_CHECKPOINT_MALFORMED` on any deviation.
 *
 * @example
 * ```ts
 * const c = parseCheckpoint('example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n');
 * c.size; // 20852163
 * ```
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string') throw malformed('checkpoint must be a string');
  if (!text.endsWith('\n')) throw malformed('checkpoint must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('checkpoint needs origin, size and root hash lines');
  if (!lines.every(isLine)) throw malformed('checkpoint lines must be non-empty, without control characters');
  const [origin, sizeLine, hashLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (!DECIMAL.test(sizeLine)) throw malformed('tree size must be decimal with no leading zeroes');
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw malformed('tree size exceeds 2^53 - 1');
  const rootHash = fromBase64(hashLine);
  if (rootHash === null || rootHash.length !== 32) throw malformed('root hash must be the base64 of 32 bytes');
  return { origin, size, rootHash, extensions };
}

/**
 * Signs a checkpoint as a note with the log's key. tlog-checkpoint §Signatures: the key name
 * SHOULD match the origin (not enforced here).
 *
 * @throws {@link NoteError} `ERR_CHECKPOINT_MALFORMED` for an invalid checkpoint, `ERR_NOTE_KEY`
 * for an invalid signer.
 *
 * @example
 * ```ts
 * const { signerKey, verifierKey } = generateNoteKey('example.com/log42');
 * const note = signCheckpoint({ origin: 'example.com/log42', size: 1, rootHash, extensions: [] }, newNoteSigner(signerKey));
 * ```
 */
export function signCheckpoint(c: Checkpoint, signer: NoteSigner): string {
  return signNote(formatCheckpoint(c), signer);
}

/**
 * Opens a checkpoint note: it must carry a valid signature from `logVerifier` (other signature
 * lines, e.g. witness cosignatures, are tolerated and listed as unverified), its text must be a
 * well-formed checkpoint, and its origin must equal `expectedOrigin`.
 *
 * This does not check witness cosignatures (see {@link verifyCosignatures}) nor consistency with
 * earlier checkpoints.
 *
 * @throws {@link NoteError}: `ERR_NOTE_MALFORMED`, `ERR_NOTE_UNVERIFIED` (no signature by the log
 * key), `ERR_NOTE_INVALID_SIGNATURE` (the log key's signature is bad), `ERR_CHECKPOINT_MALFORMED`,
 * `ERR_CHECKPOINT_ORIGIN`.
 *
 * @example
 * ```ts
 * const { checkpoint } = openCheckpoint(note, newNoteVerifier(logVerifierKey), 'example.com/log42');
 * console.log(checkpoint.size);
 * ```
 */
export function openCheckpoint(
  note: string,
  logVerifier: NoteVerifier,
  expectedOrigin: string,
): { checkpoint: Checkpoint; note: OpenedNote } {
  if (typeof expectedOrigin !== 'string') throw new NoteError('ERR_CHECKPOINT_ORIGIN', 'expected origin must be a string');
  const opened = openNote(note, [logVerifier]);
  // openNote had only the log's verifier, so a verified signature is the log's; check anyway.
  if (!opened.verified.some((v) => v.name === logVerifier.name && v.keyId === logVerifier.keyId)) {
    throw new NoteError('ERR_NOTE_UNVERIFIED', 'checkpoint is not signed by the log key');
  }
  const checkpoint = parseCheckpoint(opened.text);
  if (checkpoint.origin !== expectedOrigin) throw new NoteError('ERR_CHECKPOINT_ORIGIN', 'checkpoint is from another log');
  return { checkpoint, note: opened };
}

// ---------------------------------------------------------------------------------------------
// Cosignatures.

/**
 * Generates a witness cosigner key pair (signature type `0x04`, tlog-cosignature §Format):
 * `PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || seed)>` and the vkey
 * `<name>+<key ID>+<base64(0x04 || public key)>`, the key ID being
 * `SHA-256(name || 0x0A || 0x04 || public key)[:4]`. Go's `note.NewSigner` refuses such keys, so
 * they cannot be mistaken for plain note keys.
 *
 * @param seed - optional 32-byte Ed25519 seed; random by default.
 * @throws {@link NoteError} `ERR_NOTE_KEY` for an invalid name or seed.
 *
 * @example
 * ```ts
 * const { signerKey, verifierKey } = generateCosignerKey('witness.example/w1');
 * ```
 */
export function generateCosignerKey(name: string, seed?: Uint8Array): { signerKey: string; verifierKey: string } {
  return generateEd25519NoteKey(name, SIGNATURE_TYPE_COSIGNATURE_V1, seed);
}

/**
 * A {@link NoteSigner} producing `cosignature/v1` signatures (tlog-cosignature §Format and
 * §"Ed25519 signed message"): `sign(text)` refuses anything but a well-formed checkpoint text and
 * returns `timestamp (8 bytes, big-endian) || Ed25519(cosignature/v1\ntime <timestamp>\n || text)`.
 * Only type `0x04` signer keys are accepted.
 *
 * @param now - the clock, returning Unix time in SECONDS (default: the system clock). It must
 *   return a safe non-negative integer, else `sign` throws a RangeError.
 * @throws {@link NoteError} `ERR_NOTE_KEY` for an invalid or non-cosigner key.
 *
 * @example
 * ```ts
 * const cosigner = newCosigner(witnessSignerKey);
 * const cosigned = cosignCheckpoint(logSignedCheckpoint, cosigner);
 * ```
 */
export function newCosigner(signerKey: string, now: () => number = () => Math.floor(Date.now() / 1000)): NoteSigner {
  if (typeof now !== 'function') throw new NoteError('ERR_NOTE_KEY', 'now must be a function');
  const { name, keyId, type, seed } = parseSignerKey(signerKey);
  if (type !== SIGNATURE_TYPE_COSIGNATURE_V1) {
    seed.fill(0);
    throw new NoteError('ERR_NOTE_KEY', 'not a cosigner (type 0x04) signer key');
  }
  return Object.freeze({
    name,
    keyId,
    sign(message: Uint8Array): Uint8Array {
      let text: string;
      try {
        text = fromUtf8(message);
      } catch {
        throw malformed('cosigned text is not valid UTF-8');
      }
      parseCheckpoint(text); // a cosigner only ever signs checkpoints
      const time = now();
      if (!Number.isSafeInteger(time) || time < 0) throw new InvalidInputError('now', 'expected the cosigner clock to return non-negative integer seconds');
      return concatBytes(uint64Bytes(time), ed25519Sign(cosignedMessage(time, message), seed));
    },
  });
}

/**
 * A {@link NoteVerifier} for `cosignature/v1` signatures from a cosigner vkey
 * `<name>+<key ID>+<base64(0x04 || 32-byte public key)>` (tlog-cosignature §Format). It accepts
 * exactly 8 + 64 signature bytes whose timestamp is at most 2^53 - 1.
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` if the key string is invalid or not of type `0x04`.
 *
 * @example
 * ```ts
 * const { verified } = openNote(note, [newNoteVerifier(logKey), newCosignatureVerifier(witnessKey)]);
 * ```
 */
export function newCosignatureVerifier(verifierKey: string): NoteVerifier {
  const { name, keyId, type, publicKey } = parseVerifierKey(verifierKey);
  if (type !== SIGNATURE_TYPE_COSIGNATURE_V1 || publicKey.length !== 32) {
    throw new NoteError('ERR_NOTE_KEY', 'not an Ed25519 cosigner (type 0x04) verifier key');
  }
  return Object.freeze({
    name,
    keyId,
    verify(message: Uint8Array, signature: Uint8Array): boolean {
      if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array) || signature.length !== 8 + 64) return false;
      const time = readUint64(signature, 0);
      if (time === null) return false;
      return ed25519Verify(signature.subarray(8), cosignedMessage(time, message), publicKey);
    },
  });
}

/**
 * Adds (or replaces) `cosigner`'s signature line on a signed checkpoint note. Existing lines are
 * kept verbatim, except an older line from the same key (name and key ID), which is replaced.
 *
 * This checks the note's syntax and that its text is a checkpoint, NOT the log's signature or the
 * consistency a witness vouches for: verify those first ({@link openCheckpoint}).
 *
 * @throws {@link NoteError} `ERR_NOTE_MALFORMED`, `ERR_CHECKPOINT_MALFORMED`, `ERR_NOTE_KEY`.
 *
 * @example
 * ```ts
 * openCheckpoint(note, logVerifier, origin); // and check consistency with the last size seen
 * const cosigned = cosignCheckpoint(note, newCosigner(witnessSignerKey));
 * ```
 */
export function cosignCheckpoint(signedCheckpointNote: string, cosigner: NoteSigner): string {
  const parsed = parseNote(signedCheckpointNote);
  parseCheckpoint(parsed.text);
  const fresh = signNote(parsed.text, cosigner); // validates the signer
  const line = fresh.slice(parsed.text.length + 1);
  const kept = parsed.signatures.filter((s) => !(s.name === cosigner.name && s.keyId === cosigner.keyId));
  if (kept.length + 1 > MAX_NOTE_SIGNATURES) throw new NoteError('ERR_NOTE_MALFORMED', 'too many signatures');
  let out = parsed.text + '\n';
  for (const s of kept) out += `\u2014 ${s.name} ${s.base64}\n`;
  return out + line;
}

/**
 * The valid `cosignature/v1` cosignatures on a checkpoint note by the configured witnesses, one
 * per witness, in line order. Lines from other keys (the log, unknown witnesses) are ignored.
 * Returns `[]` if no configured witness cosigned; quorum policy is the caller's.
 *
 * As in {@link openNote}, a signature line from a configured witness that does not verify
 * rejects the whole note (signed-note §Signatures: clients SHOULD reject).
 * This does not check the log's own signature: use {@link openCheckpoint} as well.
 * Timestamps are returned, not judged (verifiers MAY reject future ones: compare with your clock).
 *
 * @param cosignerVerifierKeys - witness vkeys of type `0x04`.
 * @throws {@link NoteError} `ERR_NOTE_KEY` (bad witness key), `ERR_NOTE_MALFORMED`,
 * `ERR_CHECKPOINT_MALFORMED`, `ERR_NOTE_INVALID_SIGNATURE`.
 *
 * @example
 * ```ts
 * const { checkpoint } = openCheckpoint(note, logVerifier, origin);
 * const cosigs = verifyCosignatures(note, witnessVerifierKeys);
 * if (cosigs.length < 2) throw new Error('not enough witnesses');
 * ```
 */
export function verifyCosignatures(note: string, cosignerVerifierKeys: string[]): VerifiedCosignature[] {
  if (!Array.isArray(cosignerVerifierKeys)) throw new NoteError('ERR_NOTE_KEY', 'cosigner keys must be an array');
  const verifiers = cosignerVerifierKeys.map(newCosignatureVerifier);
  const parsed = parseNote(note);
  parseCheckpoint(parsed.text);
  let opened: OpenedNote;
  try {
    opened = openNote(note, verifiers);
  } catch (err) {
    if (err instanceof NoteError && err.code === 'ERR_NOTE_UNVERIFIED') return [];
    throw err;
  }
  return opened.verified.map(({ name, keyId }) => {
    // The first line of each key is the one openNote verified.
    const sig = parsed.signatures.find((s) => s.name === name && s.keyId === keyId)!;
    return { name, keyId, time: readUint64(sig.signature, 0)! };
  });
}
