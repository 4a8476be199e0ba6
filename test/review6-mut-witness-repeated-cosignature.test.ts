/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: "audit verify: a
 * witness quorum counts distinct witness keys" — held, the table said, by
 * test/review5-tlog-witness-same-key-twice.test.ts (with the three other review5-tlog files).
 *
 * Survived: in src/audit/note.ts `verifyNoteSignatures` no longer skipping a second signature line
 * by a key it has already verified (`if (seen.has(k)) continue;` removed). One witness that
 * cosigns the same checkpoint twice (two lines, two timestamps, one private key) then met a
 * quorum of two on its own: `verifyAuditLog` and `verifyAuditStream` said ok, and "two
 * independent witnesses" against a rollback rested on one. The named files still passed: they
 * test one key listed under two names in the auditor's `witnesses` (refused as input), never one
 * key signing twice in the note.
 *
 * Now asserted: a checkpoint carrying two valid cosignature lines of witness A (and none of C),
 * checked with witnesses [A, C] and quorum 2, is reported (kind `witness`, ok false) by both
 * verifiers, A's cosignature is reported once, and quorum 1 still passes.
 */
import { describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review6-witness-repeat';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(31));
const a = generateCosignerKey('witness.example/a', new Uint8Array(32).fill(32));
const c = generateCosignerKey('witness.example/c', new Uint8Array(32).fill(33));

function fixture() {
  const entries = [0, 1, 2].map((i) => encodeEntry(sampleEvent(i)));
  const tree = new MerkleTree();
  for (const e of entries) tree.append(leafHash(e));
  const base = signCheckpoint({ origin: ORIGIN, size: 3, rootHash: tree.root(), extensions: [] }, newNoteSigner(keys.signerKey));
  const now = Math.floor(Date.now() / 1000);
  const first = cosignCheckpoint(base, newCosigner(a.signerKey, () => now - 1));
  const second = cosignCheckpoint(base, newCosigner(a.signerKey, () => now));
  // The second cosignature's line (the last line of `second`), appended to `first`: A signed twice.
  const lines = second.trimEnd().split('\n');
  const note = `${first}${lines[lines.length - 1]}\n`;
  expect(note.split('\n').filter((l) => l.startsWith('\u2014 witness.example/a ')).length).toBe(2);
  return { entries, checkpoints: [note] };
}

describe('a witness quorum counts distinct witness keys, not signature lines', () => {
  it('one witness cosigning twice does not meet a quorum of two (both verifiers)', async () => {
    const input = { verifierKey: keys.verifierKey, ...fixture(), witnesses: [a.verifierKey, c.verifierKey], witnessQuorum: 2 };
    const r = verifyAuditLog(input);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.kind)).toEqual(['witness']);
    expect(r.cosignatures.map((x) => x.name)).toEqual(['witness.example/a']);
    const s = await verifyAuditStream(input);
    expect(s.ok).toBe(false);
    expect(s.problems.map((p) => p.kind)).toEqual(['witness']);
    expect(s.cosignatures.map((x) => x.name)).toEqual(['witness.example/a']);
  });

  it('the same note meets a quorum of one', async () => {
    const input = { verifierKey: keys.verifierKey, ...fixture(), witnesses: [a.verifierKey, c.verifierKey], witnessQuorum: 1 };
    expect(verifyAuditLog(input).ok).toBe(true);
    expect((await verifyAuditStream(input)).ok).toBe(true);
  });
});
