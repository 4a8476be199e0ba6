/**
 * A file-store step is not atomic: tiles and bundles are written first, the head (the commit
 * point) after them. AuditLog.open by another instance while a step is in flight reads the old
 * head, finds the new bundle past it (uncovered), re-reads the state — the head has not moved
 * YET — and refuses the healthy log with ERR_AUDIT_CORRUPT (not retryable), telling the operator
 * to run the unsigned-tail repair. inspect.ts retries only when the state moved between its
 * reads, which covers PostgreSQL's one-transaction step, not the file store's.
 * docs/AUDIT.md §4.1: "Any number of local processes open it".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack-open-step', new Uint8Array(32).fill(46));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('AuditLog.open while the sequencer integrates (no faults, no tampering)', () => {
  it('every open of a healthy, busy log succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-open-step-'));
    dirs.push(dir);
    const seq = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, lingerMs: 0 });
    let stop = false;
    let n = 0;
    // Steady local traffic: the sequencer runs a step after another.
    const traffic = (async () => {
      while (!stop) await seq.record(sampleEvent(n++));
    })();
    const failures: string[] = [];
    const opens = 60;
    for (let i = 0; i < opens; i++) {
      const store = await FileAuditStore.open(dir);
      try {
        const reader = await AuditLog.open({ store, signerKey: keys.signerKey, sequencer: false });
        await reader.close();
      } catch (err) {
        failures.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
        await store.close();
      }
    }
    stop = true;
    await traffic;
    await seq.close();
    expect(failures.length, `${failures.length} of ${opens} opens refused the healthy log; first: ${failures[0]}`).toBe(0);
  });
});
