/**
 * Mutation review 4 (file audit store; SECURITY.md "audit appends are atomic: a failed or
 * timed-out append leaves no trace; a failed write or fsync leaves the file as it was", and
 * "`checkpoints()` refusing inner damage": test/audit-file-faults.test.ts,
 * test/review6-audit-file-history-damage-hidden.test.ts).
 *
 * Surviving mutations:
 * 1. src/audit/file-store.ts `checkpoints()` refusing damage only when no record came before it
 *    (`&& scan.records.length === 0`). The named test damages the FIRST history record only; a
 *    damaged record further in was skipped with everything after it, and the history returned
 *    as if whole.
 * 2. src/audit/file-outbox.ts no longer cutting the bytes of a failed outbox append
 *    (`f.handle.truncate(f.end)` removed). The named fault tests fail tile and head writes of the
 *    sequencer only, never a producer's outbox append; with a failed fdatasync the whole frame
 *    stays in the file, the producer is told "nothing was recorded", and the sequencer then
 *    integrates it anyway — a rejected append leaves an entry in the log (and a retry would
 *    record it twice).
 *
 * Now asserted: (1) for every record of the history but the last, a flipped byte inside it makes
 * `checkpoints()` refuse with ERR_AUDIT_CORRUPT; (2) a producer's append whose outbox fdatasync
 * fails rejects, and its entry never reaches the log; the producer's next append does.
 */
import type * as FsPromises from 'node:fs/promises';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { O } from './support/review6-audit-file-crash.js';

interface Fault { op: 'write' | 'datasync'; code: 'EIO' | 'ENOSPC'; path: string }
const faults: Fault[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const wrap = (h: FsPromises.FileHandle, path: string): FsPromises.FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const f = faults[0];
          if (f !== undefined && f.op === prop && path.includes(f.path)) {
            faults.shift();
            throw Object.assign(new Error(`${f.code}: injected`), { code: f.code });
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...real, open: async (...args: Parameters<typeof real.open>) => wrap(await real.open(...args), String(args[0])) };
});

const dirs: string[] = [];
afterEach(async () => {
  faults.length = 0;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir() {
  const d = await mkdtemp(join(tmpdir(), 'kw-r6m4-file-'));
  dirs.push(d);
  return d;
}

describe('FileAuditStore.checkpoints(): damage inside any record but the last is refused', () => {
  it('for each record before the last, a flipped byte in it: ERR_AUDIT_CORRUPT, never a shorter history', async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    const history = await readFile(join(dir, 'checkpoints'));
    const scan = scanFrames(history);
    expect(scan.damage).toBeUndefined();
    const n = scan.records.length;
    expect(n).toBeGreaterThanOrEqual(3);
    let at = MAGIC.length;
    for (let k = 0; k < n - 1; k++) {
      const len = history.readUInt32BE(at);
      const damaged = Buffer.from(history);
      damaged[at + 4 + Math.floor(len / 2)] ^= 1; // inside record k's payload
      await writeFile(join(dir, 'checkpoints'), damaged);
      const store = await FileAuditStore.open(dir);
      try {
        await expect(store.checkpoints(), `record ${k} of ${n}`).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
      } finally {
        await store.close();
      }
      at += 4 + len + 8;
    }
  });
});

describe('FileAuditStore: a producer\'s outbox append whose fdatasync fails leaves no trace', () => {
  it('rejects, and its entry never reaches the log; the next append does', async () => {
    const dir = await tempDir();
    const sequencer = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    await sequencer.append(sampleEvent(0));
    const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    expect(producer.isSequencer).toBe(false);
    faults.push({ op: 'datasync', code: 'EIO', path: 'outbox' });
    await expect(producer.record(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(faults).toEqual([]); // the fault really fired
    await producer.record(sampleEvent(2));
    await vi.waitFor(async () => expect(await sequencer.flush().then((r) => r.size)).toBeGreaterThanOrEqual(2), { timeout: 5000 });
    const size = (await sequencer.flush()).size;
    const store = await FileAuditStore.open(dir);
    const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
    await store.close();
    expect(ids).toEqual([0, 2].map((i) => sampleEvent(i).id));
    await producer.close();
    await sequencer.close();
  });
});
