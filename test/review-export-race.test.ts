/**
 * Review (export): two `exportLog` runs into the same directory at once. The "never go back"
 * check (`prev.size > cp.size`) is made once at the start, and the `checkpoint` is replaced at the
 * end with no lock, so an export of an older checkpoint that finishes last rolls the published
 * checkpoint back below one already published from the same directory.
 *
 * Now: one export at a time per directory (a lock file); another is refused, retryably.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportLog, type ExportSource } from '../src/audit/export.js';
import { signedSampleLog } from './support/audit-fixtures.js';

const { keys, entries, note } = signedSampleLog('keywarden.example/review-export', 41, 600);

function source(size: number, gate?: Promise<void>): ExportSource {
  return {
    latest: async () => note(size),
    async *entries(from: number) {
      if (gate !== undefined) await gate;
      for (let i = from; i < size; i++) yield entries[i]!;
    },
  };
}

describe('review: concurrent exports into one directory', () => {
  it('never leave a published checkpoint older than one already published there', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-review-race-'));
    try {
      await exportLog(source(10), out, keys.verifierKey);
      // A: an export of size 20 that is slow to read its entries (a big store, a slow database).
      let open!: () => void;
      const gate = new Promise<void>((r) => (open = r));
      const slow = exportLog(source(20, gate), out, keys.verifierKey);
      await new Promise((r) => setTimeout(r, 50));
      // B: an export of size 600 starts later. It is refused while A holds the directory
      // (retryable, nothing written), or it runs: either way nothing is published out of order.
      const b = await exportLog(source(600), out, keys.verifierKey).then((r) => r.size, (e: { code?: string }) => e.code);
      expect([600, 'ERR_AUDIT_UNAVAILABLE']).toContain(b);
      open();
      await slow.catch(() => undefined); // refusing is fine; rolling back is not
      const published = () => readFile(join(out, 'checkpoint'), 'utf8').then((t) => Number(t.split('\n')[1]));
      expect(await published()).toBe(b === 600 ? 600 : 20);
      // B again, once A is done: it publishes, and nothing goes back afterwards.
      if (b !== 600) expect((await exportLog(source(600), out, keys.verifierKey)).size).toBe(600);
      await exportLog(source(20), out, keys.verifierKey).catch(() => undefined);
      expect(await published()).toBe(600);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
