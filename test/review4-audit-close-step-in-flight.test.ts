/**
 * FileAuditStore: `AuditLog.close()` (or a step-down) while an integration step is still in
 * flight removed `LOCK` under that step.
 *
 * What was wrong: `Sequencer.stop` waits for the batch in flight at most `appendTimeoutMs` (a
 * store that hangs must not hang the caller), then the log calls `store.releaseSequencer()`,
 * which removed `LOCK` at once — while the step, past its LOCK fence, was still writing tiles
 * and would then write its head. A slow disk (an fsync longer than the timeout) was enough:
 * another process took the free lock, integrated its own batch at the same size, and the old
 * step then overwrote that batch's bundle and head. An acknowledged entry of the new sequencer
 * was lost, and the stored tiles no longer matched the entries (two sequencers at once, which
 * docs/AUDIT.md §4.1 rules out: "Exactly one at a time, even if two believe they are").
 * PostgreSQL is not affected: its release waits for the step's lock on the lease row.
 *
 * Now: `releaseSequencer()` waits for the store's step in flight before it gives up `LOCK`, like
 * the PostgreSQL lease, so no other instance can take the role while this one may still write.
 */
import type * as FsPromises from 'node:fs/promises';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** Holds the next fdatasync of a file whose path contains `path` until `release` is called. */
let gate: { path: string; reached: () => void; held: Promise<void> } | undefined;

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof FsPromises>();
  const wrap = (h: FsPromises.FileHandle, path: string): FsPromises.FileHandle =>
    new Proxy(h, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const g = gate;
          if (g !== undefined && prop === 'datasync' && path.includes(g.path)) {
            gate = undefined;
            g.reached();
            await g.held;
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...real, open: async (...args: Parameters<typeof real.open>) => wrap(await real.open(...args), String(args[0])) };
});

const keys = generateNoteKey('keywarden.example/review4-close-in-flight', new Uint8Array(32).fill(45));
const dirs: string[] = [];
afterEach(async () => {
  gate = undefined;
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const exists = (p: string) => access(p).then(() => true, () => false);

describe('FileAuditStore: closing a sequencer whose step is slower than appendTimeoutMs', () => {
  it('keeps LOCK until the step in flight has finished: no second sequencer writes at the same size, no acknowledged entry is lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-review4-close-'));
    dirs.push(dir);
    const a = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, appendTimeoutMs: 1000, checkpointIntervalMs: 86_400_000 });
    await a.append(sampleEvent(0));

    // A's next step stalls in the fdatasync of its entry bundle (a slow disk), past its LOCK fence.
    let release!: () => void;
    let reached!: () => void;
    const atGate = new Promise<void>((r) => (reached = r));
    gate = { path: 'tile/entries', reached, held: new Promise<void>((r) => (release = r)) };
    const first = a.record(sampleEvent(1));
    first.catch(() => undefined); // its deadline (1 s) passes while the disk stalls
    await atGate;

    // A closes: its sequencer gives up waiting for the step after appendTimeoutMs.
    const closing = a.close();
    // Wait (bounded) for A to let LOCK go; a correct store keeps it while its step is in flight.
    for (let i = 0; i < 100 && (await exists(join(dir, 'LOCK'))); i++) await new Promise((r) => setTimeout(r, 40));

    // Another process opens the store meanwhile and records an entry (acknowledged: durable).
    const b = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, appendTimeoutMs: 5000, checkpointIntervalMs: 86_400_000 });
    await b.record(sampleEvent(2));

    // The disk catches up: A's step finishes, A closes.
    release();
    await closing;
    await b.close();

    // Every acknowledged entry is in the log, and the log verifies.
    const c = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await c.flush();
    await c.close();
    const store = await FileAuditStore.open(dir);
    const entries = await store.read(0, await store.size());
    const checkpoints = await store.checkpoints();
    const head = (await store.state()).head!;
    await store.close();
    const ids = entries.map((e) => decodeEntry(e).id);
    expect(ids).toContain(sampleEvent(2).id);
    expect(ids).toContain(sampleEvent(0).id);
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries, checkpoints, head }).problems).toEqual([]);
  });
});
