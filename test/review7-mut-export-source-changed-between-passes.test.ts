/**
 * Review 7 (mutation review). Guarantee (src/audit/export.ts, docs/AUDIT.md §7): "a published
 * directory never holds a checkpoint its tiles do not prove" — the export reads the new entries
 * twice, and "a source that changed between the passes is caught before the checkpoint is
 * replaced".
 *
 * Survived: in src/audit/export.ts `exportLocked`, the check after the second (writing) pass
 * removed (`if (!equalBytes(edge.root(), cp.rootHash)) throw …('the entries changed during the
 * export …')` → `if (false) …`). A source that answered the first pass with the log's entries and
 * the second with other bytes (a store changed under the export, a replica behind a load
 * balancer) then got tiles and bundles of those other entries written AND the new checkpoint
 * published over them: a directory whose tiles do not prove its checkpoint. The named export
 * tests still passed: each of their sources answers both passes alike.
 *
 * Now asserted: with a source whose second read of the new entries changes one entry, the export
 * fails with ERR_AUDIT_CORRUPT and the published `checkpoint` is still the previous one; an
 * export from an honest source afterwards succeeds and publishes the new checkpoint.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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

const origin = 'keywarden.example/review7-export-passes';
const keys = generateNoteKey(origin, new Uint8Array(32).fill(75));
const signer = newNoteSigner(keys.signerKey);
const entries = Array.from({ length: 400 }, (_, i) => encodeEntry(sampleEvent(i)));

/** The first `size` entries and their checkpoint; from the `changeOnRead`-th read of entries on, entry 300 differs. */
function source(size: number, changeOnRead = Infinity): ExportSource {
  const edge = TileEdge.empty(false);
  for (let i = 0; i < size; i++) edge.append(leafHash(entries[i]!));
  const note = signCheckpoint({ origin, size, rootHash: edge.root(), extensions: [] }, signer);
  let reads = 0;
  return {
    latest: async () => note,
    async *entries(from) {
      reads++;
      for (let i = from; i < size; i++) yield i === 300 && reads >= changeOnRead ? encodeEntry(sampleEvent(10_000)) : entries[i]!;
    },
  };
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('an export whose source changes between its two passes', () => {
  it('does not replace the published checkpoint', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-r7-export-passes-'));
    dirs.push(out);
    await exportLog(source(260), out, keys.verifierKey);
    const published = await readFile(join(out, 'checkpoint'), 'utf8');
    // trustPublished: the first read is the checking pass, the second the writing pass.
    await expect(exportLog(source(400, 2), out, keys.verifierKey, { trustPublished: true })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    expect(await readFile(join(out, 'checkpoint'), 'utf8')).toBe(published);
    // Also with the full re-check of the published files (then the passes are reads 2 and 3).
    await expect(exportLog(source(400, 3), out, keys.verifierKey)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    expect(await readFile(join(out, 'checkpoint'), 'utf8')).toBe(published);
    expect(await exportLog(source(400), out, keys.verifierKey)).toMatchObject({ from: 260, size: 400 });
    expect(await readFile(join(out, 'checkpoint'), 'utf8')).not.toBe(published);
  });
});
