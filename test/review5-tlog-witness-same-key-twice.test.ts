/**
 * Review 2026-12-02 (second; suspected by the tlog review, reproduced here): the witness quorum
 * counted names, not witnesses.
 *
 * Was: `witnesses` listing one public key under two names (a copy-paste in the auditor's
 * configuration, or a witness that offered two names) let that one witness — cosigning under both
 * names with its one private key — meet a quorum of 2: `verifyAuditLog` and `verifyAuditStream`
 * said ok, and the rollback protection of "two independent witnesses" rested on one.
 *
 * Now: a `witnesses` list with one public key under two names is refused (`ERR_INVALID_INPUT`
 * naming `witnesses`), as a policy with one approver key under two ids is.
 */
import { describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review-witness-twice';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(15));
const seed = new Uint8Array(32).fill(21);
const asA = generateCosignerKey('witness.example/a', seed);
const asB = generateCosignerKey('witness.example/b', seed); // the same key under another name
const other = generateCosignerKey('witness.example/c', new Uint8Array(32).fill(22));

function fixture() {
  const entries = [0, 1, 2].map((i) => encodeEntry(sampleEvent(i)));
  const tree = new MerkleTree();
  for (const e of entries) tree.append(leafHash(e));
  let note = signCheckpoint({ origin: ORIGIN, size: 3, rootHash: tree.root(), extensions: [] }, newNoteSigner(keys.signerKey));
  const now = () => Math.floor(Date.now() / 1000);
  note = cosignCheckpoint(note, newCosigner(asA.signerKey, now));
  note = cosignCheckpoint(note, newCosigner(asB.signerKey, now));
  return { entries, checkpoints: [note] };
}

describe('a witness quorum counts witnesses, not names', () => {
  it('one key under two names is refused, in both verifiers', async () => {
    const input = { verifierKey: keys.verifierKey, ...fixture(), witnesses: [asA.verifierKey, asB.verifierKey], witnessQuorum: 2 };
    expect(() => verifyAuditLog(input)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'witnesses' }));
    await expect(verifyAuditStream(input)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'witnesses' });
  });

  it('distinct keys still count: one real witness out of two required is reported, not refused', () => {
    const r = verifyAuditLog({ verifierKey: keys.verifierKey, ...fixture(), witnesses: [asA.verifierKey, other.verifierKey], witnessQuorum: 2 });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.kind)).toEqual(['witness']);
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, ...fixture(), witnesses: [asA.verifierKey, other.verifierKey], witnessQuorum: 1 }).ok).toBe(true);
  });
});
