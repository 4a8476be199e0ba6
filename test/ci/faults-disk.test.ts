/**
 * The file audit log on a disk that really fills up (issue #11, defect 1, end to end): a 256 KiB
 * tmpfs, a log on it, a file that takes the rest of the space. Appends fail with
 * ERR_AUDIT_UNAVAILABLE and leave the files as they were; once space returns the same process
 * goes on, and after a reopen every acknowledged entry is there and the log verifies. Mounting
 * needs root (as in CI); elsewhere the test skips, unless KEYWARDEN_CI=1.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../../src/audit/entry.js';
import { FileAuditStore } from '../../src/audit/file-store.js';
import { AuditLog } from '../../src/audit/log.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { isKeywardenError } from '../../src/errors.js';
import { sampleEvent } from '../support/audit-fixtures.js';

const mnt = mkdtempSync(join(tmpdir(), 'kw-tmpfs-'));
const mounted = (() => {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mnt]); // lazy: a failed test may still hold a file open
  rmSync(mnt, { recursive: true, force: true });
});

const keys = generateNoteKey('keywarden.example/disk-full', new Uint8Array(32).fill(3));

/** Fills the file system with `filler` until writing fails with ENOSPC. */
function fill(path: string): void {
  const chunk = Buffer.alloc(4096, 1);
  const parts: Buffer[] = [];
  for (;;) {
    parts.push(chunk);
    try {
      writeFileSync(path, Buffer.concat(parts));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOSPC') throw e;
      parts.pop();
      writeFileSync(path, Buffer.concat(parts));
      return;
    }
  }
}

describe('a full disk under the file audit log', () => {
  it('is available to CI', () => {
    if (process.env.KEYWARDEN_CI === '1') expect(mounted, 'CI must be able to mount a tmpfs (root)').toBe(true);
  });

  it.skipIf(!mounted)('appends fail cleanly while it is full; once space returns nothing acknowledged is lost', async () => {
    const dir = join(mnt, 'audit');
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    for (let i = 0; i < 3; i++) await log.append(sampleEvent(i));
    const filler = join(mnt, 'filler');
    fill(filler);
    let failures = 0;
    for (let i = 100; i < 160; i++) {
      const r = await log.append(sampleEvent(i)).catch((e: unknown) => e);
      if (isKeywardenError(r)) {
        expect(r.code).toBe('ERR_AUDIT_UNAVAILABLE');
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
    const acknowledgedBefore = log.size;
    rmSync(filler);
    for (let i = 30; i < 35; i++) await log.append(sampleEvent(i));
    await log.close();
    const store = await FileAuditStore.open(dir);
    const entries = await store.read(0, await store.size());
    const checkpoints = await store.checkpoints();
    await store.close();
    expect(entries).toHaveLength(acknowledgedBefore + 5);
    expect(entries.slice(-5).map((e) => decodeEntry(e).id)).toEqual([30, 31, 32, 33, 34].map((i) => sampleEvent(i).id));
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries, checkpoints }).ok).toBe(true);
  });
});
