/**
 * Fuzzing the C2SP text formats (issue #11): signed notes, note key strings, checkpoints,
 * cosignatures and tlog-proof files. Mutants start from genuine notes (signed by the log, by two
 * witnesses and by a key nobody knows), genuine key strings and genuine proofs. Properties:
 *  - parsers accept only the one canonical spelling (what parses re-encodes to the input) and
 *    throw nothing but NoteErrors with the documented code;
 *  - nothing verifies that was not signed: an opened note's text, a checkpoint, a cosignature
 *    and a proof's entry are always the genuine ones;
 *  - errors about key strings never repeat the key (a signer key is a secret);
 *  - verifyTlogProof never throws; the parsers take time linear in their input and refuse more
 *    than MAX_NOTE_SIGNATURES signature lines.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  cosignCheckpoint,
  formatCheckpoint,
  generateCosignerKey,
  newCosignatureVerifier,
  newCosigner,
  openCheckpoint,
  parseCheckpoint,
  verifyCosignatures,
} from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { formatTlogProof, parseTlogProof, verifyTlogProof } from '../src/audit/formats.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import {
  MAX_NOTE_SIGNATURES,
  type ParsedNote,
  generateNoteKey,
  newNoteSigner,
  newNoteVerifier,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyFromSigner,
} from '../src/audit/note.js';
import type { AnyKeywardenError } from '../src/errors.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { attempt, expectLinear, mutatedBytes, mutatedText, neverThrows, notBytes, params } from './support/fuzz.js';

const enc = new TextEncoder();
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

const ORIGIN = 'fuzz.example/log';
const LOG = generateNoteKey(ORIGIN, new Uint8Array(32).fill(31));
const STRANGER = generateNoteKey('stranger.example/k', new Uint8Array(32).fill(32));
const W1 = generateCosignerKey('fuzz.example/w1', new Uint8Array(32).fill(33));
const W2 = generateCosignerKey('fuzz.example/w2', new Uint8Array(32).fill(34));
const LOG_SIGNER = newNoteSigner(LOG.signerKey);
const LOG_VERIFIER = newNoteVerifier(LOG.verifierKey);
const VERIFIERS = [LOG_VERIFIER, newCosignatureVerifier(W1.verifierKey), newCosignatureVerifier(W2.verifierKey)];
const KEYS = [LOG.signerKey, LOG.verifierKey, W1.signerKey, W1.verifierKey, STRANGER.signerKey, STRANGER.verifierKey];
const SECRETS = [LOG.signerKey, W1.signerKey, STRANGER.signerKey].map((k) => k.split('+').at(-1)!);

const entries = Array.from({ length: 9 }, (_, i) => encodeEntry(sampleEvent(i)));
const tree = new MerkleTree();
for (const e of entries) tree.append(leafHash(e));
const CHECKPOINTS: Checkpoint[] = [
  { origin: ORIGIN, size: 9, rootHash: tree.root(9), extensions: [] },
  { origin: ORIGIN, size: 5, rootHash: tree.root(5), extensions: ['ext one', 'é😀'] },
];
const cosigned = (c: Checkpoint) =>
  cosignCheckpoint(cosignCheckpoint(signNote(formatCheckpoint(c), LOG_SIGNER, newNoteSigner(STRANGER.signerKey)), newCosigner(W1.signerKey, () => 1_700_000_000)), newCosigner(W2.signerKey, () => 1_700_000_001));
const CHECKPOINT_NOTES = CHECKPOINTS.map(cosigned);
const TEXTS = ['hello\n', 'If you think cryptography is the answer to your problem,\nthen you don\'t know what your problem is.\n', '\n\n\n', 'é😀 — + =\n\nsecond paragraph\n'];
const NOTES = [...TEXTS.map((t) => signNote(t, LOG_SIGNER, newNoteSigner(STRANGER.signerKey))), ...CHECKPOINT_NOTES];
const GENUINE_TEXTS = new Set([...TEXTS, ...CHECKPOINTS.map(formatCheckpoint)]);
const PROOFS = [
  ...[0, 4, 8].map((i) => formatTlogProof(i, tree.inclusionProof(i, 9), CHECKPOINT_NOTES[0]!)),
  formatTlogProof(2, tree.inclusionProof(2, 5), CHECKPOINT_NOTES[1]!).replace('\nindex', `\nextra ${b64(enc.encode('extra data'))}\nindex`),
];

/** The error's code, after checking that no key string or secret is repeated in its message. */
function codeOf(e: AnyKeywardenError, input: unknown): string {
  for (const s of SECRETS) expect(e.message).not.toContain(s);
  if (typeof input === 'string' && input.length >= 16) expect(e.message).not.toContain(input);
  return e.code;
}

/** The signed-note encoding of a parsed note: what parseNote must have been given. */
const reencode = (p: ParsedNote) => `${p.text}\n${p.signatures.map((s) => `\u2014 ${s.name} ${s.base64}\n`).join('')}`;

