/**
 * inspect.ts handles "entries past the checkpoint are missing (the tree head counts more)" as a
 * problem the operator repair can drop (dropTo = checkpoint size). On the file store that branch
 * is unreachable when the missing tail shares a bundle with the checkpoint's edge: store.read()
 * sizes the bundle by the HEAD (tileWidth(headSize)), so reading the checkpoint's own edge
 * (edgeAt(cpSize)) asks for the wider partial bundle, finds none, and the problem is reported as
 * "the tiles at the latest checkpoint ... 000.p/1 is missing" (a file that exists) with no
 * dropTo: the documented repair refuses. docs/AUDIT.md §4.4: the repair removes what no
 * signature covers, back to the newest point a signature vouches for, never below the checkpoint.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { tilePath } from '../src/audit/tiles.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack-missing', new Uint8Array(32).fill(44));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('a tree head whose pending tail bundle is missing', () => {
  it('is reported as missing tail entries, and the operator repair drops back to the checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-missing-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
    await log.append(sampleEvent(0)); // checkpoint at 1
    await log.record(sampleEvent(1)); // tree head at 2, no checkpoint
    await log.close();
    await rm(join(dir, tilePath('entries', 0, 2)));
    await stat(join(dir, tilePath('entries', 0, 1))); // the checkpoint's own bundle is still there
    const store = await FileAuditStore.open(dir);
    const refused = await AuditLog.open({ store, signerKey: keys.signerKey }).then(() => undefined, (e: unknown) => e);
    await store.close();
    expect(refused).toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 1 });
    // (the message names the checkpoint's bundle 000.p/1, which exists; see the next test)
    const repaired = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    try {
      expect(decodeEntry(await repaired.entry(0)).id).toBe(sampleEvent(0).id);
      expect(decodeEntry(await repaired.entry(1))).toMatchObject({ type: 'audit.repaired' });
    } finally {
      await repaired.close();
    }
  });

  it('the refusal names what is actually missing, not the checkpoint\'s bundle that is there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-missing-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
    await log.append(sampleEvent(0));
    await log.record(sampleEvent(1));
    await log.close();
    await rm(join(dir, tilePath('entries', 0, 2)));
    const store = await FileAuditStore.open(dir);
    const refused = await AuditLog.open({ store, signerKey: keys.signerKey }).then(() => undefined, (e: unknown) => e);
    await store.close();
    expect(String((refused as Error).message)).not.toContain('000.p/1 is missing');
  });
});
