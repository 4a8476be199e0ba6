/**
 * Outside review 6 (file audit store): damage inside the checkpoint history was hidden from the
 * library's own readers, and pruning then discarded the records after it.
 *
 * What was wrong (src/audit/file-store.ts `checkpoints()`): the history was scanned and the
 * records before the first damaged one returned, the damage itself dropped without a word. A
 * record damaged in the middle (a flipped byte, or the cut the killed prune of
 * test/review6-audit-file-prune-pending-history.test.ts left) made `store.checkpoints()` return
 * only the checkpoints before it — none, for damage in the first — and `verifyAuditLog` over the
 * store's entries, checkpoints and head reported `ok: true` (the head covers every entry as
 * pending); only `keywarden audit verify --dir` saw it. `pruneCheckpoints` read the history the
 * same way and rewrote it from those records: the valid checkpoints after the damage were deleted
 * and the damage erased, where docs/AUDIT.md §4.6 says damage other than a torn last record is
 * detected and never repaired.
 *
 * Now: `checkpoints()` refuses damage that is not a torn last record (ERR_AUDIT_CORRUPT with its
 * byte offset; a torn last record — one being appended, or a crash's, never acknowledged — still
 * ends the list), so verification through the store fails loudly and `pruneCheckpoints` fails
 * without touching the file.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { O } from './support/review6-audit-file-crash.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('a damaged record inside the checkpoint history', () => {
  it('is refused by checkpoints() and by pruneCheckpoints, which leaves the history as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-r6-hist-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    const history = await readFile(join(dir, 'checkpoints'));
    history[200] ^= 1; // inside the first record (each is a few hundred bytes)
    await writeFile(join(dir, 'checkpoints'), history);

    const store = await FileAuditStore.open(dir);
    await expect(store.checkpoints()).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    await store.close();

    const again = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    await expect(again.pruneCheckpoints(2)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    await again.close();
    expect(Buffer.compare(await readFile(join(dir, 'checkpoints')), history)).toBe(0);
  });

  it('a torn last record still ends the list (never acknowledged): the records before it are returned', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-r6-hist-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    for (let i = 0; i < 3; i++) await log.append(sampleEvent(i));
    await log.close();
    const history = await readFile(join(dir, 'checkpoints'));
    await writeFile(join(dir, 'checkpoints'), history.subarray(0, history.length - 9));
    const store = await FileAuditStore.open(dir);
    expect((await store.checkpoints()).map((c) => c.split('\n')[1])).toEqual(['1', '2']);
    await store.close();
  });
});
