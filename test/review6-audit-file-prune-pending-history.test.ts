/**
 * Outside review 6 (file audit store, crashes): a sequencer killed inside `pruneCheckpoints`,
 * after the pruned history replaced `checkpoints` but before the new `head` was written, left a
 * history the next sequencer damaged or duplicated.
 *
 * What was wrong (src/audit/file-store.ts): the head file on disk names the newest checkpoint as
 * `pending` at the history offset where it starts — every step with a checkpoint writes it so,
 * and only the next step's head drops it (#publish updates the in-memory head only). A takeover
 * (#reconcileHistory) completes that pending record at that offset. But `pruneCheckpoints`
 * replaced the history first (records shifted towards the start) and the head second: killed in
 * between, the head's offset pointed into the shifted file. When fewer bytes were dropped than the
 * pending record is long (one checkpoint of size 1 dropped, the newest of size 10), the takeover
 * cut the file inside the newest record and wrote it again after the cut: `checkpoints: record
 * checksum mismatch` (`keywarden audit verify` exit 1), and every checkpoint appended afterwards
 * sat behind the damage, invisible to readers of the history. When more bytes were dropped, it
 * appended the newest checkpoint a second time.
 *
 * Now: `pruneCheckpoints` first writes a head whose pending checkpoint is published (none
 * pending, the history's end as it is), then replaces the history: a takeover after a kill
 * between the two finds the end by scanning and has nothing to re-append. The killed child's
 * history reads exactly as pruned, verifies, and the log goes on.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';
import { O, checkAfterCrash, crashKeys, runChild } from './support/review6-audit-file-crash.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir() {
  const d = await mkdtemp(join(tmpdir(), 'kw-r6-prune-'));
  dirs.push(d);
  return d;
}
const sizes = (notes: string[]) => notes.map((c) => Number(c.split('\n')[1]));

describe('a sequencer killed inside pruneCheckpoints, between the history and the head', () => {
  for (const [setup, keep] of [[10, 9], [3, 1]] as const) {
    it(`${setup} checkpoints pruned to ${keep}: the next sequencer keeps the history as pruned`, async () => {
      const dir = await tempDir();
      const r = await runChild({ SCENARIO: 'prune', DIR: dir, FIRST: '0', SETUP: String(setup), KEEP: String(keep) }, { op: 'rename', match: '/checkpoints', when: 'after' });
      expect(r.killed, r.out).toBe(true);
      expect(r.acked).toHaveLength(setup);

      // Another process takes the role over (nothing new to integrate).
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
      expect(log.stats().sequencer).toBe(true);
      await log.close();
      const kept = Array.from({ length: keep }, (_, i) => setup - keep + 1 + i);
      const s = await FileAuditStore.open(dir);
      expect(sizes(await s.checkpoints())).toEqual(kept);
      await s.close();
      const v = await cli(['audit', 'verify', '--dir', dir, '--key', crashKeys.verifierKey]);
      expect(v.code, v.out).toBe(0);

      // The log goes on: a checkpoint appended afterwards is in the history readers see.
      const more = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
      await more.append(sampleEvent(500));
      await more.close();
      const s2 = await FileAuditStore.open(dir);
      expect(sizes(await s2.checkpoints())).toEqual([...kept, setup + 1]);
      await s2.close();
      await checkAfterCrash(dir, [...r.acked, 'evt-500'], await tempDir());
    }, 60_000);
  }
});
