/**
 * A LOCK left by a crashed sequencer whose pid equals this process's pid (a container restart:
 * the service runs with the same small pid every time) is never taken over: #takeLock treats
 * `pid === process.pid` as "held", whatever the instance id. docs/AUDIT.md §4.1 promises
 * "a lock left by a dead process is taken over".
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack-lock', new Uint8Array(32).fill(41));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('stale LOCK whose pid is this process\'s pid (crash, then restart with the same pid)', () => {
  it('is taken over: the restarted process becomes the sequencer and append() completes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack-lock-'));
    dirs.push(dir);
    // First "boot": a sequencer integrates one entry, then the process is SIGKILLed (LOCK stays).
    const first = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await first.append(sampleEvent(0));
    await first.close(); // (a clean stand-in for the dead process: nothing in this process holds the role)
    // What the crash leaves behind: LOCK names this pid (same pid after the restart) and the old instance id.
    await writeFile(join(dir, 'LOCK'), `${process.pid} 0123456789abcdef`);
    // Second "boot", same pid: nobody else is alive.
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, appendTimeoutMs: 2000, roleCheckMs: 50 });
    try {
      await new Promise((r) => setTimeout(r, 300)); // several role checks
      expect(log.isSequencer).toBe(true);
      await expect(log.append(sampleEvent(1))).resolves.toMatchObject({ index: 1 });
    } finally {
      await log.close();
    }
  });
});
