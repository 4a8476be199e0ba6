/**
 * Outside review (verify path): docs/AUDIT.md §5 says the streaming verifier's memory holds the
 * tree's right edge "whatever the log's size". Its report does not: ONE modified entry makes
 * every later checkpoint of the history a separate `checkpoint-root` problem (each with the note
 * as evidence), all kept in memory and printed. A log checkpointed once a second for a year has
 * ~3*10^7 checkpoints, so one flipped byte in an early entry makes `audit verify` build a report of
 * gigabytes (and run out of memory) instead of printing the evidence. Tile mismatches are already
 * capped (MAX_TILE_PROBLEMS = 20); checkpoint (and entry) problems are not.
 *
 * Correct behaviour: the number of problems kept does not grow with the number of checkpoints
 * that a single modification invalidates.
 * Now: at most MAX_PROBLEMS_PER_KIND (20) of each kind are listed, the rest counted in one more
 * problem of that kind (src/audit/verify.ts ProblemList), in both verifiers.
 */
import { describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review-bound';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(12));

function log(n: number): { entries: Uint8Array[]; checkpoints: string[] } {
  const signer = newNoteSigner(keys.signerKey);
  const tree = new MerkleTree();
  const entries: Uint8Array[] = [];
  const checkpoints: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = encodeEntry(sampleEvent(i));
    entries.push(e);
    tree.append(leafHash(e));
    checkpoints.push(signCheckpoint({ origin: ORIGIN, size: tree.size, rootHash: tree.root(), extensions: [] }, signer));
  }
  return { entries, checkpoints };
}

describe('verifyAuditStream keeps a bounded report', () => {
  it('one modified entry does not yield one problem per later checkpoint', async () => {
    const { entries, checkpoints } = log(3000);
    entries[0] = encodeEntry({ ...sampleEvent(0), actor: 'tampered' }); // still parses: only the tree catches it
    const report = await verifyAuditStream({ verifierKey: keys.verifierKey, entries, checkpoints });
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ kind: 'checkpoint-root', index: 0 });
    const bytes = JSON.stringify(report).length;
    expect({ problems: report.problems.length, reportBytes: bytes }).toEqual({
      problems: expect.toSatisfy((n: number) => n <= 100),
      reportBytes: expect.toSatisfy((b: number) => b < 200_000),
    });
    // The rest are counted, not dropped silently: 2999 later checkpoints miss their root.
    expect(report.problems.at(-1)).toMatchObject({ kind: 'checkpoint-root', message: expect.stringMatching(/^2980 more checkpoint-root problems were found and not listed/) });
    const inMemory = verifyAuditLog({ verifierKey: keys.verifierKey, entries, checkpoints });
    expect(inMemory.ok).toBe(false);
    expect(inMemory.problems.length).toBeLessThanOrEqual(100);
    expect(inMemory.problems.at(-1)?.message).toMatch(/^2980 more checkpoint-root problems/);
  });
});
