/**
 * Review (export): an export whose entries do not hash to the checkpoint reports "nothing
 * published" (ERR_AUDIT_CORRUPT), but it has already written full tiles and entry bundles built
 * from the wrong entries to their final, immutable tlog-tiles paths in the published directory
 * (export.ts writes every 256 entries and checks the root only at the end). Bad input must
 * write nothing.
 *
 * Now: export checks the root on a copy of the edge first (nothing written), then writes.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../src/audit/entry.js';
import { exportLog, type ExportSource } from '../src/audit/export.js';
import { sampleEvent, signedSampleLog } from './support/audit-fixtures.js';

const { keys, entries, note } = signedSampleLog('keywarden.example/review-export', 41, 600);

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  await walk(dir);
  return out.sort();
}

describe('review: an export refused for tampered entries', () => {
  it('leaves the published directory exactly as it was', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-review-failed-'));
    try {
      const honest: ExportSource = { latest: async () => note(10), async *entries(from) { yield* entries.slice(from, 10); } };
      await exportLog(honest, out, keys.verifierKey);
      const before = await files(out);
      // The store now holds a changed entry 100; its newest checkpoint is genuine (size 600).
      const tampered = entries.slice();
      tampered[100] = encodeEntry({ ...sampleEvent(100), actor: 'mallory' });
      const bad: ExportSource = { latest: async () => note(600), async *entries(from) { yield* tampered.slice(from); } };
      await expect(exportLog(bad, out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
      expect(await files(out)).toEqual(before);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
