/**
 * Outside review 7 (verify, CLI): `audit verify --dir` told a FileAuditStore directory from an
 * exported one by its `layout` file alone (src/cli/audit-source.ts directorySource). Whoever can
 * write the store could remove `head` (and with it any proof of the entries it covered) — which
 * verify reports as a `head` problem, exit 1 (docs/AUDIT.md §5 item 5,
 * test/review-verify-head-state.test.ts) — and ALSO remove `layout`: the directory was then
 * read as an exported one (no tree head required) and verify said OK, exit 0, while
 * `AuditLog.open` on that directory (FileAuditStore.open writes a new `layout`) refuses it
 * (ERR_AUDIT_CORRUPT).
 *
 * Now: a directory with a checkpoint history (`checkpoints`) or a `head` is read as a store
 * (an export writes neither), so the missing head is a `head` problem, exit 1. An exported
 * directory still verifies without a head.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const keys = generateNoteKey('keywarden.example/review7-layout', new Uint8Array(32).fill(72));
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function storeDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-r7-layout-'));
  dirs.push(dir);
  const l = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 6; i++) await l.append(sampleEvent(i));
  await l.close();
  return dir;
}

const verify = (dir: string) => cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey]);

describe('a store directory without its layout file', () => {
  it('head removed: exit 1 (as before)', async () => {
    const dir = await storeDir();
    await rm(join(dir, 'head'));
    const r = await verify(dir);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain('PROBLEM head');
  });

  it('head and layout removed: exit 1 too, and AuditLog.open refuses the directory', async () => {
    const dir = await storeDir();
    await rm(join(dir, 'head'));
    await rm(join(dir, 'layout'));
    const r = await verify(dir);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).toContain('PROBLEM head');
    await expect(AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
  });

  it('layout alone removed: still OK (the head is there)', async () => {
    const dir = await storeDir();
    await rm(join(dir, 'layout'));
    const r = await verify(dir);
    expect(r.code, r.out + r.err).toBe(0);
  });

  it('an exported directory (no head, no history) still verifies', async () => {
    const dir = await storeDir();
    const out = `${dir}-export`;
    dirs.push(out);
    const e = await cli(['audit', 'export', '--dir', dir, '--key', keys.verifierKey, '--out', out]);
    expect(e.code, e.err).toBe(0);
    const r = await verify(out);
    expect(r.code, r.out + r.err).toBe(0);
  });
});
