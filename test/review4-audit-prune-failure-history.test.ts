/**
 * FileAuditStore: a `pruneCheckpoints` that failed left the checkpoint history closed.
 *
 * What was wrong: pruning closes the sequencer's handle on `checkpoints`, replaces the file, then
 * opens it again. When the replacement failed (a full disk, an I/O error), the error left the
 * store holding the closed handle: every later checkpoint failed to publish (EBADF) — every
 * `append()` and break-glass wait failed — until the process reopened the store, although the
 * history file itself was untouched.
 *
 * Now: the history handle is opened again whether the replacement succeeded or not; a failed
 * prune changes nothing, and the next append publishes its checkpoint.
 */
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** The next fdatasync of a file whose path contains this fails with EIO. */
let failOn: string | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const wrap = (h: FsPromises.FileHandle, path: string): FsPromises.FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          if (failOn !== undefined && prop === 'datasync' && path.includes(failOn)) {
            failOn = undefined;
            throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...real, open: async (...args: Parameters<typeof real.open>) => wrap(await real.open(...args), String(args[0])) };
});

const keys = generateNoteKey('keywarden.example/review4-prune', new Uint8Array(32).fill(51));
const dirs: string[] = [];
afterEach(async () => {
  failOn = undefined;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('FileAuditStore: pruneCheckpoints fails to replace the history', () => {
  it('changes nothing: the next append publishes its checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-review4-prune-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    for (let i = 0; i < 3; i++) await log.append(sampleEvent(i));
    failOn = 'checkpoints.tmp-'; // the new history's temporary file
    await expect(log.pruneCheckpoints(1)).rejects.toBeDefined();
    expect(failOn).toBeUndefined(); // the fault fired
    expect(await log.append(sampleEvent(3))).toMatchObject({ index: 3, size: 4 });
    await log.close();
    const store = await FileAuditStore.open(dir);
    expect((await store.checkpoints()).map((c) => c.split('\n')[1])).toEqual(['1', '2', '3', '4']);
    await store.close();
  });
});
