/**
 * AuditLog: `flush()` and `checkpoint()` on a closed log still wrote to the store.
 *
 * What was wrong: `record()` and `companionFor()` refuse a closed log, but `flush()` and
 * `checkpoint()` (on an instance that is not — or no longer — the sequencer; after `close()` none
 * is) went on to seal a request record and enqueue it into the store the log had closed (the
 * memory store and a PostgreSQL pool accept it), then waited for a receipt nobody would write
 * until `appendTimeoutMs` ran out, with a poller reading the closed store meanwhile. The caller
 * learnt "did not complete within …" instead of "closed", and the store kept a stray record.
 *
 * Now: both fail at once with ERR_AUDIT_UNAVAILABLE "the audit log is closed", writing nothing.
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/review4-closed', new Uint8Array(32).fill(47));

describe('AuditLog after close()', () => {
  for (const call of ['flush', 'checkpoint'] as const) {
    it(`${call}() fails as closed and writes nothing to the store`, async () => {
      const store = new MemoryAuditStore();
      const log = await AuditLog.open({ store, signerKey: keys.signerKey, appendTimeoutMs: 2000 });
      await log.append(sampleEvent(0));
      await log.close();
      const before = store.outboxLength;
      await expect(log[call]()).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', message: expect.stringMatching(/closed/) });
      expect(store.outboxLength).toBe(before);
    });
  }
});
