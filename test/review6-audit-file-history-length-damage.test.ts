/**
 * Review 6 (file audit store, mutation review): `checkpoints()` refuses damage inside the
 * checkpoint history (test/review6-audit-file-history-damage-hidden.test.ts), but not when the
 * damage is in a record's LENGTH field. The scan (src/audit/framing.ts `scanFrames`) takes any
 * record whose stated length runs past the end of the file for a torn last record, and a torn
 * last record is what a crash mid-append leaves, so `checkpoints()` ended the list there: one
 * bit flipped in the high byte of the second record's length made a five-checkpoint history read
 * as one checkpoint, without an error, and `pruneCheckpoints` found nothing to prune.
 *
 * Now: a record that ends before the history's end recorded in the `head` file (where the last
 * acknowledged step left it) cannot be a crash's torn append: damage there is refused
 * (ERR_AUDIT_CORRUPT with its offset), whatever it looks like. A torn record past that end — a
 * crash between the head and the history append — still ends the list.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { O } from './support/review6-audit-file-crash.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** Byte offsets of the records of a framed file. */
function recordOffsets(data: Uint8Array): number[] {
  const out: number[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let off = MAGIC.length; off + 4 <= data.length; off += 4 + view.getUint32(off) + 8) out.push(off);
  return out;
}

describe('a damaged length field inside the checkpoint history', () => {
  it('is refused by checkpoints(), not read as a torn last record', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-r6-len-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    const history = await readFile(join(dir, 'checkpoints'));
    const offsets = recordOffsets(history);
    expect(offsets.length).toBeGreaterThanOrEqual(5);
    for (const [which, bit] of [[1, 0x40], [0, 0x01], [offsets.length - 2, 0x10]] as const) {
      const damaged = Uint8Array.from(history);
      damaged[offsets[which]!]! ^= bit; // the high byte of that record's length: it now runs past the end
      await writeFile(join(dir, 'checkpoints'), damaged);
      const store = await FileAuditStore.open(dir);
      try {
        await expect(store.checkpoints(), `record ${which}`).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
      } finally {
        await store.close();
      }
    }
  });
});
