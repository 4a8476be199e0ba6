/**
 * FileAuditStore under file system faults (issue #11, defects 1 and 5), injected at the fs layer:
 * `node:fs/promises` is wrapped so that a chosen write, fdatasync or truncate fails with ENOSPC
 * or EIO — after writing part of its bytes, as a full disk does. The real ENOSPC of a full
 * tmpfs is in test/ci/faults-disk.test.ts (needs root to mount).
 *
 * What must hold: a failed write (or fsync) leaves the files exactly as they were before it, or
 * the store refuses appends until reopened; no acknowledged entry ever becomes unreadable; a
 * refused open leaks no file handle.
 */
import { readdirSync } from 'node:fs';
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';

type Op = 'write' | 'datasync' | 'truncate';
interface Fault { op: Op; code: 'ENOSPC' | 'EIO'; /** bytes of a write that reach the file first */ partial?: number; /** matching calls to let through first */ skip?: number }
/** Faults to inject, in order: each fails the first matching call after its `skip`. */
const faults: Fault[] = [];
const fault = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const wrap = (h: FsPromises.FileHandle): FsPromises.FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const f = faults[0];
          if (f !== undefined && f.op === prop) {
            if ((f.skip ?? 0) > 0) f.skip!--;
            else {
              faults.shift();
              if (prop === 'write' && f.partial) {
                const [buf, off] = args as [Uint8Array, number];
                await target.write(buf, off, Math.min(f.partial, buf.length - off));
              }
              throw fault(f.code);
            }
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...real, open: async (...args: Parameters<typeof real.open>) => wrap(await real.open(...args)) };
});

const keys = generateNoteKey('keywarden.example/file-faults', new Uint8Array(32).fill(4));
const dirs: string[] = [];
afterEach(async () => {
  faults.length = 0;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir() {
  const d = await mkdtemp(join(tmpdir(), 'kw-faults-'));
  dirs.push(d);
  return d;
}
const inject = (...f: Fault[]) => faults.push(...f);

describe('FileAuditStore: a failed write leaves the files as they were', () => {
  for (const [op, code, partial] of [['write', 'ENOSPC', 7], ['write', 'EIO', 0], ['datasync', 'EIO', 0]] as const) {
    it(`${op} fails with ${code}${partial ? ` after ${partial} bytes` : ''}: append rejects, files unchanged, later appends fine, all acknowledged entries readable after reopen`, async () => {
      const dir = await tempDir();
      const store = await FileAuditStore.open(dir);
      await store.append([encodeEntry(sampleEvent(0))]);
      const before = await readFile(join(dir, 'entries'));
      inject({ op, code, partial });
      await expect(store.append([encodeEntry(sampleEvent(1))])).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', retryable: true });
      expect(await readFile(join(dir, 'entries'))).toEqual(before);
      // Space returns: the same process acknowledges five more appends.
      for (let i = 2; i < 7; i++) await store.append([encodeEntry(sampleEvent(i))]);
      await store.close();
      const again = await FileAuditStore.open(dir);
      const ids = (await again.read(0, await again.size())).map((e) => decodeEntry(e).id);
      await again.close();
      expect(ids).toEqual([0, 2, 3, 4, 5, 6].map((i) => sampleEvent(i).id));
    });
  }

  it('the checkpoint write fails half-way: the log rolls the entry back; the audit verifies after five more appends and a reopen', async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await log.append(sampleEvent(0));
    // The next append writes its entry, then its checkpoint: 5 bytes of the checkpoint, then ENOSPC.
    inject({ op: 'write', code: 'ENOSPC', partial: 5, skip: 1 });
    await expect(log.append(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(faults).toEqual([]); // the fault really fired
    for (let i = 2; i < 7; i++) await log.append(sampleEvent(i));
    await log.close();
    const store = await FileAuditStore.open(dir);
    const entries = await store.read(0, await store.size());
    const checkpoints = await store.checkpoints();
    await store.close();
    expect(entries.map((e) => decodeEntry(e).id)).toEqual([0, 2, 3, 4, 5, 6].map((i) => sampleEvent(i).id));
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries, checkpoints }).ok).toBe(true);
  });

  it('when even the cut-back fails, the store refuses appends until reopened; the torn, never-acknowledged record is then cut', async () => {
    const dir = await tempDir();
    const store = await FileAuditStore.open(dir);
    await store.append([encodeEntry(sampleEvent(0))]);
    inject({ op: 'write', code: 'ENOSPC', partial: 9 }, { op: 'truncate', code: 'EIO' });
    await expect(store.append([encodeEntry(sampleEvent(1))])).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(faults).toEqual([]);
    // The disk is fine again, but this store no longer knows what its file holds: it refuses.
    await expect(store.append([encodeEntry(sampleEvent(2))])).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', message: expect.stringMatching(/reopen/) });
    await store.close();
    await expect(FileAuditStore.open(dir)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' }); // torn tail: 9 bytes
    const reopened = await FileAuditStore.open(dir, { repairTornTail: true });
    expect((await reopened.read(0, await reopened.size())).map((e) => decodeEntry(e).id)).toEqual([sampleEvent(0).id]);
    await reopened.append([encodeEntry(sampleEvent(3))]);
    await reopened.close();
  });
});

describe('FileAuditStore: a refused open leaks nothing', () => {
  it('50 refused opens (damaged checkpoints file) leave no file descriptor open', async () => {
    const dir = await tempDir();
    const store = await FileAuditStore.open(dir);
    await store.append([encodeEntry(sampleEvent(0))]);
    await store.appendCheckpoint('cp\n');
    await store.appendCheckpoint('cp2\n');
    await store.close();
    const cp = await readFile(join(dir, 'checkpoints'));
    cp[cp.length - 20] ^= 0xff; // damage inside the first record, not a torn tail
    await writeFile(join(dir, 'checkpoints'), cp);
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 50; i++) await expect(FileAuditStore.open(dir)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    expect(fds()).toBeLessThanOrEqual(before + 2);
    // And the lock was released each time: a repair-less open still refuses for the damage, not the lock.
    await expect(FileAuditStore.open(dir)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
  });
});
