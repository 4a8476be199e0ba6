/**
 * C2SP signed notes (https://c2sp.org/signed-note, v1.0.0) with Ed25519 keys, compatible with
 * Go's golang.org/x/mod/sumdb/note (`NewSigner`, `NewVerifier`, `GenerateKey`, `Sign`, `Open`).
 *
 * A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature
 * lines `— <key name> <base64(4-byte key ID || signature)>`:
 *
 * ```text
 * If you think cryptography is the answer to your problem,
 * then you don't know what your problem is.
 *
 * — PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=
 * ```
 *
 * Keys travel as text. A verifier key ("vkey") is `<name>+<8 hex digits key ID>+<base64(type ||
 * public key)>`; a signer key is Go's `PRIVATE+KEY+<name>+<key ID>+<base64(type || 32-byte
 * Ed25519 seed)>`. The key-string formats come from Go's note package documentation (the
 * c2sp.org/tlog-cosignature spec refers to vkeys as signed-note's "verifier keys").
 *
 * Parsing is strict: anything that is not exactly the format is a {@link NoteError}, never a
 * different exception.
 *
 * Portable: no Node-only APIs.
 * @module
 */
import { sha256 } from '../util/digest.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from '../util/ed25519.js';
import { NoteError } from '../errors.js';
import { concatBytes, fromBase64, fromUtf8, toBase64, utf8 } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';
import { isBytes, plainBytes } from '../util/validate.js';

/**
 * Signature type byte of plain Ed25519 note signatures (signed-note §"Signature types", `0x01`).
 *
 * @example
 * ```ts
 * noteKeyId('example.com/log42', SIGNATURE_TYPE_ED25519, publicKey);
 * ```
 */
export const SIGNATURE_TYPE_ED25519 = 0x01;

/**
 * Most signature lines a note may carry. signed-note §Format: verifiers SHOULD apply a limit but
 * MUST accept at least 16; Go's `note.Open` rejects more than 100, and so do we.
 *
 * @example
 * ```ts
 * if (parseNote(message).signatures.length === MAX_NOTE_SIGNATURES) console.warn('note is full');
 * ```
 */
export const MAX_NOTE_SIGNATURES = 100;

export { NoteError, type NoteErrorCode } from '../errors.js';

/**
 * Signs note texts with one key.
 *
 * @example
 * ```ts
 * const signer: NoteSigner = newNoteSigner(signerKey);
 * console.log(signer.name, signer.keyId.toString(16));
 * ```
 */
export interface NoteSigner {
  /** The key name written on the signature line. */
  readonly name: string;
  /** The 32-bit key ID written (big-endian) in front of the signature. */
  readonly keyId: number;
  /** Signs the note text bytes (including the final newline); returns the signature bytes that follow the key ID. */
  sign(message: Uint8Array): Uint8Array;
}

/**
 * Verifies note signatures from one key.
 *
 * @example
 * ```ts
 * const verifier: NoteVerifier = newNoteVerifier('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
 * ```
 */
