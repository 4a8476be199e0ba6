/**
 * Entries planted far past the head are found when planted (outside review, 2026-12-01). The
 * file store looked for entries no tree head covers only in the bundle at the head and the one
 * after it: a forged bundle two or more bundles further on passed `audit verify` (exit 0) and
 * `AuditLog.open`, then blocked every open once the log grew up to it. Now the highest stored
 * bundle is found too (one directory listing per level of the tile path), so verify reports it,
 * open refuses it, and the operator's repair removes it.
 */
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

const keys = generateNoteKey('keywarden.example/planted', new Uint8Array(32).fill(44));

describe('a forged bundle far past the head', () => {
  for (const index of [2, 1234]) {
    it(`at bundle ${index}: audit verify reports it, open refuses it, the repair removes it`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'kw-planted-'));
      try {
        const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
        await log.append([sampleEvent(0), sampleEvent(1), sampleEvent(2)]);
        await log.close();
        const forged = Array.from({ length: 256 }, (_, i) => encodeEntry({ ...sampleEvent(1000 + i), actor: 'forged' }));
        const path = join(dir, tilePath('entries', index));
        await mkdir(join(path, '..'), { recursive: true });
        await writeFile(path, encodeBundle(forged));
        const r = await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey]);
        expect(r.code, r.out).toBe(1);
        await expect(AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
        const repaired = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
        await repaired.append(Array.from({ length: 260 }, (_, i) => sampleEvent(10 + i)));
        await repaired.close();
        const again = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
        expect(again.size).toBe(264); // 3 + the repair's own entry + 260
        await again.close();
        expect((await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey])).code).toBe(0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
