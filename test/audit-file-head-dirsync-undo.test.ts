/**
 * FileAuditStore#commit: replaceFile(head) renames the new head into place, THEN syncDir(dir).
 * If that directory fsync fails (EIO), the catch calls #undo(written): it deletes the batch's
 * tiles and bundles although the new head — naming them, with the outbox cursors advanced past
 * the records it consumed — is already in place. The caller is told "nothing was integrated".
 * If the sequencer then stops (close, crash) before another batch rewrites the head, the
 * directory holds a head whose entries are gone: AuditLog.open refuses the log, and the
 * acknowledged outbox record is lost (its cursor is consumed). SECURITY.md: "a failed write or
 * fsync leaves the file as it was; a crash loses no acknowledged entry"; docs/AUDIT.md §4.3: "A
 * step that fails before its head removes the files it wrote".
 */
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** Fail the next fsync of exactly this directory handle with EIO. */
const fault: { dir: string | undefined; fired: boolean } = { dir: undefined, fired: false };
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const h = await real.open(...args);
      const path = String(args[0]);
      return new Proxy(h, {
        get(target, prop, receiver) {
          const v = Reflect.get(target, prop, receiver);
          if (typeof v !== 'function') return v;
          return async (...a: unknown[]) => {
            if (prop === 'sync' && fault.dir !== undefined && path === fault.dir) {
              fault.dir = undefined;
              fault.fired = true;
              throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
            }
            return (v as (...x: unknown[]) => unknown).apply(target, a);
          };
        },
      });
    },
  };
});

const keys = generateNoteKey('keywarden.example/attack-dirsync', new Uint8Array(32).fill(43));
const dirs: string[] = [];
afterEach(async () => {
  fault.dir = undefined;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Runs the scenario; returns the directory as the stopped sequencer left it. */
async function scenario(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-attack-dirsync-'));
  dirs.push(dir);
  // A sequencer that backs off a long time after a failure (so it does not retry before it stops).
  const seq = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, pollMs: 60_000, lingerMs: 0 });
  await seq.append(sampleEvent(0));
  const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, sequencer: false });
  fault.fired = false;
  fault.dir = dir; // the next fsync of the directory itself: the one right after the head's rename
  await producer.record(sampleEvent(1)); // acknowledged: durable in the producer's outbox file
  await producer.close();
  for (let i = 0; i < 200 && !fault.fired; i++) await new Promise((r) => setTimeout(r, 10));
  expect(fault.fired).toBe(true);
  await new Promise((r) => setTimeout(r, 50));
  await seq.close(); // the sequencer stops (or the process crashes) before its next round
  return dir;
}

describe('the head\'s directory fsync fails after the head was renamed into place', () => {
  it('an acknowledged outbox record is not lost and the log still opens', async () => {
    const dir = await scenario();
    const again = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, pollMs: 5 });
    try {
      await again.flush();
      const ids = await Promise.all(Array.from({ length: again.size }, async (_, i) => decodeEntry(await again.entry(i)).id));
      expect(ids).toContain(sampleEvent(1).id);
    } finally {
      await again.close();
    }
  });

  it('at the very least the documented operator repair opens the log again', async () => {
    const dir = await scenario();
    const repaired = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    await repaired.close();
  });
});
