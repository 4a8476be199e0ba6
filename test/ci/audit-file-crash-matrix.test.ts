/**
 * Outside review 6 (file audit store, crashes): a sequencer process killed (SIGKILL) at each
 * point of a durable step, then the directory reopened by another process.
 *
 * Points: before the head is replaced (tiles and bundles written), after the head but before the
 * history record, after the history record but before the `checkpoint` file, after it; a torn
 * history record (the kill mid-write). What holds at each: every record acknowledged before the
 * kill — the sequencer's own and a producer's outbox records — is integrated exactly once, the
 * log verifies (verifyAuditLog, `keywarden audit verify --dir`), the history's sizes only grow,
 * and `keywarden audit export` writes tiles equal to the store's. A kill before the head leaves
 * files past it, which docs/AUDIT.md §4.4 says are refused until the operator's repair: the
 * test repairs there and only there.
 *
 * Also: a migration from the 0.1 layout killed after a chunk, before and after its head, its
 * `layout` and the renaming of `entries` (resumed by the next open, nothing lost or doubled);
 * and a sequencer stalled (SIGSTOP) at those points of a step while another process opens the
 * directory: the LOCK of a live holder is never taken over (the file store has no lease: only a
 * dead holder's lock is), a producer opened meanwhile records durably (or, with tiles already
 * past the head, is refused with ERR_AUDIT_CORRUPT after its 2 s wait — documented in §4.3), and
 * after SIGCONT the stalled step completes and everything verifies.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/audit/checkpoint.js';
import { encodeEntry } from '../../src/audit/entry.js';
import { FileAuditStore } from '../../src/audit/file-store.js';
import { MAGIC, frame } from '../../src/audit/framing.js';
import { AuditLog } from '../../src/audit/log.js';
import { MerkleTree, leafHash } from '../../src/audit/merkle.js';
import { newNoteSigner } from '../../src/audit/note.js';
import { sampleEvent } from '../support/audit-fixtures.js';
import { type Kill, O, checkAfterCrash, crashKeys, runChild, startChild, stopped } from '../support/review6-audit-file-crash.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tempDir() {
  const d = await mkdtemp(join(tmpdir(), 'kw-r6-crash-'));
  dirs.push(d);
  return d;
}

const points: [string, Kill, boolean][] = [
  ['tiles written, head not replaced', { op: 'rename', match: '/head', when: 'before' }, true],
  ['head replaced, history not appended', { op: 'rename', match: '/head', when: 'after' }, false],
  ['history record torn', { op: 'write', match: '/checkpoints', when: 'before' }, false],
  ['history appended, checkpoint not replaced', { op: 'rename', match: '/checkpoint', when: 'before' }, false],
  ['checkpoint replaced, directory not synced', { op: 'rename', match: '/checkpoint', when: 'after' }, false],
];

describe('a sequencer killed inside a step', () => {
  for (const [name, kill, repair] of points) {
    it(name, async () => {
      const dir = await tempDir();
      const r = await runChild({ SCENARIO: 'step', DIR: dir, FIRST: '0', SETUP: '3', PRODUCED: '4' }, kill);
      expect(r.killed, r.out).toBe(true);
      expect(r.acked).toHaveLength(7);
      await checkAfterCrash(dir, r.acked, await tempDir(), { repair });
      // And the log goes on: a second life of the same kill point, then a clean reopen.
      const again = await runChild({ SCENARIO: 'step', DIR: dir, FIRST: '100', SETUP: '1', PRODUCED: '2' }, kill);
      expect(again.killed).toBe(true);
      await checkAfterCrash(dir, [...r.acked, ...again.acked], await tempDir(), { repair });
    }, 60_000);
  }

  it('without a repair, a kill before the head leaves a log that opens only with the repair (documented)', async () => {
    const dir = await tempDir();
    const r = await runChild({ SCENARIO: 'step', DIR: dir, FIRST: '0', SETUP: '2', PRODUCED: '2' }, points[0]![1]);
    expect(r.killed).toBe(true);
    await expect(FileAuditStore.open(dir).then((store) => AuditLog.open({ store, ...O }))).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
  }, 60_000);
});

/** A 0.1 directory of `n` entries with a checkpoint every 7; returns their ids. */
async function legacyDir(dir: string, n: number) {
  const signer = newNoteSigner(crashKeys.signerKey);
  const tree = new MerkleTree();
  const entries: Uint8Array[] = [];
  const notes: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    entries.push(encodeEntry(sampleEvent(i)));
    tree.append(leafHash(entries[i]!));
    if (i % 7 === 6 || i === n - 1) notes.push(new TextEncoder().encode(signCheckpoint({ origin: 'keywarden.example/review6-file-crash', size: i + 1, rootHash: tree.root(), extensions: [] }, signer)));
  }
  await writeFile(join(dir, 'entries'), Buffer.concat([MAGIC, ...entries.map(frame)]));
  await writeFile(join(dir, 'checkpoints'), Buffer.concat([MAGIC, ...notes.map(frame)]));
  return entries.map((_, i) => `evt-${i}`);
}

