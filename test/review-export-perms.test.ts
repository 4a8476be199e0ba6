/**
 * Review (export): `audit export` output is documented as "ready to serve from a web server or a
 * bucket" (docs/AUDIT.md §7), but every tile, bundle and the checkpoint is created 0600 and every
 * directory under `tile/` 0700, whatever the umask: a web server running as another user (the
 * usual nginx/www-data setup) cannot read the published, public log.
 *
 * Now: published files are 0644 and directories 0755 (the store's own stay private).
 */
import { mkdtemp, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { exportLog } from '../src/audit/export.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review-export';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(41));
const entries = Array.from({ length: 300 }, (_, i) => encodeEntry(sampleEvent(i)));
const tree = new MerkleTree();
for (const e of entries) tree.append(leafHash(e));

describe('review: exported files are publishable', () => {
  it('are created with the same permissions as any other file the process creates (umask), not owner-only', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-review-perms-'));
    try {
      const note = signCheckpoint({ origin: ORIGIN, size: 300, rootHash: tree.root(300), extensions: [] }, newNoteSigner(keys.signerKey));
      await exportLog({ latest: async () => note, async *entries(from) { yield* entries.slice(from); } }, out, keys.verifierKey);
      // What this process's umask gives an ordinary file and directory.
      await writeFile(join(out, 'reference'), 'x');
      await mkdir(join(out, 'reference-dir'));
      const fileMode = (await stat(join(out, 'reference'))).mode & 0o777;
      const dirMode = (await stat(join(out, 'reference-dir'))).mode & 0o777;
      const modes = async (paths: string[]) => Object.fromEntries(await Promise.all(paths.map(async (p) => [p, ((await stat(join(out, p))).mode & 0o777).toString(8)])));
      expect(await modes(['checkpoint', 'tile/0/000', 'tile/0/001.p/44', 'tile/entries/000', 'tile/1/000.p/1'])).toEqual({
        checkpoint: fileMode.toString(8), 'tile/0/000': fileMode.toString(8), 'tile/0/001.p/44': fileMode.toString(8), 'tile/entries/000': fileMode.toString(8), 'tile/1/000.p/1': fileMode.toString(8),
      });
      expect(await modes(['tile', 'tile/0', 'tile/entries', 'tile/0/001.p'])).toEqual({
        tile: dirMode.toString(8), 'tile/0': dirMode.toString(8), 'tile/entries': dirMode.toString(8), 'tile/0/001.p': dirMode.toString(8),
      });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
