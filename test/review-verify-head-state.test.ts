/**
 * Outside review (verify path): `AuditLog.open` refuses a store whose tree head is BEHIND the
 * latest checkpoint (an older genuine `head` file put back) or that has checkpoints but NO tree
 * head — `ERR_AUDIT_CORRUPT` (docs/AUDIT.md §4.5 step 3; src/audit/inspect.ts:140-155, here it
 * fails already on the bundle at the checkpoint's size, which the file store reads only up to its
 * head), so the log stops.
 * `keywarden audit verify`, documented as "the full check" (docs/AUDIT.md §4.5, §5), reports
 * both stores as OK (exit 0): an auditor is told the log is healthy while the service cannot
 * open it, and the rollback of the signed head goes unreported.
 *
 * Correct behaviour: verify reports a problem (exit 1) for both.
 *
 * Now: a head behind the latest checkpoint is a `head` problem; a store's missing head too
 * (`requireHead`, set by the CLI for store layouts, not for exported directories).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/review-head-state', new Uint8Array(32).fill(13));
let dir: string;
let oldHead: Uint8Array;
const dirs: string[] = [];

async function verify(d: string) {
  const out: string[] = [];
  const code = await main(['audit', 'verify', '--dir', d, '--key', keys.verifierKey], { out: (s) => void out.push(String(s)), err: (s) => void out.push(s) });
  return { code, out: out.join('') };
}

async function copy(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kw-review-head-'));
  dirs.push(d);
  await cp(dir, d, { recursive: true });
  return d;
}

async function openFails(d: string): Promise<boolean> {
  try {
    const log = await AuditLog.open({ store: await FileAuditStore.open(d), signerKey: keys.signerKey });
    await log.close();
    return false;
  } catch {
    return true;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-review-head-'));
  dirs.push(dir);
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
  await log.close();
  oldHead = new Uint8Array(await readFile(join(dir, 'head')));
  const again = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 5; i < 12; i++) await again.append(sampleEvent(i));
  await again.close();
});
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('audit verify and the stored tree head', () => {
  it('untouched: 0', async () => {
    expect((await verify(await copy())).code).toBe(0);
  });

  it('a genuine but older head put back (behind the latest checkpoint): open refuses, verify must report it', async () => {
    const d = await copy();
    await writeFile(join(d, 'head'), oldHead);
    const r = await verify(d);
    const refused = await openFails(await copy().then(async (c) => (await writeFile(join(c, 'head'), oldHead), c)));
    expect(refused).toBe(true);
    expect(r.code, r.out).toBe(1);
  });

  it('the head removed while checkpoints remain: open refuses, verify must report it', async () => {
    const d = await copy();
    await rm(join(d, 'head'));
    const r = await verify(d);
    const refused = await openFails(await copy().then(async (c) => (await rm(join(c, 'head')), c)));
    expect(refused).toBe(true);
    expect(r.code, r.out).toBe(1);
  });
});