export interface NoteVerifier {
  /** The key name this verifier matches on signature lines. */
  readonly name: string;
  /** The 32-bit key ID this verifier matches on signature lines. */
  readonly keyId: number;
  /** Whether `signature` (the bytes after the key ID) is valid over `message` (the note text bytes). Never throws. */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * The result of {@link openNote}.
 *
 * @example
 * ```ts
 * const { text, verified, unverified } = openNote(message, [verifier]);
 * ```
 */
export interface OpenedNote {
  /** The note text, including its final newline. Trust it only because `verified` is non-empty. */
  text: string;
  /** Signatures from known keys that verified, in line order, one per key. */
  verified: { name: string; keyId: number }[];
  /** Signatures from unknown keys (ignored per signed-note §Signatures), identical lines listed once. */
  unverified: { name: string; keyId: number }[];
}

/**
 * One syntactically valid signature line of a note, not verified.
 *
 * @example
 * ```ts
 * const [sig] = parseNote(message).signatures;
 * console.log(sig.name, sig.keyId, sig.signature.length);
 * ```
 */
export interface NoteSignature {
  /** Key name. */
  name: string;
  /** Key ID (the first four bytes of the decoded base64, big-endian). */
  keyId: number;
  /** The signature bytes after the key ID. */
  signature: Uint8Array;
  /** The base64 text exactly as on the line (key ID included). */
  base64: string;
}

/**
 * A note split into its text and signature lines, nothing verified.
 *
 * @example
 * ```ts
 * const { text, signatures } = parseNote(message);
 * ```
 */
export interface ParsedNote {
  /** The note text, including its final newline but not the separating blank line. */
  text: string;
  /** The signature lines, in order. */
  signatures: NoteSignature[];
}

/**
 * The parts of a verifier key string.
 *
 * @example
 * ```ts
 * const { name, keyId, type, publicKey } = parseVerifierKey(vkey);
 * ```
 */
export interface VerifierKeyParts {
  /** Key name. */
  name: string;
  /** Key ID, checked against the name, type and public key. */
  keyId: number;
  /** Signature type byte (signed-note §"Signature types"). */
  type: number;
  /** Public key bytes after the type byte. */
  publicKey: Uint8Array;
}

/**
 * The parts of a signer key string. `seed` is SECRET.
 *
 * @example
 * ```ts
 * const { name, keyId, type, publicKey } = parseSignerKey(skey);
 * ```
 */
export interface SignerKeyParts extends VerifierKeyParts {
  /** The 32-byte Ed25519 seed (RFC 8032 private key). Secret. */
  seed: Uint8Array;
}

const EM_DASH_SPACE = '\u2014 ';
/** tlog-cosignature §Format: timestamped Ed25519 cosignatures (see checkpoint.ts). */
const COSIGNATURE_TYPE = 0x04;
/** Signature types whose key material is an Ed25519 32-byte seed / public key. */
const ED25519_FAMILY: ReadonlySet<number> = new Set([SIGNATURE_TYPE_ED25519, COSIGNATURE_TYPE]);

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 4648 §4, standard alphabet, padded), strict: only canonical encodings decode.


// ---------------------------------------------------------------------------------------------
// Text rules.

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// signed-note §Format: no ASCII control characters (below U+0020) other than newline.
const CONTROL_EXCEPT_NEWLINE = /[\x00-\x09\x0B-\x1F]/;
// signed-note §Format: key names MUST NOT contain Unicode spaces (the White_Space property, the
// same set as Go's unicode.IsSpace) or '+'. We also refuse control characters, which could
// never appear on a signature line anyway.
const BAD_NAME_CHAR = /[\p{White_Space}+\x00-\x1F]/u;

/** Whether `s` is a string that encodes to valid UTF-8 (no lone UTF-16 surrogates). */
function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/**
 * Whether `name` is a valid key name (signed-note §Format): a non-empty, well-formed string with
 * no Unicode white space and no `+`. Control characters are refused as well.
 *
 * @example
 * ```ts
 * isValidKeyName('example.com/log42'); // true
 * isValidKeyName('bad name');          // false
 * isValidKeyName('a+b');               // false
 * ```
 */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name.length > 0 && isWellFormed(name) && !BAD_NAME_CHAR.test(name);
}

/** Throws unless `text` may be a note text: well-formed, ends in '\n', no other control characters. */
function assertNoteText(text: unknown): asserts text is string {
  if (typeof text !== 'string') throw new NoteError('ERR_NOTE_MALFORMED', 'note text must be a string');
  if (!text.endsWith('\n')) throw new NoteError('ERR_NOTE_MALFORMED', 'note text must end with a newline');
  if (!isWellFormed(text)) throw new NoteError('ERR_NOTE_MALFORMED', 'note text is not valid Unicode');
  if (CONTROL_EXCEPT_NEWLINE.test(text)) throw new NoteError('ERR_NOTE_MALFORMED', 'note text contains a control character');
}

function isUint32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

