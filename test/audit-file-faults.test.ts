/**
 * FileAuditStore under file system faults (issues #11 and #14), injected at the fs layer:
 * `node:fs/promises` is wrapped so that a chosen write, fdatasync or truncate fails with ENOSPC
 * or EIO — after writing part of its bytes, as a full disk does. The real ENOSPC of a full
 * tmpfs is in test/ci/faults-disk.test.ts (needs root to mount).
 *
 * What must hold: a batch whose write fails leaves no file past the tree head (or the store stops
 * until reopened); an acknowledged entry is never lost; a checkpoint whose publication was cut
 * short after its batch committed is completed when the store is taken over again.
 */
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { decodeBundle, encodeBundle, tilePath } from '../src/audit/tiles.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';

type Op = 'write' | 'datasync' | 'truncate';
interface Fault { op: Op; code: 'ENOSPC' | 'EIO'; /** bytes of a write that reach the file first */ partial?: number; /** matching calls to let through first */ skip?: number; /** only on files whose path contains this */ path?: string }
/** Faults to inject, in order: each fails the first matching call after its `skip`. */
const faults: Fault[] = [];
const fault = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const wrap = (h: FsPromises.FileHandle, path: string): FsPromises.FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const f = faults[0];
          if (f !== undefined && f.op === prop && (f.path === undefined || path.includes(f.path))) {
            if ((f.skip ?? 0) > 0) f.skip!--;
            else {
              faults.shift();
              if (prop === 'write' && f.partial) {
                const [buf, off] = args as [Uint8Array, number];
                await target.write(buf, off, Math.min(f.partial, buf.length - (off ?? 0)));
              }
              throw fault(f.code);
            }
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...real, open: async (...args: Parameters<typeof real.open>) => wrap(await real.open(...args), String(args[0])) };
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

async function readAll(dir: string) {
  const s = await FileAuditStore.open(dir);
  try {
    return { entries: await s.read(0, await s.size()), checkpoints: await s.checkpoints(), head: (await s.state()).head! };
  } finally {
    await s.close();
  }
}

describe('FileAuditStore: a batch that fails to write leaves nothing past the head', () => {
  for (const [op, code, partial, path] of [['write', 'ENOSPC', 7, 'tile/entries'], ['write', 'EIO', 0, 'tile/0'], ['datasync', 'EIO', 0, 'tile/entries'], ['write', 'ENOSPC', 3, '/head']] as const) {
    it(`${op} of ${path} fails with ${code}${partial ? ` after ${partial} bytes` : ''}: the append rejects, later appends work, every acknowledged entry survives a reopen`, async () => {
      const dir = await tempDir();
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      await log.append(sampleEvent(0));
      inject({ op, code, partial, path });
      await expect(log.append(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', retryable: true });
      expect(faults).toEqual([]); // the fault really fired
      // Space returns: the same process acknowledges five more appends.
      for (let i = 2; i < 7; i++) await log.append(sampleEvent(i));
      await log.close();
      const all = await readAll(dir);
      expect(all.entries.map((e) => decodeEntry(e).id)).toEqual([0, 2, 3, 4, 5, 6].map((i) => sampleEvent(i).id));
      expect(verifyAuditLog({ verifierKey: keys.verifierKey, ...all }).problems).toEqual([]);
    });
  }

  it('publishing the checkpoint fails after its batch committed: that append rejects (its entry is durable, not checkpointed); the next batch publishes', async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await log.append(sampleEvent(0));
    inject({ op: 'datasync', code: 'EIO', path: 'checkpoints' });
    await expect(log.append(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(faults).toEqual([]);
    // A durable-only record is acknowledged as before; the next checkpoint covers everything.
    await log.record(sampleEvent(2));
    expect(await log.append(sampleEvent(3))).toMatchObject({ index: 3, size: 4 });
    await log.close();
    const all = await readAll(dir);
    expect(all.entries.map((e) => decodeEntry(e).id)).toEqual([0, 1, 2, 3].map((i) => sampleEvent(i).id));
    expect(all.checkpoints.map((c) => c.split('\n')[1])).toEqual(['1', '2', '4']); // 2: published again at once
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, ...all }).problems).toEqual([]);
  });

  it('files a batch left past the head (a crash before its head was written) are refused until the operator repairs', async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await log.append(sampleEvent(0));
    // The head write fails: the batch is undone.
    inject({ op: 'write', code: 'ENOSPC', path: '/head' });
    await expect(log.append(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await log.close();
    // What a crash between the bundle and the head leaves: the batch's bundle past the head.
    const n = tilePath('entries', 0, 1);
    const have = decodeBundle(await readFile(join(dir, n)))!;
    await writeFile(join(dir, tilePath('entries', 0, 2)), encodeBundle([...have, encodeEntry(sampleEvent(1))]));
    const refused = await FileAuditStore.open(dir);
    await expect(AuditLog.open({ store: refused, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 1 });
    await refused.close();
    const repaired = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(decodeEntry(await repaired.entry(1))).toMatchObject({ type: 'audit.repaired', dropped: 1 });
    await repaired.close();
  });
});
