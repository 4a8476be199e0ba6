/**
 * Outside review 5 (tlog read side): `--trusted` (docs/AUDIT.md §5 item 6: "the log must still
 * contain the trusted checkpoint's tree, and the latest checkpoint must not be older") did not
 * apply when the store had NO checkpoint at all. Both verifiers checked "latest older than
 * trusted" only when a latest existed (src/audit/verify.ts, src/audit/verify-stream.ts). So, with
 * the auditor's last checkpoint of size 6 in hand:
 *   - the checkpoint history cut back to a checkpoint of size 3 → `rollback`, exit 1 (right);
 *   - the checkpoint history removed ENTIRELY (the `checkpoint` and `checkpoints` files, or every
 *     `audit_checkpoints` row), the signed tree head left → OK, exit 0.
 * Removing more of what the log published passed where removing less failed: everything the
 * log ever published as a checkpoint — including the one the auditor holds — is gone, and the
 * auditor is told all is well.
 *
 * Now: no checkpoint counts as size 0; a trusted checkpoint of any larger size makes that a
 * `rollback` problem (exit 1). A trusted checkpoint of size 0 and no checkpoint stay fine.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { newNoteSigner } from '../src/audit/note.js';
import { signTreeHead } from '../src/audit/records.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { verifyAuditStream } from '../src/audit/verify-stream.js';
import { sampleEvent, signedSampleLog } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const ORIGIN = 'keywarden.example/review5-trusted-none';
const log = signedSampleLog(ORIGIN, 55, 8);
const head = signTreeHead(newNoteSigner(log.keys.signerKey), 8, log.tree.root(8));
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function both(checkpoints: string[], trusted: string) {
  const input = { verifierKey: log.keys.verifierKey, entries: log.entries, checkpoints, head, requireHead: true, trusted };
  const a = verifyAuditLog(input);
  const b = await verifyAuditStream(input);
  return { log: { ok: a.ok, kinds: a.problems.map((p) => p.kind) }, stream: { ok: b.ok, kinds: b.problems.map((p) => p.kind) } };
}

describe('--trusted and a store without any checkpoint', () => {
  it('history cut back to an older checkpoint: rollback (as before)', async () => {
    const r = await both([log.note(3)], log.note(6));
    expect(r).toEqual({ log: { ok: false, kinds: ['rollback'] }, stream: { ok: false, kinds: ['rollback'] } });
  });

  it('history removed entirely: rollback too', async () => {
    const r = await both([], log.note(6));
    expect(r).toEqual({ log: { ok: false, kinds: ['rollback'] }, stream: { ok: false, kinds: ['rollback'] } });
  });

  it('for all trusted sizes and kept histories: fine exactly when the newest kept checkpoint is not older than the trusted one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 8 }), fc.uniqueArray(fc.integer({ min: 0, max: 8 }), { maxLength: 3 }), async (t, kept) => {
        const sizes = [...kept].sort((x, y) => x - y);
        const r = await both(sizes.map((s) => log.note(s)), log.note(t));
        const newest = sizes.length === 0 ? 0 : sizes.at(-1)!;
        const want = newest >= t ? { ok: true, kinds: [] } : { ok: false, kinds: ['rollback'] };
        expect(r).toEqual({ log: want, stream: want });
      }),
      { numRuns: 80 },
    );
  });

  it('audit verify --trusted on a FileAuditStore whose checkpoint files were deleted: exit 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-r5-trusted-'));
    dirs.push(dir);
    const keys = log.keys;
    const l = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    for (let i = 0; i < 6; i++) await l.append(sampleEvent(i));
    await l.close();
    const trusted = `${dir}.trusted`;
    dirs.push(trusted);
    await writeFile(trusted, await readFile(join(dir, 'checkpoint')));
    const before = await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey, '--trusted', trusted]);
    expect(before.code, before.out + before.err).toBe(0);
    await rm(join(dir, 'checkpoint'));
    await rm(join(dir, 'checkpoints'));
    const after = await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey, '--trusted', trusted]);
    expect(after.code, after.out + after.err).toBe(1);
    expect(after.out).toContain('PROBLEM rollback');
  });
});
