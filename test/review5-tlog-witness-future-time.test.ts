/**
 * Outside review 5 (tlog read side): `--witness-max-age` / `witnessMaxAgeMs` is the verifier's
 * only defence against a store rolled back to an older, cosigned checkpoint (docs/AUDIT.md §5
 * item 7): "that many of them must be that recent". The check was `time * 1000 >= now - maxAge`
 * only (src/audit/verify.ts checkWitnesses), so a cosignature dated in the FUTURE — by any
 * amount: a year, or 2^53 - 1 seconds — counted as fresh. A witness whose clock was once wrong
 * (tlog-cosignature timestamps are whatever the witness's clock said; keywarden's own
 * verifyCosignatures documents "verifiers MAY reject future ones") thus hands the operator a
 * checkpoint that passes the freshness check for as long as its bogus date lies ahead: roll the
 * store back to it at any time and `audit verify --witness-max-age 1d` says OK.
 *
 * Now: a cosignature is fresh only when its time is within the maximum age of the auditor's
 * clock in either direction (now - maxAge <= time <= now + maxAge); one dated further ahead does
 * not count towards the quorum, and the problem says it is dated in the future.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review5-witness-future';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(51));
const w1 = generateCosignerKey('witness.example/w1', new Uint8Array(32).fill(52));
const NOW_MS = Date.parse('2026-12-02T08:00:00.000Z');
const DAY_MS = 86_400_000;

const entries = [0, 1, 2].map((i) => encodeEntry(sampleEvent(i)));
const tree = new MerkleTree();
for (const e of entries) tree.append(leafHash(e));
const logNote = signCheckpoint({ origin: ORIGIN, size: 3, rootHash: tree.root(), extensions: [] }, newNoteSigner(keys.signerKey));
/** The log's checkpoint, cosigned by w1 with the given time (Unix seconds). */
const cosignedAt = (seconds: number) => cosignCheckpoint(logNote, newCosigner(w1.signerKey, () => seconds));

const input = (checkpoint: string, maxAgeMs: number) => ({
  verifierKey: keys.verifierKey, entries, checkpoints: [checkpoint],
  witnesses: [w1.verifierKey], witnessQuorum: 1, witnessMaxAgeMs: maxAgeMs, now: () => NOW_MS,
});

async function both(checkpoint: string, maxAgeMs: number) {
  const a = verifyAuditLog(input(checkpoint, maxAgeMs));
  const b = await verifyAuditStream(input(checkpoint, maxAgeMs));
  return { log: { ok: a.ok, kinds: a.problems.map((p) => p.kind) }, stream: { ok: b.ok, kinds: b.problems.map((p) => p.kind) } };
}

describe('witness max age and cosignatures dated in the future', () => {
  it('a cosignature dated a year ahead of the auditor is not fresh (both verifiers)', async () => {
    const note = cosignedAt(Math.floor((NOW_MS + 365 * DAY_MS) / 1000));
    const r = await both(note, DAY_MS);
    expect(r).toEqual({ log: { ok: false, kinds: ['witness'] }, stream: { ok: false, kinds: ['witness'] } });
    expect(verifyAuditLog(input(note, DAY_MS)).problems[0]!.message).toMatch(/future/);
  });

  it('a cosignature dated 2^53 - 1 seconds is not fresh', async () => {
    const r = await both(cosignedAt(Number.MAX_SAFE_INTEGER), DAY_MS);
    expect(r).toEqual({ log: { ok: false, kinds: ['witness'] }, stream: { ok: false, kinds: ['witness'] } });
  });

  it('for all times: fresh exactly when within the maximum age of the auditor\'s clock, either way', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: -5 * DAY_MS, max: 5 * DAY_MS }), fc.integer({ min: 1_000, max: 2 * DAY_MS }), async (offsetMs, maxAgeMs) => {
        const seconds = Math.floor((NOW_MS + offsetMs) / 1000);
        const fresh = Math.abs(seconds * 1000 - NOW_MS) <= maxAgeMs;
        const r = await both(cosignedAt(seconds), maxAgeMs);
        const want = fresh ? { ok: true, kinds: [] } : { ok: false, kinds: ['witness'] };
        expect(r).toEqual({ log: want, stream: want });
      }),
      { numRuns: 60 },
    );
  });
});
