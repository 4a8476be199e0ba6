/**
 * Outside review, 2026-12-01. Two instances taking over a stale LOCK (left by a dead process) at the same time. #takeLock is
 * read-pid / rm / create, not atomic: a contender that read the same dead pid and is descheduled
 * for a moment before its rm removes the winner's NEW lock and creates its own. Both
 * acquireSequencer() calls return true: two sequencers. The file store's integrate() only checks
 * the batch against its own in-memory head, so both commit: acknowledged entries are overwritten
 * and two different checkpoints of one size are signed (a fork). docs/AUDIT.md §4.1: "exactly one
 * holds it at a time"; "files: one writer under LOCK".
 *
 * The only thing injected is a 50 ms delay before the second rm() of LOCK (a process descheduled
 * between reading LOCK and removing it); nothing fails.
 */
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const delay = { lockRms: 0, enabled: false };
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return {
    ...real,
    rm: async (...args: Parameters<typeof real.rm>) => {
      if (delay.enabled && String(args[0]).endsWith('/LOCK') && delay.lockRms++ === 1) await new Promise((r) => setTimeout(r, 50));
      return real.rm(...args);
    },
  };
});

const keys = generateNoteKey('keywarden.example/attack-race', new Uint8Array(32).fill(42));
const dirs: string[] = [];
afterEach(async () => {
  delay.enabled = false;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('stale LOCK takeover by two contenders at once', () => {
  it('at most one store instance becomes the sequencer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-race-'));
    dirs.push(dir);
    const a = await FileAuditStore.open(dir);
    const b = await FileAuditStore.open(dir);
    await writeFile(join(dir, 'LOCK'), '2147483646 deaddeaddeaddead'); // a dead process's lock
    delay.lockRms = 0;
    delay.enabled = true;
    const [ra, rb] = await Promise.all([a.acquireSequencer(), b.acquireSequencer()]);
    delay.enabled = false;
    try {
      expect([ra, rb].filter(Boolean)).toHaveLength(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('six contenders over a dead holder\'s LOCK, 20 rounds: exactly one sequencer each round', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-race-'));
    dirs.push(dir);
    for (let round = 0; round < 20; round++) {
      const stores = await Promise.all(Array.from({ length: 6 }, () => FileAuditStore.open(dir)));
      await writeFile(join(dir, 'LOCK'), `2147483646 ${round.toString(16).padStart(16, '0')}`); // a dead process's lock
      const won = await Promise.all(stores.map((s) => s.acquireSequencer()));
      try {
        expect(won.filter(Boolean)).toHaveLength(1);
      } finally {
        for (const s of stores) await s.close();
      }
    }
  });

  it('two AuditLogs opening over a dead sequencer\'s LOCK: every acknowledged append survives, no fork', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-race-'));
    dirs.push(dir);
    const init = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await init.append(sampleEvent(0));
    await init.close();
    await writeFile(join(dir, 'LOCK'), '2147483646 deaddeaddeaddead'); // the sequencer died
    delay.lockRms = 0;
    delay.enabled = true;
    const [x, y] = await Promise.all([
      AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey }),
      AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey }),
    ]);
    delay.enabled = false;
    const sequencers = [x.isSequencer, y.isSequencer];
    // Both acknowledge an append with a receipt under a signed checkpoint.
    const rx = await x.append(sampleEvent(1));
    const ry = await y.append(sampleEvent(2));
    await x.close();
    await y.close();
    const reader = await FileAuditStore.open(dir);
    const ids = (await reader.read(0, await reader.size())).map((e) => decodeEntry(e).id);
    const checkpoints = await reader.checkpoints();
    await reader.close();
    expect({ sequencers, receipts: [rx.index, ry.index], ids, checkpointSizes: checkpoints.map((c) => c.split('\n')[1]) }).toEqual({
      sequencers: expect.anything(),
      receipts: expect.anything(),
      ids: expect.arrayContaining([sampleEvent(1).id, sampleEvent(2).id]),
      checkpointSizes: expect.anything(),
    });
    // No two checkpoints of one size with different roots.
    const bySize = new Map<string, Set<string>>();
    for (const c of checkpoints) {
      const [, size, root] = c.split('\n');
      bySize.set(size!, (bySize.get(size!) ?? new Set()).add(root!));
    }
    expect([...bySize.values()].every((s) => s.size === 1)).toBe(true);
  });
});
