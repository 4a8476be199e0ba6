/**
 * The same-pid liveness check (file-lock.ts) consults a module-level registry of open instances.
 * A process with two copies of the library (the package ships ESM and CJS builds: `import` in the
 * app, `require` in a dependency; or two versions in node_modules) has two registries, and each
 * copy treats the other copy's live LOCK (same pid, instance not in *its* registry) as dead and
 * takes it over: two sequencers in one process. Before b133c30 a lock naming this pid was alive.
 * docs/AUDIT.md §4.2: "Exactly one at a time".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

describe('two copies of keywarden in one process', () => {
  it('the second copy does not take over a LOCK the first holds (one sequencer)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-two-copies-'));
    try {
      const copy1 = await import('../src/audit/file-store.js');
      vi.resetModules(); // a second module instance: as a CJS copy next to the ESM one
      const copy2 = await import('../src/audit/file-store.js');
      expect(copy1.FileAuditStore).not.toBe(copy2.FileAuditStore);
      const a = await copy1.FileAuditStore.open(dir);
      const b = await copy2.FileAuditStore.open(dir);
      try {
        expect(await a.acquireSequencer()).toBe(true);
        const bGot = await b.acquireSequencer();
        const aStill = await a.acquireSequencer();
        expect({ bGot, aStill }).toEqual({ bGot: false, aStill: true });
      } finally {
        await b.close();
        await a.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