function uint32Bytes(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

// ---------------------------------------------------------------------------------------------
// Key IDs and key strings.

/**
 * The key ID of a key (signed-note §Signatures): the first four bytes, read big-endian, of
 * `SHA-256(key name || 0x0A || signature type || public key)`.
 *
 * @param name - a valid key name ({@link isValidKeyName}).
 * @param type - the signature type byte: `0x01` Ed25519 notes, `0x04` Ed25519 cosignatures.
 * @param publicKey - the public key encoding (32 bytes for the Ed25519 types).
 * @returns the key ID as an unsigned 32-bit integer.
 * @throws {@link NoteError} `ERR_NOTE_KEY` for an invalid name or type.
 *
 * @example
 * ```ts
 * const id = noteKeyId('PeterNeumann', 0x01, publicKey); // 0xc74f20a3 for Go's test key
 * ```
 */
export function noteKeyId(name: string, type: number, publicKey: Uint8Array): number {
  if (!isValidKeyName(name)) throw new NoteError('ERR_NOTE_KEY', 'invalid key name');
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new NoteError('ERR_NOTE_KEY', 'signature type must be a byte');
  if (!(publicKey instanceof Uint8Array)) throw new NoteError('ERR_NOTE_KEY', 'public key must be a Uint8Array');
  const h = sha256(concatBytes(utf8(name), new Uint8Array([0x0a, type]), publicKey));
  return ((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0;
}

/** Splits `s` at its first '+'; `after` is undefined when there is none (like Go's strings.Cut). */
function cutPlus(s: string): [string, string | undefined] {
  const i = s.indexOf('+');
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

const HEX8 = /^[0-9a-fA-F]{8}$/;

/**
 * Parses a verifier key string `<name>+<key ID as 8 hex digits>+<base64(type || public key)>` (the
 * format of Go's `note.NewVerifier`), checking that the key ID matches the name, type and key.
 * Type-specific checks (length, algorithm) are left to {@link newNoteVerifier} and friends.
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` if the string is malformed or the key ID is wrong.
 *
 * @example
 * ```ts
 * const { name, keyId, type } = parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
 * // name 'PeterNeumann', keyId 0xc74f20a3, type 0x01
 * ```
 */
export function parseVerifierKey(verifierKey: string): VerifierKeyParts {
  if (typeof verifierKey !== 'string') throw new NoteError('ERR_NOTE_KEY', 'verifier key must be a string');
  const [name, rest] = cutPlus(verifierKey);
  if (rest === undefined) throw new NoteError('ERR_NOTE_KEY', 'malformed verifier key');
  const [id16, key64] = cutPlus(rest);
  if (key64 === undefined) throw new NoteError('ERR_NOTE_KEY', 'malformed verifier key');
  const key = fromBase64(key64);
  if (!HEX8.test(id16) || key === null || key.length < 2 || !isValidKeyName(name)) {
    throw new NoteError('ERR_NOTE_KEY', 'malformed verifier key');
  }
  const type = key[0]!;
  const publicKey = key.slice(1);
  const keyId = parseInt(id16, 16) >>> 0;
  if (keyId !== noteKeyId(name, type, publicKey)) throw new NoteError('ERR_NOTE_KEY', 'verifier key ID does not match the key');
  return { name, keyId, type, publicKey };
}

/**
 * Parses a signer key string `PRIVATE+KEY+<name>+<key ID>+<base64(type || 32-byte seed)>` (the
 * format of Go's `note.NewSigner`) of one of the Ed25519 types (`0x01` notes, `0x04`
 * cosignatures), deriving the public key and checking the key ID against it.
 * The returned `seed` is secret.
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` if the string is malformed, the type is not an Ed25519
 * type, or the key ID is wrong.
 *
 * @example
 * ```ts
 * const { name, keyId, type } = parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz');
 * ```
 */
export function parseSignerKey(signerKey: string): SignerKeyParts {
  if (typeof signerKey !== 'string') throw new NoteError('ERR_NOTE_KEY', 'signer key must be a string');
  const [priv1, r1] = cutPlus(signerKey);
  const [priv2, r2] = cutPlus(r1 ?? '');
  const [name, r3] = cutPlus(r2 ?? '');
  const [id16, key64] = cutPlus(r3 ?? '');
  const key = key64 === undefined ? null : fromBase64(key64);
  if (priv1 !== 'PRIVATE' || priv2 !== 'KEY' || !HEX8.test(id16) || key === null || key.length < 1 || !isValidKeyName(name)) {
    throw new NoteError('ERR_NOTE_KEY', 'malformed signer key');
  }
  const type = key[0]!;
  if (!ED25519_FAMILY.has(type)) throw new NoteError('ERR_NOTE_KEY', 'unknown signer key algorithm');
  if (key.length !== 33) throw new NoteError('ERR_NOTE_KEY', 'malformed signer key');
  const seed = key.slice(1);
  key.fill(0);
  const publicKey = ed25519PublicKey(seed);
  const keyId = parseInt(id16, 16) >>> 0;
  // The key ID is a hash of the PUBLIC key: check it once we have derived that (as Go does).
  if (keyId !== noteKeyId(name, type, publicKey)) {
    seed.fill(0);
    throw new NoteError('ERR_NOTE_KEY', 'signer key ID does not match the key');
  }
  return { name, keyId, type, publicKey, seed };
}

/**
 * Encodes a fresh (or seeded) Ed25519 key pair of the given type as signer and verifier key
 * strings. Shared by {@link generateNoteKey} (type `0x01`) and the cosigner key generator (`0x04`).
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` for an invalid name, type or seed.
 *
 * @example
 * ```ts
 * const { signerKey, verifierKey } = generateEd25519NoteKey('witness.example/w1', 0x04);
 * ```
 */
export function generateEd25519NoteKey(name: string, type: 0x01 | 0x04, seed?: Uint8Array): { signerKey: string; verifierKey: string } {
  if (!isValidKeyName(name)) throw new NoteError('ERR_NOTE_KEY', 'invalid key name');
  if (!ED25519_FAMILY.has(type)) throw new NoteError('ERR_NOTE_KEY', 'unsupported signature type');
  if (seed !== undefined && (!(seed instanceof Uint8Array) || seed.length !== 32)) {
    throw new NoteError('ERR_NOTE_KEY', 'seed must be 32 bytes');
  }
  const secret = seed === undefined ? randomBytes(32) : seed.slice();
  const publicKey = ed25519PublicKey(secret);
  const id = hex8(noteKeyId(name, type, publicKey));
  const skeyBytes = concatBytes(new Uint8Array([type]), secret);
  const signerKey = `PRIVATE+KEY+${name}+${id}+${toBase64(skeyBytes)}`;
  const verifierKey = `${name}+${id}+${toBase64(concatBytes(new Uint8Array([type]), publicKey))}`;
  skeyBytes.fill(0);
  secret.fill(0);
  return { signerKey, verifierKey };
}

/**
 * Generates an Ed25519 note key pair (like Go's `note.GenerateKey`): a secret signer key string
 * `PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || seed)>` and the public verifier key string
 * `<name>+<key ID>+<base64(0x01 || public key)>`.
 *
 * @param name - the key name, e.g. the log origin `example.com/log42`.
 * @param seed - optional 32-byte Ed25519 seed (deterministic keys for tests); random by default.
 * @throws {@link NoteError} `ERR_NOTE_KEY` for an invalid name or seed.
 *
 * @example
 * ```ts
 * const { signerKey, verifierKey } = generateNoteKey('example.com/log42');
 * const signed = signNote('hello\n', newNoteSigner(signerKey));
 * openNote(signed, [newNoteVerifier(verifierKey)]);
 * ```
 */
export function generateNoteKey(name: string, seed?: Uint8Array): { signerKey: string; verifierKey: string } {
  return generateEd25519NoteKey(name, SIGNATURE_TYPE_ED25519, seed);
}

/**
 * The verifier key string matching a signer key string (of type `0x01` or `0x04`): same name,
 * key ID and type, with the public key derived from the seed.
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` if the signer key is invalid.
 *
 * @example
 * ```ts
 * verifierKeyFromSigner('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz');
 * // 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
 * ```
 */
export function verifierKeyFromSigner(signerKey: string): string {
  const { name, keyId, type, publicKey, seed } = parseSignerKey(signerKey);
  seed.fill(0);
  return `${name}+${hex8(keyId)}+${toBase64(concatBytes(new Uint8Array([type]), publicKey))}`;
}

/**
 * A {@link NoteSigner} for plain Ed25519 note signatures (signed-note §"Ed25519 signatures") from
 * a signer key string (type `0x01` only; cosigner keys are refused).
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` if the key string is invalid or of another type.
 *
 * @example
 * ```ts
 * const signer = newNoteSigner('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz');
 * const note = signNote('hello\n', signer);
 * ```
 */
export function newNoteSigner(signerKey: string): NoteSigner {
  const { name, keyId, type, seed } = parseSignerKey(signerKey);
  if (type !== SIGNATURE_TYPE_ED25519) {
    seed.fill(0);
    throw new NoteError('ERR_NOTE_KEY', 'not an Ed25519 note signer key');
  }
  return Object.freeze({
    name,
    keyId,
    // RFC 8032 Ed25519 over the note text (signed-note §"Ed25519 signatures"); deterministic.
    sign: (message: Uint8Array): Uint8Array => ed25519Sign(message, seed),
  });
}

/**
 * A {@link NoteVerifier} for plain Ed25519 note signatures from a verifier key string
 * `<name>+<key ID>+<base64(0x01 || 32-byte public key)>` (Go's `note.NewVerifier`).
 *
 * @throws {@link NoteError} `ERR_NOTE_KEY` if the string is malformed, the key ID does not match,
 * or the key is not a type `0x01` Ed25519 key.
 *
 * @example
 * ```ts
 * const verifier = newNoteVerifier('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
 * const { text } = openNote(message, [verifier]);
 * ```
 */
export function newNoteVerifier(verifierKey: string): NoteVerifier {
  const { name, keyId, type, publicKey } = parseVerifierKey(verifierKey);
  if (type !== SIGNATURE_TYPE_ED25519) throw new NoteError('ERR_NOTE_KEY', 'unknown verifier key algorithm');
  if (publicKey.length !== 32) throw new NoteError('ERR_NOTE_KEY', 'malformed verifier key');
  return Object.freeze({
    name,
    keyId,
    verify: (message: Uint8Array, signature: Uint8Array): boolean => ed25519Verify(signature, message, publicKey),
  });
}

// ---------------------------------------------------------------------------------------------
// Notes.

function signatureLine(name: string, base64: string): string {
  return `${EM_DASH_SPACE}${name} ${base64}\n`;
}

/** Encodes one signature line for `signer` over `textBytes` (signed-note §Signatures). */
function noteSignatureLine(signer: NoteSigner, textBytes: Uint8Array): { name: string; keyId: number; line: string } {
  if (signer === null || typeof signer !== 'object' || typeof signer.sign !== 'function') {
    throw new NoteError('ERR_NOTE_KEY', 'invalid signer');
  }
  const { name, keyId } = signer;
  if (!isValidKeyName(name) || !isUint32(keyId)) throw new NoteError('ERR_NOTE_KEY', 'invalid signer');
  const sig = signer.sign(textBytes);
  if (!(sig instanceof Uint8Array) || sig.length === 0) throw new NoteError('ERR_NOTE_KEY', 'signer returned no signature');
  return { name, keyId, line: signatureLine(name, toBase64(concatBytes(uint32Bytes(keyId), sig))) };
}

/**
 * Signs `text` with each signer (like Go's `note.Sign`): returns `text`, a blank line, and one
 * signature line `— <name> <base64(key ID || signature)>` per signer, in order
 * (signed-note §Format and §Signatures). The signature covers the text including its final
 * newline, not the blank line.
 *
 * @param text - the note text: non-empty, valid Unicode, ending in `\n`, with no other ASCII
 *   control characters. It may contain blank lines.
 * @throws {@link NoteError} `ERR_NOTE_MALFORMED` for an invalid text or no / too many signers;
 * `ERR_NOTE_KEY` for an invalid signer.
 *
 * @example
 * ```ts
 * const note = signNote('If you think cryptography is the answer to your problem,\nthen you don\'t know what your problem is.\n',
 *   newNoteSigner('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'));
 * // ends with '— PeterNeumann x08go/ZJkuBS9UG/…JnAM=\n'
 * ```
 */
export function signNote(text: string, ...signers: NoteSigner[]): string {
  assertNoteText(text);
  if (signers.length === 0) throw new NoteError('ERR_NOTE_MALFORMED', 'a signed note needs at least one signature');
  if (signers.length > MAX_NOTE_SIGNATURES) throw new NoteError('ERR_NOTE_MALFORMED', 'too many signatures');
  const bytes = utf8(text);
  let out = text + '\n';
  for (const s of signers) out += noteSignatureLine(s, bytes).line;
  return out;
}

/**
 * Splits a signed note into text and signature lines and checks the syntax (signed-note §Format),
 * without verifying anything: valid UTF-8 with no control character but newline; the text ends
 * at the LAST blank line; every following line is `— <valid key name> <canonical base64 of at
 * least 5 bytes>` and ends in a newline; at most {@link MAX_NOTE_SIGNATURES} lines.
 *
 * @param message - the note as a string or as UTF-8 bytes (invalid UTF-8 is malformed).
 * @throws {@link NoteError} `ERR_NOTE_MALFORMED` on any deviation.
 *
 * @example
 * ```ts
 * const { text, signatures } = parseNote(message);
 * for (const s of signatures) console.log(s.name, s.keyId.toString(16));
 * ```
 */
export function parseNote(message: string | Uint8Array): ParsedNote {
  let msg: string;
  // What the engine says is a Uint8Array, another realm's too (`instanceof` refused a note read
  // through node:vm: outside review 6, test/review6-parse-note-bytes-realm.test.ts).
  if (isBytes(message)) {
    try {
      msg = fromUtf8(plainBytes(message));
    } catch {
      throw new NoteError('ERR_NOTE_MALFORMED', 'note is not valid UTF-8');
    }
  } else if (typeof message === 'string') {
    if (!isWellFormed(message)) throw new NoteError('ERR_NOTE_MALFORMED', 'note is not valid Unicode');
    msg = message;
  } else {
    throw new NoteError('ERR_NOTE_MALFORMED', 'note must be a string or bytes');
  }
  if (CONTROL_EXCEPT_NEWLINE.test(msg)) throw new NoteError('ERR_NOTE_MALFORMED', 'note contains a control character');
  // The text is separated from the signatures by the last empty line (signed-note §Format).
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('ERR_NOTE_MALFORMED', 'note has no signature block');
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (block.length === 0 || !block.endsWith('\n')) throw new NoteError('ERR_NOTE_MALFORMED', 'note has no signature block');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError('ERR_NOTE_MALFORMED', 'too many signatures');
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(EM_DASH_SPACE)) throw new NoteError('ERR_NOTE_MALFORMED', 'malformed signature line');
    const rest = line.slice(EM_DASH_SPACE.length);
    const sp = rest.indexOf(' ');
    const name = sp < 0 ? rest : rest.slice(0, sp);
    const base64 = sp < 0 ? '' : rest.slice(sp + 1);
    const raw = fromBase64(base64);
    if (!isValidKeyName(name) || raw === null || raw.length < 5) throw new NoteError('ERR_NOTE_MALFORMED', 'malformed signature line');
    const keyId = ((raw[0]! << 24) | (raw[1]! << 16) | (raw[2]! << 8) | raw[3]!) >>> 0;
    signatures.push({ name, keyId, signature: raw.slice(4), base64 });
  }
  return { text, signatures };
}

/**
 * Verifies the signatures of a parsed note from `verifiers` with the rules of signed-note
 * §Signatures (and Go's `note.Open`): a line is from a known key when its name AND key ID match a
 * verifier; the first line per known key is verified and later duplicates skipped; a failure is
 * an error. Unknown keys are returned separately, identical lines once.
 */
function verifyNoteSignatures(
  parsed: ParsedNote,
  verifiers: readonly NoteVerifier[],
): { verified: (NoteSignature & { verifier: NoteVerifier })[]; unverified: NoteSignature[] } {
  if (!Array.isArray(verifiers)) throw new NoteError('ERR_NOTE_KEY', 'verifiers must be an array');
  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    if (v === null || typeof v !== 'object' || typeof v.verify !== 'function' || typeof v.name !== 'string' || !isUint32(v.keyId)) {
      throw new NoteError('ERR_NOTE_KEY', 'invalid verifier');
    }
    const k = `${v.name}\n${v.keyId}`;
    const list = known.get(k);
    if (list) list.push(v);
    else known.set(k, [v]);
  }
  const textBytes = utf8(parsed.text);
  const verified: (NoteSignature & { verifier: NoteVerifier })[] = [];
  const unverified: NoteSignature[] = [];
  const seen = new Set<string>();
  const seenUnknown = new Set<string>();
  for (const sig of parsed.signatures) {
    const k = `${sig.name}\n${sig.keyId}`;
    const list = known.get(k);
    if (list === undefined) {
      // signed-note §Signatures: verifiers MUST ignore signatures from unknown keys.
      const line = `${sig.name} ${sig.base64}`;
      if (!seenUnknown.has(line)) {
        seenUnknown.add(line);
        unverified.push(sig);
      }
      continue;
    }
    if (list.length > 1) throw new NoteError('ERR_NOTE_KEY', `ambiguous key ${sig.name}+${hex8(sig.keyId)}`);
    if (seen.has(k)) continue; // repeated signature by one key: only the first counts (as in Go)
    seen.add(k);
    const v = list[0]!;
    let ok: boolean;
    try {
      ok = v.verify(textBytes, sig.signature) === true;
    } catch {
      ok = false;
    }
    // signed-note §Signatures: a known key's signature MUST be verified; if it fails, clients
    // SHOULD reject the whole note. We do (as Go does).
    if (!ok) throw new NoteError('ERR_NOTE_INVALID_SIGNATURE', `invalid signature for key ${sig.name}+${hex8(sig.keyId)}`);
    verified.push({ ...sig, verifier: v });
  }
  return { verified, unverified };
}

/**
 * Parses and verifies a signed note (like Go's `note.Open`).
 *
 * - Malformed notes are rejected (see {@link parseNote}).
 * - A signature line whose name and key ID match a verifier is verified; if it does not verify
 *   the whole note is rejected (`ERR_NOTE_INVALID_SIGNATURE`).
 * - Lines from unknown keys (even sharing the name OR the ID of a known key) are ignored and
 *   listed in `unverified` (signed-note §Signatures).
 * - If no known key signed, the note is rejected (`ERR_NOTE_UNVERIFIED`).
 * - Two verifiers with the same name and key ID are an error if a line uses them (`ERR_NOTE_KEY`).
 *
 * @param message - the signed note, as a string or UTF-8 bytes.
 * @param verifiers - the trusted keys.
 * @throws {@link NoteError} as described above.
 *
 * @example
 * ```ts
 * const verifier = newNoteVerifier('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW');
 * const { text, verified, unverified } = openNote(message, [verifier]);
 * ```
 */
export function openNote(message: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(message);
  const { verified, unverified } = verifyNoteSignatures(parsed, verifiers);
  // signed-note §Signatures: if no signature from a known key verifies, clients MUST reject the note.
  if (verified.length === 0) throw new NoteError('ERR_NOTE_UNVERIFIED', 'note has no verifiable signatures');
  return {
    text: parsed.text,
    verified: verified.map((s) => ({ name: s.name, keyId: s.keyId })),
    unverified: unverified.map((s) => ({ name: s.name, keyId: s.keyId })),
  };
}
