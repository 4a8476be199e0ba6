/**
 * Outside review (verify path): a witness may sign any uint64 timestamp (tlog-cosignature: up to
 * 2^63 - 1; keywarden accepts up to 2^53 - 1 and returns it "not judged"). The CLI already renders
 * such a time without a RangeError (src/cli/audit.ts cosignedAt), but the verifier's own
 * `--witness-max-age` message does `new Date(newest * 1000).toISOString()`
 * (src/audit/verify.ts checkWitnesses), which throws `RangeError: Invalid time value` for a time
 * past year 275760. So when one configured witness's cosignature carries such a time and another
 * one's is stale, `verifyAuditLog` / `verifyAuditStream` — documented as "never throws for bad log
 * data" — throw, and `audit verify` exits 3 ("could not complete") with no report instead of 1.
 *
 * Correct behaviour: no exception; the stale quorum is reported as a `witness` problem.
 *
 * Now: both messages use unixSecondsText (src/audit/verify.ts), which never throws.
 */
import { describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review-witness-time';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(15));
const w1 = generateCosignerKey('witness.example/w1', new Uint8Array(32).fill(16));
const w2 = generateCosignerKey('witness.example/w2', new Uint8Array(32).fill(17));

function fixture() {
  const entries = [0, 1, 2].map((i) => encodeEntry(sampleEvent(i)));
  const tree = new MerkleTree();
  for (const e of entries) tree.append(leafHash(e));
  let note = signCheckpoint({ origin: ORIGIN, size: 3, rootHash: tree.root(), extensions: [] }, newNoteSigner(keys.signerKey));
  note = cosignCheckpoint(note, newCosigner(w1.signerKey, () => Number.MAX_SAFE_INTEGER)); // far future
  note = cosignCheckpoint(note, newCosigner(w2.signerKey, () => 1_000_000_000)); // 2001: stale
  return { entries, checkpoints: [note] };
}

const options = { witnesses: [w1.verifierKey, w2.verifierKey], witnessQuorum: 2, witnessMaxAgeMs: 3_600_000 };

describe('witness max age with a cosignature time past what a Date holds', () => {
  it('verifyAuditLog reports a witness problem instead of throwing', () => {
    const { entries, checkpoints } = fixture();
    let report: ReturnType<typeof verifyAuditLog> | undefined;
    let thrown: unknown;
    try {
      report = verifyAuditLog({ verifierKey: keys.verifierKey, entries, checkpoints, ...options });
    } catch (err) {
      thrown = err;
    }
    expect(thrown === undefined ? undefined : String(thrown)).toBeUndefined();
    expect(report?.ok).toBe(false);
    expect(report?.problems.map((p) => p.kind)).toEqual(['witness']);
  });

  it('verifyAuditStream reports a witness problem instead of throwing', async () => {
    const { entries, checkpoints } = fixture();
    const result = await verifyAuditStream({ verifierKey: keys.verifierKey, entries, checkpoints, ...options }).then(
      (r) => ({ ok: r.ok, kinds: r.problems.map((p) => p.kind) }),
      (err: unknown) => ({ thrown: String(err) }),
    );
    expect(result).toEqual({ ok: false, kinds: ['witness'] });
  });
});
