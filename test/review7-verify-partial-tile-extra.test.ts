/**
 * Outside review 7 (verify): a partial tile or entry bundle holding more than its width passed
 * `audit verify`. C2SP tlog-tiles: the file `<N>.p/<W>` holds exactly W hashes (or entries).
 * With 32 bytes appended to `tile/0/000.p/6` (seven hashes under the name of six), or a seventh
 * entry appended to `tile/entries/000.p/6`, the exported directory verified (exit 0): the reader
 * compared only the first W items and took the file as good.
 *
 * Where: src/audit/file-tiles.ts `TileFiles.readTile` / `readBundle` (a file's length was
 * checked against the width asked for, not against the width its name declares).
 *
 * Now: a tile or bundle file must hold exactly the number of items its name declares (256 for a
 * full one); any other file is not a tile, and verify reports it (exit 1). What the store writes
 * itself still reads back and verifies.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const keys = generateNoteKey('keywarden.example/review7-partial', new Uint8Array(32).fill(73));
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function exported(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-r7-partial-'));
  dirs.push(dir);
  const l = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 6; i++) await l.append(sampleEvent(i));
  await l.close();
  const out = `${dir}-export`;
  dirs.push(out);
  const e = await cli(['audit', 'export', '--dir', dir, '--key', keys.verifierKey, '--out', out]);
  expect(e.code, e.err).toBe(0);
  return out;
}

const verify = (dir: string) => cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey]);

describe('a partial tile or bundle holds exactly its width', () => {
  it('as exported, it verifies', async () => {
    const out = await exported();
    expect((await readFile(join(out, 'tile/0/000.p/6'))).length).toBe(6 * 32);
    const r = await verify(out);
    expect(r.code, r.out + r.err).toBe(0);
  });

  it('a seventh hash in tile/0/000.p/6: exit 1', async () => {
    const out = await exported();
    await appendFile(join(out, 'tile/0/000.p/6'), new Uint8Array(32).fill(9));
    const r = await verify(out);
    expect(r.code, r.out + r.err).toBe(1);
  });

  it('a seventh entry in tile/entries/000.p/6: exit 1', async () => {
    const out = await exported();
    const bundle = await readFile(join(out, 'tile/entries/000.p/6'));
    const first = bundle.subarray(0, 2 + bundle.readUInt16BE(0)); // one entry: a 2-byte length, then its bytes
    await appendFile(join(out, 'tile/entries/000.p/6'), first);
    const r = await verify(out);
    expect(r.code, r.out + r.err).toBe(1);
  });
});
