/**
 * Review 6 (audit export, outside auditor): `keywarden audit export --out OUT` wrote through
 * symbolic links inside OUT. Files are replaced by rename (a link at a file's own path is
 * replaced, not followed), but the directories were created with `mkdir -p`, which follows a
 * link: with `OUT/tile` a link to another directory, the export wrote its tiles and bundles
 * there — outside OUT, with the exporting user's rights — and reported success. Anyone who can
 * write the published directory (a web root, a bucket mirror) could point the export anywhere.
 *
 * Now: every directory an export writes into is checked from OUT down (lstat, created one level
 * at a time): one that is a symbolic link, or not a directory, is refused (ERR_AUDIT_CORRUPT
 * naming it), nothing is written through it and the checkpoint is not replaced.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
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

const keys = generateNoteKey('keywarden.example/review6-symlink', new Uint8Array(32).fill(62));
const signer = newNoteSigner(keys.signerKey);
const entries = Array.from({ length: 600 }, (_, i) => encodeEntry(sampleEvent(i)));

function source(size: number): ExportSource {
  const edge = TileEdge.empty(false);
  for (let i = 0; i < size; i++) edge.append(leafHash(entries[i]!));
  const note = signCheckpoint({ origin: 'keywarden.example/review6-symlink', size, rootHash: edge.root(), extensions: [] }, signer);
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
const temp = async (prefix: string) => {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};

describe('symbolic links inside the export directory', () => {
  it('OUT/tile a link to another directory: refused, nothing written there', async () => {
    const out = await temp('kw-r6-out-');
    const elsewhere = await temp('kw-r6-elsewhere-');
    await symlink(elsewhere, join(out, 'tile'));
    await expect(exportLog(source(300), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('symbolic link') as unknown });
    expect(await readdir(elsewhere)).toEqual([]);
    await expect(lstat(join(out, 'checkpoint'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a link where the next tile\'s partial directory goes (tile/0/002.p): refused, nothing written there', async () => {
    const out = await temp('kw-r6-out-');
    const elsewhere = await temp('kw-r6-elsewhere-');
    await exportLog(source(300), out, keys.verifierKey);
    await mkdir(join(out, 'tile', 'entries'), { recursive: true });
    await symlink(elsewhere, join(out, 'tile', '0', '002.p'));
    await expect(exportLog(source(600), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    expect(await readdir(elsewhere)).toEqual([]);
  });

  it('a link at a file\'s own path is replaced by the file, never written through', async () => {
    const out = await temp('kw-r6-out-');
    const elsewhere = await temp('kw-r6-elsewhere-');
    await mkdir(join(out, 'tile', '0'), { recursive: true });
    await symlink(join(elsewhere, 'victim'), join(out, 'tile', '0', '000'));
    await exportLog(source(300), out, keys.verifierKey);
    expect((await lstat(join(out, 'tile', '0', '000'))).isFile()).toBe(true);
    expect(await readdir(elsewhere)).toEqual([]);
  });
});
