/**
 * Review (file migration): file-migrate.ts reads the 0.1 `checkpoints` history with
 * `readFile(path).catch(() => new Uint8Array(0))`, so ANY read error (EIO, EACCES, EISDIR — a
 * directory stands in for them here, the tests run as root) is taken as "no checkpoint yet". The
 * migration then completes: every signed entry is written past an empty head as an "unsigned
 * tail", `layout` is written and `entries` renamed to `entries.v1` — an irreversible step taken on
 * a read failure, after which the log no longer opens (and the documented repair for an unsigned
 * tail cuts those signed entries). A history that cannot be read must stop the migration with a
 * stable error code and leave the 0.1 directory untouched.
 *
 * Now: only ENOENT means absent; any other read error is ERR_AUDIT_UNAVAILABLE, nothing changed.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/review-migrate', new Uint8Array(32).fill(43));

describe('review: file migration when the 0.1 checkpoint history cannot be read', () => {
  it('refuses with a stable code and leaves the 0.1 directory as it was', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-review-mig-'));
    try {
      const entries = Array.from({ length: 50 }, (_, i) => encodeEntry(sampleEvent(i)));
      await writeFile(join(dir, 'entries'), Buffer.concat([MAGIC, ...entries.map(frame)]));
      await mkdir(join(dir, 'checkpoints')); // unreadable as a file (EISDIR)
      const store = await FileAuditStore.open(dir);
      expect(store.legacy).toBe(true);
      const err = await AuditLog.open({ store, signerKey: keys.signerKey }).then(
        async (log) => {
          await log.close();
          return undefined;
        },
        (e: unknown) => e as { code?: string },
      );
      await store.close().catch(() => undefined);
      expect(err?.code).toMatch(/^ERR_AUDIT_(UNAVAILABLE|CORRUPT)$/);
      // Nothing irreversible was done on a read failure.
      expect(await stat(join(dir, 'entries')).then(() => 'entries kept', () => 'entries renamed')).toBe('entries kept');
      expect(await stat(join(dir, 'layout')).then(() => 'layout written', () => 'no layout')).toBe('no layout');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
