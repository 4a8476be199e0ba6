/**
 * sequencerElsewhere trusts any LOCK naming a live pid: a store writer who plants entries past
 * the head and writes LOCK naming any running process (not a keywarden instance) makes
 * AuditLog.open accept the planted tail, while `audit verify` reports it (exit 1).
 * docs/AUDIT.md §4.4: forged bundles past the tree head are refused by `open` (ERR_AUDIT_CORRUPT).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { encodeBundle, tilePath } from '../src/audit/tiles.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const keys = generateNoteKey('keywarden.example/elsewhere', new Uint8Array(32).fill(45));

describe('LOCK naming a live non-keywarden process', () => {
  it('AuditLog.open still refuses a forged bundle past the head (verify and open agree)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-elsewhere-'));
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      await log.append([sampleEvent(0), sampleEvent(1), sampleEvent(2)]);
      await log.close();
      const forged = Array.from({ length: 256 }, (_, i) => encodeEntry({ ...sampleEvent(1000 + i), actor: 'forged' }));
      const path = join(dir, tilePath('entries', 2));
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, encodeBundle(forged));
      // Any live pid will do: here an unrelated child process (pid 1 works too).
      await writeFile(join(dir, 'LOCK'), `${child.pid} deadbeef`);
      const r = await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey]);
      expect(r.code, r.out).toBe(1); // verify reports the unsigned tail
      const store = await FileAuditStore.open(dir);
      let opened: AuditLog | undefined;
      const outcome = await AuditLog.open({ store, signerKey: keys.signerKey, sequencer: false })
        .then((l) => { opened = l; return 'opened'; }, (e: { code?: string }) => e.code);
      await opened?.close();
      if (opened === undefined) await store.close();
      expect(outcome).toBe('ERR_AUDIT_CORRUPT');
    } finally {
      child.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
