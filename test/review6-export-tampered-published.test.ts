/**
 * Review 6 (audit export, outside auditor): an incremental `keywarden audit export` checked only
 * the right edge of the directory it extends — the partial tiles and the partial bundle at the
 * size of its `checkpoint` (src/audit/export.ts). A FULL tile or entry bundle below that edge
 * was never read again, so when someone changed one in the published directory (one byte of
 * `tile/0/000` or `tile/entries/000`), the next export reported success (exit 0) and published a
 * new checkpoint over it: a directory whose tiles do not prove its checkpoint, which
 * docs/AUDIT.md §7 says never happens. `audit verify --dir OUT` and Go's tlog (TileHashReader,
 * CheckRecord) both reject that directory.
 *
 * Now: before it writes anything, an export recomputes every full tile and bundle the previous
 * export published from the log's entries and compares them, byte for byte, with the files; one
 * that is missing or different is refused (ERR_AUDIT_CORRUPT naming the file), nothing is
 * written and the published checkpoint stays as it was. That is a read of the whole log at every
 * export; `trustPublished` (`--trust-published`) skips it for logs too large to re-read, and then
 * only the edge is checked, as before (clients' tile hash checks and `audit verify --dir` still
 * find a changed full tile).
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

const keys = generateNoteKey('keywarden.example/review6-export', new Uint8Array(32).fill(61));
const signer = newNoteSigner(keys.signerKey);
const entries = Array.from({ length: 600 }, (_, i) => encodeEntry(sampleEvent(i)));

/** The log's first `size` entries and a checkpoint of them signed by the log key. */
function source(size: number): ExportSource {
  const edge = TileEdge.empty(false);
  for (let i = 0; i < size; i++) edge.append(leafHash(entries[i]!));
  const note = signCheckpoint({ origin: 'keywarden.example/review6-export', size, rootHash: edge.root(), extensions: [] }, signer);
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

describe('an incremental export into a directory whose published full files were changed', () => {
  for (const [what, rel] of [['a full tile', 'tile/0/000'], ['a full entry bundle', 'tile/entries/000']] as const) {
    it(`refuses when ${what} was changed, and publishes nothing`, async () => {
      const out = await mkdtemp(join(tmpdir(), 'kw-r6-export-'));
      dirs.push(out);
      await exportLog(source(300), out, keys.verifierKey);
      const published = await readFile(join(out, 'checkpoint'), 'utf8');
      const file = await readFile(join(out, rel));
      file[40]! ^= 1;
      await writeFile(join(out, rel), file);

      await expect(exportLog(source(600), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining(rel) as unknown });
      expect(await readFile(join(out, 'checkpoint'), 'utf8')).toBe(published);
      await expect(readFile(join(out, 'tile/0/001'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  it('refuses when a full tile was removed', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-r6-export-'));
    dirs.push(out);
    await exportLog(source(520), out, keys.verifierKey);
    await rm(join(out, 'tile/0/001'));
    await expect(exportLog(source(600), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('tile/0/001') as unknown });
  });

  it('still exports incrementally over an untouched directory, at and across tile edges', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-r6-export-'));
    dirs.push(out);
    for (const [size, files] of [[255, 2], [256, 3], [257, 2], [512, 3], [600, 2]] as const) {
      expect(await exportLog(source(size), out, keys.verifierKey)).toMatchObject({ size, files });
    }
  });

  it('with trustPublished the full files are not re-read: only the new entries are (the opt-out for huge logs)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-r6-export-'));
    dirs.push(out);
    await exportLog(source(300), out, keys.verifierKey);
    let read = 0;
    const counted: ExportSource = { latest: source(600).latest, async *entries(from) {
      for await (const e of source(600).entries(from)) {
        read++;
        yield e;
      }
    } };
    await exportLog(counted, out, keys.verifierKey, { trustPublished: true });
    expect(read).toBeLessThanOrEqual(2 * (600 - 256)); // two passes over what follows the last full tile, never entry 0
    read = 0;
    await exportLog(source(600), out, keys.verifierKey);
    await expect(exportLog(source(600), out, keys.verifierKey, { trustPublished: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.trustPublished' });
  });
});
