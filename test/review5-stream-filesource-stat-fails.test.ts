/**
 * Review 2026-12-02 (second; suspected by the attachment-streams review, reproduced here):
 * `fileSource` leaked its file handle when `stat()` failed.
 *
 * Was: the file was opened, then `stat()` read its size; a failing `stat()` (EIO on a flaky
 * disk, a file system that refuses it) rejected the call with the handle still open, and nobody
 * held it to close it: one descriptor lost per failed call.
 *
 * Now: the handle is closed before the failure is reported.
 */
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { fileSource } from '../src/stream/files.js';

const state = { failStat: false, opened: 0, closed: 0 };

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const h = await real.open(...args);
      state.opened++;
      return new Proxy(h, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver);
          if (prop === 'stat' && state.failStat) return async () => { throw Object.assign(new Error('EIO: injected'), { code: 'EIO' }); };
          if (prop === 'close') return async () => { state.closed++; return (value as () => Promise<void>).call(target); };
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
    },
  };
});

const dir = await mkdtemp(join(tmpdir(), 'kw-filesource-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('fileSource when stat() fails', () => {
  it('closes the handle it opened and reports the failure', async () => {
    const path = join(dir, 'a.kw');
    await writeFile(path, new Uint8Array(100));
    state.failStat = true;
    await expect(fileSource(path)).rejects.toMatchObject({ code: 'EIO' });
    state.failStat = false;
    expect(state.opened).toBe(1);
    expect(state.closed).toBe(1);
    const ok = await fileSource(path); // and a working stat still gives a working source
    expect(ok.size).toBe(100);
    await ok.close?.();
    expect(state.closed).toBe(2);
  });
});
