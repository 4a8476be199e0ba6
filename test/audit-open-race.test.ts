/**
 * Opening a log while another process's sequencer integrates (found by
 * test/multiprocess-postgres.test.ts in CI: a worker's AuditLog.open refused the log with
 * "entries from index 0 (15 of them) are covered by no signed tree head or checkpoint").
 * inspectStore read the store's state (no tree head yet), then, later, the entries past that
 * head: a batch committed in between — entries AND their tree head, in one transaction — looked
 * like an unsigned tail. The store here returns the state from before the last batch to the first
 * `state()` call, which is exactly that interleaving; open must see the newer head and adopt the
 * batch. A genuinely uncovered record is still refused (the state does not move).
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/open-race', new Uint8Array(32).fill(11));

describe('AuditLog.open while a sequencer elsewhere integrates a batch', () => {
  for (const before of [0, 3]) {
    it(`adopts a batch committed between reading the state and reading the tail (${before} entries before it)`, async () => {
      const store = new MemoryAuditStore();
      const writer = await AuditLog.open({ store, signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
      for (let i = 0; i < before; i++) await writer.append(sampleEvent(i));
      const stale = await store.state(); // what a reader sees just before the next batch commits
      await writer.record([sampleEvent(10), sampleEvent(11), sampleEvent(12)]);
      await writer.flush();
      await writer.close();
      const size = await store.size();
      expect(size).toBe(before + 3);

      let first = true;
      const racing = new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'state') {
            return async () => {
              if (first) {
                first = false;
                return stale;
              }
              return target.state();
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const reader = await AuditLog.open({ store: racing, signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
      expect(reader.size).toBe(size);
      await reader.close();
    });
  }
});
