/**
 * readOutbox() allocates (and zero-fills) READ_BYTES = 8 MiB for EVERY outbox file on EVERY claim,
 * whatever is left to read — and an idle sequencer claims every pollMs (50 ms). A live producer's
 * outbox file is never removed while it lives, so an idle log with N producer instances makes the
 * sequencer allocate N x 8 MiB per poll: ~20% of a core for 1 idle producer, ~65% for 8, ~88% for
 * 16 (measured here; 1.6% with none). Nothing hostile: this is the normal steady state of several
 * processes sharing one directory (docs/AUDIT.md §4.3 "Any number of local processes open it").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack-idle', new Uint8Array(32).fill(47));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('an idle file-store sequencer with idle producers', () => {
  it('does not allocate gigabytes per idle second (8 idle producers, nothing to integrate)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-idle-'));
    dirs.push(dir);
    const seq = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    const producers: AuditLog[] = [];
    for (let i = 0; i < 8; i++) producers.push(await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, sequencer: false }));
    // Each producer recorded one event (so it has an outbox file), fully integrated and checkpointed.
    for (const [i, p] of producers.entries()) await (await p.record(sampleEvent(i), { checkpoint: true })).checkpointed();
    await new Promise((r) => setTimeout(r, 500)); // the sequencer's back-off reaches pollMs
    let allocated = 0;
    const real = Buffer.alloc.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'alloc').mockImplementation(((size: number, ...rest: never[]) => {
      allocated += size;
      return real(size, ...rest);
    }) as typeof Buffer.alloc);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000)); // nothing happens
    const c = process.cpuUsage(c0);
    spy.mockRestore();
    const pct = ((c.user + c.system) / 1000 / (performance.now() - t0)) * 100;
    for (const p of producers) await p.close();
    await seq.close();
    const mib = allocated / 2 ** 20;
    expect(mib, `idle second: ${mib.toFixed(0)} MiB zero-filled by Buffer.alloc, ${pct.toFixed(1)}% of a core`).toBeLessThan(16);
  });
});
