/**
 * AuditLog on the sequencer: an accepted cosigned checkpoint was forgotten at the next batch.
 *
 * What was wrong: `acceptCosignatures` stores the cosigned checkpoint and sets the log's own view
 * to it, but the sequencer keeps a view of its own, which still named the plain checkpoint of the
 * same size. The next batch that published no checkpoint (the interval not yet due) handed that
 * view back to the log, and since the sequencer's `sync()` reads nothing from the store, every
 * `proof()` and `consistency()` then carried the plain checkpoint — without the witness
 * cosignatures docs/AUDIT.md §3 promises later proofs carry ("stores it, so later proofs carry
 * the cosignatures") — until the next checkpoint.
 *
 * Now: the sequencer adopts an accepted checkpoint that is not older than its own, so its view
 * (and every proof after it) keeps the cosigned note.
 */
import { describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner } from '../src/audit/checkpoint.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/review4-cosigned', new Uint8Array(32).fill(49));
const witness = generateCosignerKey('witness.review4.example', new Uint8Array(32).fill(50));

describe('the sequencer keeps an accepted cosigned checkpoint', () => {
  for (const kind of ['memory', 'file'] as const) {
    it(`${kind} store: proofs after a later batch without a checkpoint still carry the cosignature`, async () => {
      const dir = kind === 'file' ? await mkdtemp(join(tmpdir(), 'kw-review4-cosig-')) : undefined;
      try {
        const store = dir === undefined ? new MemoryAuditStore() : await FileAuditStore.open(dir);
        const log = await AuditLog.open({ store, signerKey: keys.signerKey, checkpointIntervalMs: 86_400_000 });
        await log.append([sampleEvent(0), sampleEvent(1)]); // checkpoint of size 2
        const cosigned = cosignCheckpoint(log.latestCheckpoint!, newCosigner(witness.signerKey, () => 1_790_000_000));
        await log.acceptCosignatures(cosigned, [witness.verifierKey]);
        expect(await log.proof(1)).toContain('— witness.review4.example ');
        // One more batch, no checkpoint due: the checkpoint of size 2 is still the latest.
        await log.record(sampleEvent(2));
        expect(log.stats().checkpointSize).toBe(2);
        expect(log.latestCheckpoint).toBe(cosigned);
        expect(await log.proof(1)).toContain('— witness.review4.example ');
        await log.close();
      } finally {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
