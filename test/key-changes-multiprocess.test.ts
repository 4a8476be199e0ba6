/**
 * Issue #12 acceptance: shred and rotate on one process are seen by other processes sharing
 * PostgreSQL — through the change notifications (an instance watching them switches within
 * moments although its cache would hold keys for 10 minutes), and, with notifications cut (an
 * instance not listening), within the cache's max age. The audit log verifies. Needs a real
 * server (DATABASE_URL): PGlite serves one connection, and LISTEN needs its own.
 */
import { describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { Keywarden, LocalMasterKey } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migratedTestPool } from './support/pg-suite.js';
import { startKeyWorker } from './support/key-worker-client.js';

const CUT_MAX_AGE_MS = 3000;
const db = migratedTestPool();

/** Polls `probe` until it returns true; the milliseconds it took, or Infinity after `limitMs`. */
async function until(limitMs: number, probe: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    if (await probe()) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 25));
  }
  return Infinity;
}

describe('key changes across processes (real PostgreSQL)', () => {
  it('rotation and shred reach a watching process through notifications, and a process without them within max age; the audit log verifies', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const masterKey = LocalMasterKey.generateKey();
    const hex = Buffer.from(masterKey).toString('hex');
    const logKeys = generateNoteKey('keywarden.example/mp-keys');
    const auditStore = new PostgresAuditStore(db.pool, { schema: db.schema });
    const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 10_000 });
    const a = new Keywarden({
      masterKey: new LocalMasterKey(masterKey), keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }),
      audit: { log, ids: new AuditIdHasher(new Uint8Array(32).fill(1)), actor: 'process-a' },
    });
    const watching = await startKeyWorker({ schema: db.schema, masterKeyHex: hex, watch: true, cacheMaxAgeMs: 600_000 });
    const cut = await startKeyWorker({ schema: db.schema, masterKeyHex: hex, watch: false, cacheMaxAgeMs: CUT_MAX_AGE_MS });
    try {
      const conv = 'dm:alice:bob';
      const m1 = await a.encrypt(conv, new TextEncoder().encode('first'));
      for (const w of [watching, cut]) {
        expect((await w.call('decrypt', conv, m1)).ok).toBe(true);
        expect((await w.call('encrypt', conv, new Uint8Array([1]))).version).toBe(1); // caches v1 as active
      }

      // Rotation on A.
      await a.rotate(conv);
      const seenRotation = await until(10_000, async () => (await watching.call('encrypt', conv, new Uint8Array([2]))).version === 2);
      expect(seenRotation).toBeLessThan(10_000); // far below the 10-minute cache age: the notification
      const cutRotation = await until(CUT_MAX_AGE_MS + 10_000, async () => (await cut.call('encrypt', conv, new Uint8Array([3]))).version === 2);
      expect(cutRotation).toBeLessThan(CUT_MAX_AGE_MS + 10_000);

      // Shred on A.
      const m2 = await a.encrypt(conv, new TextEncoder().encode('second'));
      expect((await watching.call('decrypt', conv, m2)).ok).toBe(true);
      expect((await cut.call('decrypt', conv, m2)).ok).toBe(true);
      const shredAt = performance.now();
      await a.shred(conv);
      const seenShred = await until(10_000, async () => (await watching.call('decrypt', conv, m1)).code === 'ERR_KEY_SHREDDED');
      expect(seenShred).toBeLessThan(10_000);
      expect((await watching.call('decrypt', conv, m2)).code).toBe('ERR_KEY_SHREDDED');
      expect((await watching.call('encrypt', conv, new Uint8Array([4]))).code).toBe('ERR_KEY_SHREDDED');
      const cutShred = await until(CUT_MAX_AGE_MS + 10_000, async () => (await cut.call('decrypt', conv, m2)).code === 'ERR_KEY_SHREDDED');
      expect(cutShred).toBeLessThan(CUT_MAX_AGE_MS + 10_000);
      expect((await cut.call('encrypt', conv, new Uint8Array([5]))).code).toBe('ERR_KEY_SHREDDED');
      console.info(`[key changes] rotation seen in ${seenRotation.toFixed(0)} ms (notified) / ${cutRotation.toFixed(0)} ms (max age ${CUT_MAX_AGE_MS}); shred seen in ${seenShred.toFixed(0)} ms (notified) / ${(performance.now() - shredAt).toFixed(0)} ms (cut)`);

      // The audit log: created, rotated, shredded — and it verifies. The events were committed to
      // the outbox with their keys; flush waits until the sequencer has integrated them.
      await log.flush();
      const size = await auditStore.size();
      const entries = await auditStore.read(0, size);
      expect(entries.map(decodeEntry).map((e) => e.type)).toEqual(['key.created', 'key.rotated', 'key.shredded']);
      expect(verifyAuditLog({ verifierKey: logKeys.verifierKey, entries, checkpoints: await auditStore.checkpoints(), head: (await auditStore.state()).head! }).ok).toBe(true);
    } finally {
      await watching.stop();
      await cut.stop();
      a.close();
      await log.close();
    }
  });
});
