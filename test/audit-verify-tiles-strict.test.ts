/**
 * `audit verify` on the tiles a FileAuditStore keeps (found by an outside review, 2026-11-30):
 * - the partial tiles at the latest checkpoint's size, which `AuditLog.open` and proofs read,
 *   were not compared when the log had grown past the checkpoint (entries under the tree head
 *   only): one flipped byte in `tile/0/001.p/44` verified OK while open refused the log;
 * - a full tile with bytes after its 256 hashes, and a full entry bundle carrying a 257th entry,
 *   verified OK: the tlog-tiles spec makes a full tile exactly 8,192 bytes and a full bundle
 *   exactly 256 entries;
 * - an incremental `audit export` carried an entry changed in its own earlier partial bundle
 *   into the new export and reported success.
 */
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/verify-tiles', new Uint8Array(32).fill(4));
let dir: string;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: (s) => void out.push(s) });
  return { code, out: out.join('') };
}
const verify = (d: string) => cli('audit', 'verify', '--dir', d, '--key', keys.verifierKey);

async function copy(change: (d: string) => Promise<void>): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kw-vts-'));
  await cp(dir, d, { recursive: true });
  await change(d);
  return d;
}

beforeAll(async () => {
  // 300 entries under checkpoints (one full tile, a partial of 44), then 5 more under the tree
  // head only: the latest checkpoint's partial tiles and the head's differ.
  dir = await mkdtemp(join(tmpdir(), 'kw-vts-'));
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
  for (let i = 0; i < 300; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => log.record([sampleEvent(i + j)])));
    await log.checkpoint();
  }
  for (let i = 0; i < 5; i++) await log.record([sampleEvent(300 + i)]);
  await new Promise((r) => setTimeout(r, 300));
  await log.close();
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('audit verify checks the stored tiles strictly', () => {
  it('0 for the log as written', async () => {
    const r = await verify(dir);
    expect(r.code, r.out).toBe(0);
    await expect(readFile(join(dir, 'tile/0/001.p/44'))).resolves.toHaveLength(44 * 32);
  });

  it('1 when a partial tile at the latest checkpoint\'s size was changed', async () => {
    const d = await copy(async (x) => {
      const p = join(x, 'tile/0/001.p/44');
      const b = await readFile(p);
      b[10]! ^= 1;
      await writeFile(p, b);
    });
    const r = await verify(d);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('tile');
  });

  it('1 when a full tile has bytes after its 256 hashes', async () => {
    const r = await verify(await copy((x) => appendFile(join(x, 'tile/0/000'), new Uint8Array(32))));
    expect(r.code, r.out).toBe(1);
  });

  it('1 when a full entry bundle carries a 257th entry', async () => {
    const r = await verify(await copy((x) => appendFile(join(x, 'tile/entries/000'), new Uint8Array([0, 3, 1, 2, 3]))));
    expect(r.code, r.out).toBe(1);
  });

  it('an incremental export refuses a previous export whose partial bundle was changed', async () => {
    const out = await mkdtemp(join(tmpdir(), 'kw-vts-out-'));
    const src = await copy(async () => {});
    expect((await cli('audit', 'export', '--dir', src, '--key', keys.verifierKey, '--out', out)).code).toBe(0);
    // Change one byte of an entry in the export's partial bundle (300 = 256 + 44).
    const p = join(out, 'tile/entries/001.p/44');
    const b = await readFile(p);
    b[b.length - 1]! ^= 1;
    await writeFile(p, b);
    // The log grows under a new checkpoint; the next export must not build on the changed bundle.
    const log = await AuditLog.open({ store: await FileAuditStore.open(src), signerKey: keys.signerKey });
    await log.checkpoint();
    await log.close();
    const again = await cli('audit', 'export', '--dir', src, '--key', keys.verifierKey, '--out', out);
    expect(again.code, again.out).not.toBe(0);
    expect(again.out).toContain('previous export');
    await rm(out, { recursive: true, force: true });
  });
});
