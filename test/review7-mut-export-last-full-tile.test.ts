/**
 * Review 7 (mutation review). Guarantee (docs/AUDIT.md §7, src/audit/export.ts): an incremental
 * export recomputes every full tile and bundle the previous export published and refuses one that
 * is missing or changed (ERR_AUDIT_CORRUPT), so a published directory never holds a checkpoint its
 * tiles do not prove — held, by test/review6-export-tampered-published.test.ts.
 *
 * Survived: in src/audit/export.ts `checkPublished`, the "wholly inside the published tree" test
 * made strict (`(t.index + 1) * span > size` → `>= size`): the LAST full tile and bundle are then
 * skipped whenever the previous export ended exactly on a tile boundary (size 256, 512, …) — a
 * changed `tile/0/000` or `tile/entries/000` after an export of 256 entries was published over by
 * the next export (the edge check reads only `tile/1/000.p/1`, which holds the tile's hash as it
 * was). The review6 test still passed: its previous exports end at 300 and 520, never on a
 * boundary.
 *
 * Now asserted: after exports of exactly 256 and 512 entries, a changed last full tile or bundle
 * (or a removed one) is refused naming the file, and the published checkpoint stays as it was.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { type ExportSource, exportLog } from '../src/audit/export.js';
import { leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { TileEdge } from '../src/audit/tile-edge.js';
import { sampleEvent } from './support/audit-fixtures.js';

const origin = 'keywarden.example/review7-export';
const keys = generateNoteKey(origin, new Uint8Array(32).fill(71));
const signer = newNoteSigner(keys.signerKey);
const entries = Array.from({ length: 600 }, (_, i) => encodeEntry(sampleEvent(i)));

function source(size: number): ExportSource {
  const edge = TileEdge.empty(false);
  for (let i = 0; i < size; i++) edge.append(leafHash(entries[i]!));
  const note = signCheckpoint({ origin, size, rootHash: edge.root(), extensions: [] }, signer);
  return {
    latest: async () => note,
    async *entries(from) {
      for (let i = from; i < size; i++) yield entries[i]!;
    },
  };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('an incremental export after one that ended exactly on a tile boundary', () => {
  for (const [size, rel] of [[256, 'tile/0/000'], [256, 'tile/entries/000'], [512, 'tile/0/001'], [512, 'tile/entries/001']] as const) {
    it(`refuses when ${rel} (the last full file of a ${size}-entry export) was changed`, async () => {
      const out = await mkdtemp(join(tmpdir(), 'kw-r7-export-'));
      dirs.push(out);
      await exportLog(source(size), out, keys.verifierKey);
      const published = await readFile(join(out, 'checkpoint'), 'utf8');
      const file = await readFile(join(out, rel));
      file[40]! ^= 1;
      await writeFile(join(out, rel), file);

      await expect(exportLog(source(600), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining(rel) as unknown });
      expect(await readFile(join(out, 'checkpoint'), 'utf8')).toBe(published);
    });
  }

  it('refuses when the last full tile of a 512-entry export was removed', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-r7-export-'));
    dirs.push(out);
    await exportLog(source(512), out, keys.verifierKey);
    await rm(join(out, 'tile/0/001'));
    await expect(exportLog(source(600), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('tile/0/001') as unknown });
  });

  it('an untouched directory exported to a boundary still extends', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-r7-export-'));
    dirs.push(out);
    await exportLog(source(256), out, keys.verifierKey);
    await exportLog(source(512), out, keys.verifierKey);
    expect(await exportLog(source(600), out, keys.verifierKey)).toMatchObject({ from: 512, size: 600 });
  });
});
