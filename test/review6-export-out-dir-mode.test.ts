/**
 * Review 6 (audit export, outside auditor): docs/AUDIT.md §7 says published directories are
 * created 0755 less the umask. The tile directories were, but the export directory OUT itself
 * was created with `mkdir -p` and no mode (0777 less the umask): under a umask of 0 (a service
 * started with UMask=0000, some container entrypoints) the published directory was
 * world-writable — anyone on the host could replace the checkpoint or plant links in it.
 *
 * Now: OUT (and any parent the export creates) is created 0755 less the umask, like the rest.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { exportLog } from '../src/audit/export.js';
import { leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/review6-mode', new Uint8Array(32).fill(63));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('the export directory under a umask of 0', () => {
  it('is created 0755 like the tile directories, never world-writable', async () => {
    const base = await mkdtemp(join(tmpdir(), 'kw-r6-mode-'));
    dirs.push(base);
    const entry = encodeEntry(sampleEvent(0));
    const note = signCheckpoint({ origin: 'keywarden.example/review6-mode', size: 1, rootHash: leafHash(entry), extensions: [] }, newNoteSigner(keys.signerKey));
    const out = join(base, 'public', 'log');
    const old = process.umask(0);
    try {
      await exportLog({ latest: async () => note, async *entries() { yield entry; } }, out, keys.verifierKey);
    } finally {
      process.umask(old);
    }
    for (const d of [join(base, 'public'), out, join(out, 'tile'), join(out, 'tile', '0')]) expect(((await stat(d)).mode & 0o777).toString(8), d).toBe('755');
    expect(((await stat(join(out, 'checkpoint'))).mode & 0o777).toString(8)).toBe('644');
  });
});