describe('fuzz: signed notes', () => {
  it('parseNote of mutated notes (text or UTF-8 bytes): the canonical spelling, or ERR_NOTE_MALFORMED', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedText(NOTES), mutatedBytes(NOTES.map((n) => enc.encode(n)))), (m) => {
        const r = attempt(() => parseNote(m));
        if (!r.ok) expect(codeOf(r.error, m)).toBe('ERR_NOTE_MALFORMED');
        else expect(same(enc.encode(reencode(r.value)), typeof m === 'string' ? enc.encode(m) : m)).toBe(true);
      }),
      params(250),
    );
  });

  it('openNote of mutated notes: a NoteError, or a genuine text verified by known keys only', () => {
    fc.assert(
      fc.property(mutatedText(NOTES), (m) => {
        const r = attempt(() => openNote(m, VERIFIERS));
        if (!r.ok) {
          expect(codeOf(r.error, m)).toMatch(/^ERR_NOTE_(MALFORMED|UNVERIFIED|INVALID_SIGNATURE)$/);
          return;
        }
        expect(GENUINE_TEXTS.has(r.value.text)).toBe(true);
        for (const v of r.value.verified) expect(VERIFIERS.some((k) => k.name === v.name && k.keyId === v.keyId)).toBe(true);
      }),
      params(150),
    );
  });

  it('arbitrary values as notes and verifier lists: only NoteErrors', () => {
    fc.assert(
      fc.property(fc.oneof(notBytes, fc.string({ unit: 'binary', maxLength: 40 })), fc.oneof(fc.constant(VERIFIERS), fc.anything({ maxDepth: 1 })), (m, vs) => {
        const r = attempt(() => openNote(m as string, vs as never));
        if (!r.ok) expect(r.error.code).toMatch(/^ERR_NOTE_/);
      }),
      params(300),
    );
  });

  it(`refuses more than MAX_NOTE_SIGNATURES (${MAX_NOTE_SIGNATURES}) signature lines, however many`, () => {
    const line = NOTES[0]!.slice('hello\n\n'.length).split('\n')[0]!;
    const note = (n: number) => `hello\n\n${`${line}\n`.repeat(n)}`;
    expect(parseNote(note(MAX_NOTE_SIGNATURES)).signatures).toHaveLength(MAX_NOTE_SIGNATURES);
    for (const n of [MAX_NOTE_SIGNATURES + 1, 20_000]) {
      const r = attempt(() => parseNote(note(n)));
      expect(!r.ok && r.error.message).toBe('too many signatures');
    }
  });

  it('parseNote and openNote take time linear in the note size', () => {
    const big = (n: number) => signNote(`${'line é😀 — +=\n'.repeat(n)}\n`, LOG_SIGNER);
    expectLinear('parseNote (long text)', big, (m) => parseNote(m), 500);
    expectLinear('openNote (long text)', big, (m) => openNote(m, VERIFIERS), 500);
    const longSignature = (n: number) => `hello\n\n\u2014 k ${'AAAA'.repeat(n)}\n`;
    expectLinear('parseNote (long signature line)', longSignature, (m) => parseNote(m), 2000);
    const manyLines = (n: number) => `${'x\n\n'.repeat(n)}\u2014 k AAAAAAAA\n`;
    expectLinear('parseNote (many blank lines)', manyLines, (m) => parseNote(m), 2000);
  });
});

describe('fuzz: note key strings', () => {
  /** Independent key ID: SHA-256(name || 0x0A || type || key)[:4], via node:crypto. */
  const keyIdOf = (name: string, type: number, key: Uint8Array) => createHash('sha256').update(name).update(Buffer.from([0x0a, type])).update(key).digest().readUInt32BE(0);

  it('mutated key strings: ERR_NOTE_KEY without repeating the key, or a key whose ID checks out', () => {
    fc.assert(
      fc.property(mutatedText(KEYS), (k) => {
        const v = attempt(() => parseVerifierKey(k));
        if (v.ok) expect(v.value.keyId).toBe(keyIdOf(v.value.name, v.value.type, v.value.publicKey));
        else expect(codeOf(v.error, k)).toBe('ERR_NOTE_KEY');
        const s = attempt(() => parseSignerKey(k));
        if (s.ok) {
          expect(s.value.keyId).toBe(keyIdOf(s.value.name, s.value.type, s.value.publicKey));
          const vk = verifierKeyFromSigner(k);
          if (s.value.type === 1) expect(openNote(signNote('x\n', newNoteSigner(k)), [newNoteVerifier(vk)]).verified).toHaveLength(1);
        } else {
          expect(codeOf(s.error, k)).toBe('ERR_NOTE_KEY');
        }
        for (const make of [newNoteVerifier, newNoteSigner, newCosignatureVerifier, (x: string) => newCosigner(x)]) {
          const r = attempt(() => make(k));
          if (!r.ok) expect(codeOf(r.error, k)).toBe('ERR_NOTE_KEY');
        }
      }),
      params(100),
    );
  });
});

