/**
 * FileAuditStore: a checkpoint whose publication failed after its batch committed was dropped
 * from the history when the very next step carried entries.
 *
 * What was wrong: the batch's checkpoint is its tree head, so once the head is written the store
 * serves it as the latest checkpoint (`state()` prefers a head checkpoint newer than the
 * `checkpoint` file) to every reader — other instances' `sync()`/`proof()`, and non-sequencer
 * break-glass waiters polling their receipts. docs/AUDIT.md §4.3 promises that "the next step (or
 * the next takeover …) publishes it". The next round does start at once, but when records are
 * queued by then it integrates them with a *new* checkpoint, and `#publish` truncates the history
 * back to the offset where the failed one should have gone: the checkpoint the store already
 * handed out never reaches `checkpoints`. (Only an entryless next round re-signed the same text.)
 *
 * Now: a step first publishes the checkpoint its predecessor left pending (the head names it),
 * before writing anything of its own; if that fails again the step fails with nothing written.
 * Every checkpoint the store served as its latest is in the history.
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
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** One fault: the next fdatasync of a file whose path contains `path` fails with EIO, after `before` ran. */
let fault: { path: string; before: () => Promise<void> } | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const wrap = (h: FsPromises.FileHandle, path: string): FsPromises.FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const f = fault;
          if (f !== undefined && prop === 'datasync' && path.includes(f.path)) {
            fault = undefined;
            await f.before();
            throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...real, open: async (...args: Parameters<typeof real.open>) => wrap(await real.open(...args), String(args[0])) };
});

const keys = generateNoteKey('keywarden.example/review4-unpublished', new Uint8Array(32).fill(44));
const dirs: string[] = [];
afterEach(async () => {
  fault = undefined;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const sizeOf = (note: string) => note.split('\n')[1];

describe('FileAuditStore: a checkpoint left unpublished by a failed history write', () => {
  it('is published by the next step even when that step integrates entries, so every checkpoint served as the latest is in the history', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-review4-unpub-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointIntervalMs: 86_400_000, lingerMs: 0 });
    await log.append(sampleEvent(0)); // checkpoint of size 1

    const served: string[] = [];
    let durable: Promise<unknown> | undefined;
    fault = {
      path: 'checkpoints',
      before: async () => {
        // The batch's head (its checkpoint of size 2) is written: what does the store serve now?
        const reader = await FileAuditStore.open(dir);
        served.push((await reader.state()).checkpoint!);
        await reader.close();
        // A record arrives while the batch is finishing: the next round integrates it at once.
        durable = log.record(sampleEvent(2));
      },
    };
    await expect(log.append(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(fault).toBeUndefined(); // the fault fired
    expect(served.map(sizeOf)).toEqual(['2']); // the unpublished checkpoint is what readers see as the latest
    await durable;
    expect(await log.append(sampleEvent(3))).toMatchObject({ index: 3, size: 4 });
    await log.close();

    const store = await FileAuditStore.open(dir);
    const history = await store.checkpoints();
    const entries = await store.read(0, await store.size());
    const head = (await store.state()).head!;
    await store.close();
    expect(entries.map((e) => decodeEntry(e).id)).toEqual([0, 1, 2, 3].map((i) => sampleEvent(i).id));
    // Every checkpoint the store handed out as its latest is in the history.
    for (const note of served) expect(history).toContain(note);
    expect(history.map(sizeOf)).toContain('2');
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries, checkpoints: history, head }).problems).toEqual([]);
  });
});