const migrationPoints: Kill[] = [
  { op: 'rename', match: '/migration', nth: 2, when: 'after' },
  { op: 'rename', match: '/migration', nth: 2, when: 'before' },
  { op: 'rename', match: '/checkpoint', when: 'after' },
  { op: 'rename', match: '/head', when: 'before' },
  { op: 'rename', match: '/head', when: 'after' },
  { op: 'rename', match: '/layout', when: 'after' },
  { op: 'rename', match: '/entries.v1', when: 'after' },
];
describe('a migration from 0.1 killed', () => {
  for (const k of migrationPoints) {
    it(`${k.when} the ${k.nth ?? 1}. rename of ${k.match}`, async () => {
      const dir = await tempDir();
      const acked = await legacyDir(dir, 600);
      const r = await runChild({ SCENARIO: 'migrate', DIR: dir, CHUNK: '100' }, k);
      expect(r.killed, r.out).toBe(true);
      await checkAfterCrash(dir, acked, await tempDir());
    }, 60_000);
  }
});

const stallPoints: Kill[] = [
  { op: 'rename', match: '/tile/0/000.p/8', when: 'before', signal: 'SIGSTOP' },
  { op: 'rename', match: '/head', when: 'before', signal: 'SIGSTOP' },
  { op: 'rename', match: '/head', when: 'after', signal: 'SIGSTOP' },
  { op: 'rename', match: '/checkpoint', when: 'before', signal: 'SIGSTOP' },
];
describe('a sequencer stalled (SIGSTOP) inside a step while another process opens the directory', () => {
  for (const k of stallPoints) {
    it(`${k.when} the rename of ${k.match}`, async () => {
      const dir = await tempDir();
      const c = startChild({ SCENARIO: 'step', DIR: dir, FIRST: '0', SETUP: '3', PRODUCED: '4' }, k);
      await stopped(c.child.pid!);
      const b = await FileAuditStore.open(dir);
      expect(await b.acquireSequencer()).toBe(false);
      await b.close();
      const other = await FileAuditStore.open(dir).then((store) => AuditLog.open({ store, ...O, appendTimeoutMs: 500 })).catch((e) => e);
      // Refused only while the step has files past the head (§4.3): before its head is renamed. A
      // step writes its tiles and bundles at once, so at the stall before a tile's rename another
      // of its files (the bundle) may already be in place; after the head, never.
      if (!(other instanceof AuditLog)) expect([k.when === 'before' && k.match !== '/checkpoint', other.code]).toEqual([true, 'ERR_AUDIT_CORRUPT']);
      const acked: string[] = [];
      if (other instanceof AuditLog) {
        expect(other.stats().sequencer).toBe(false);
        await other.record(sampleEvent(900));
        acked.push('evt-900');
        await other.close();
      }
      c.child.kill('SIGCONT');
      const r = await c.done;
      expect(r.killed).toBe(false);
      await checkAfterCrash(dir, [...r.acked, ...acked], await tempDir());
    }, 60_000);
  }
});