describe('fuzz: checkpoints and cosignatures', () => {
  const bodies = CHECKPOINTS.map(formatCheckpoint);

  it('parseCheckpoint of mutated bodies: the canonical body, or ERR_CHECKPOINT_MALFORMED', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedText(bodies), fc.anything({ maxDepth: 1 })), (t) => {
        const r = attempt(() => parseCheckpoint(t as string));
        if (r.ok) expect(formatCheckpoint(r.value)).toBe(t);
        else expect(codeOf(r.error, t)).toBe('ERR_CHECKPOINT_MALFORMED');
      }),
      params(300),
    );
  });

  it('openCheckpoint and verifyCosignatures of mutated notes: NoteErrors, or exactly the genuine checkpoint and cosignatures', () => {
    fc.assert(
      fc.property(mutatedText(CHECKPOINT_NOTES), (m) => {
        const c = attempt(() => openCheckpoint(m, LOG_VERIFIER, ORIGIN));
        if (c.ok) expect(CHECKPOINTS.some((g) => formatCheckpoint(g) === formatCheckpoint(c.value.checkpoint))).toBe(true);
        else expect(codeOf(c.error, m)).toMatch(/^ERR_(NOTE|CHECKPOINT)_/);
        const w = attempt(() => verifyCosignatures(m, [W1.verifierKey, W2.verifierKey]));
        if (w.ok) {
          for (const s of w.value) expect([`fuzz.example/w1@1700000000`, `fuzz.example/w2@1700000001`]).toContain(`${s.name}@${s.time}`);
          if (w.value.length > 0) expect(GENUINE_TEXTS.has(parseNote(m).text)).toBe(true);
        } else {
          expect(codeOf(w.error, m)).toMatch(/^ERR_(NOTE|CHECKPOINT)_/);
        }
        const cs = attempt(() => cosignCheckpoint(m, newCosigner(W1.signerKey, () => 5)));
        if (cs.ok) expect(parseNote(cs.value).text).toBe(parseNote(m).text);
        else expect(codeOf(cs.error, m)).toMatch(/^ERR_(NOTE|CHECKPOINT)_/);
      }),
      params(40),
    );
  });

  it('parseCheckpoint takes time linear in the body size; a huge tree size is refused', () => {
    const body = (n: number) => formatCheckpoint({ ...CHECKPOINTS[0]!, extensions: Array.from({ length: n }, (_, i) => `ext ${i} é😀`) });
    expectLinear('parseCheckpoint (extension lines)', body, parseCheckpoint, 1000);
    const r = attempt(() => parseCheckpoint(`${ORIGIN}\n${'9'.repeat(1_000_000)}\n${b64(new Uint8Array(32))}\n`));
    expect(!r.ok && r.error.code).toBe('ERR_CHECKPOINT_MALFORMED');
  });
});

describe('fuzz: tlog-proof files', () => {
  it('parseTlogProof of mutated proofs: the canonical file, or ERR_PROOF_MALFORMED', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedText(PROOFS), fc.anything({ maxDepth: 1 })), (t) => {
        const r = attempt(() => parseTlogProof(t as string));
        if (!r.ok) {
          expect(codeOf(r.error, t)).toBe('ERR_PROOF_MALFORMED');
          return;
        }
        const p = r.value;
        const canonical = formatTlogProof(p.index, p.proof, p.checkpoint);
        expect(p.extra === undefined ? canonical : canonical.replace('\nindex', `\nextra ${b64(p.extra)}\nindex`)).toBe(t);
      }),
      params(300),
    );
  });

  it('verifyTlogProof of mutated proofs, entries and keys: never throws; ok only for a genuine entry at its index', () => {
    const entryArb = fc.oneof(fc.constantFrom(...entries), mutatedBytes(entries), notBytes);
    const keyArb = fc.oneof(fc.constant(LOG.verifierKey), mutatedText([LOG.verifierKey]), fc.anything({ maxDepth: 1 }));
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...PROOFS), mutatedText(PROOFS)), entryArb, keyArb, (t, entry, key) => {
        const r = neverThrows(() => verifyTlogProof(t, entry as Uint8Array, key as string));
        if (!r.ok) return;
        expect(key).toBe(LOG.verifierKey);
        expect(same(entry as Uint8Array, entries[r.index!]!)).toBe(true);
        expect([5, 9]).toContain(r.size);
      }),
      params(200),
    );
  });

  it('parseTlogProof takes time linear in the number of proof lines', () => {
    const proof = (n: number) => formatTlogProof(3, Array.from({ length: n }, (_, i) => tree.root((i % 9) + 1)), CHECKPOINT_NOTES[0]!);
    expectLinear('parseTlogProof', proof, parseTlogProof, 250);
  });
});
