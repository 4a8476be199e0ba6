/**
 * When the replay guard is lost (outside-style review of the replay guard, 2026-11-30): a log
 * whose head or guard is gone is refused (ERR_AUDIT_CORRUPT) and the operator's explicit repair
 * recovers it — on the file store and PostgreSQL — resetting the guard so that every record
 * sealed before the repair is refused (it cannot know which were integrated) and the repair is
 * on the record. And the file store refuses an outbox record its sequencer could never read.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry, newEvent } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import type { AuditStore } from '../src/audit/store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { fileGuard } from './support/audit-replay.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/guard-lost', new Uint8Array(32).fill(66));
const rk = recordKeys(keys.signerKey);
const repair = { unsignedTail: 'drop', actor: 'ops' } as const;

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  for (const s of ['_gl1', '_gl2']) await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}${s}" CASCADE`);
  await db?.close();
});

/** After the repair: `audit.repaired` is the last entry, a record sealed before it is refused, one sealed after it is integrated. */
async function checkRepaired(store: AuditStore, log: AuditLog, before: number): Promise<void> {
  const last = decodeEntry(await log.entry(log.size - 1));
  expect(last.type).toBe('audit.repaired');
  const producer = new OutboxProducer();
  await store.enqueue(sealOutboxRecord(rk.mac, [encodeEntry(sampleEvent(500))], false, producer.next(before)));
  await store.enqueue(sealOutboxRecord(rk.mac, [encodeEntry(sampleEvent(501))], false, producer.next(Date.now() + 5)));
  const { size } = await log.flush();
  const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
  expect(ids).toContain(sampleEvent(501).id);
  expect(ids).not.toContain(sampleEvent(500).id);
}

describe('a lost head or replay guard', () => {
  it('files: the head deleted (256 checkpointed entries): refused, then repaired', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-guard-lost-'));
    try {
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      await log.append(Array.from({ length: 256 }, (_, i) => sampleEvent(i)));
      await log.close();
      const before = Date.now();
      await rm(join(dir, 'head'));
      await expect(AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
      const store = await FileAuditStore.open(dir);
      const repaired = await AuditLog.open({ store, signerKey: keys.signerKey, repair });
      expect(repaired.size).toBe(257);
      await checkRepaired(store, repaired, before);
      await repaired.close();
      // And it opens without the repair from now on.
      await (await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey })).close();
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it('files: only the guard removed from a healthy log: refused, then the repair resets it (nothing dropped)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-guard-lost-'));
    try {
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      await log.append([sampleEvent(1), sampleEvent(2)]);
      await log.close();
      const before = Date.now();
      await fileGuard(dir).setGuard(undefined);
      await expect(AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('replay guard') });
      const store = await FileAuditStore.open(dir);
      const repaired = await AuditLog.open({ store, signerKey: keys.signerKey, repair });
      expect(repaired.size).toBe(3);
      const entry = decodeEntry(await repaired.entry(2));
      expect(entry).toMatchObject({ type: 'audit.repaired', from: 2, dropped: 0 });
      await checkRepaired(store, repaired, before);
      await repaired.close();
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });

  it('PostgreSQL: every tree head (and so the guard) deleted: refused, then repaired', async () => {
    const schema = `${db.schema}_gl1`;
    await migrate(db.pool, { schema });
    const log = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey });
    await log.append(sampleEvent(1));
    await log.close();
    const before = Date.now();
    await db.pool.query(`DELETE FROM "${schema}".audit_tree`);
    await expect(AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    const store = new PostgresAuditStore(db.pool, { schema });
    const repaired = await AuditLog.open({ store, signerKey: keys.signerKey, repair });
    await checkRepaired(store, repaired, before);
    await repaired.close();
  });

  it('PostgreSQL: the guard forged on a healthy log: refused, then the repair resets it', async () => {
    const schema = `${db.schema}_gl2`;
    await migrate(db.pool, { schema });
    const log = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey });
    await log.append(sampleEvent(1));
    await log.close();
    const before = Date.now();
    await db.pool.query(`UPDATE "${schema}".audit_tree SET guard = '\\x0102'`);
    await expect(AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    const store = new PostgresAuditStore(db.pool, { schema });
    const repaired = await AuditLog.open({ store, signerKey: keys.signerKey, repair });
    await checkRepaired(store, repaired, before);
    await repaired.close();
  });
});

describe('file store: an outbox record larger than its sequencer reads at once', () => {
  it('is refused before anything is written (ERR_INVALID_INPUT), and the records after it are integrated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-guard-big-'));
    try {
      const seq = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, sequencer: false });
      // key.rewrapped events near the 64 KiB entry limit; 150 of them in one record: ~9 MiB.
      const big = (n: number) => newEvent('key.rewrapped', { actor: 'job', now: () => new Date() }, {
        keys: Array.from({ length: 600 }, (_, i) => ({ conversation: (n * 1000 + i).toString(16).padStart(64, '0'), version: 1 })), fromMasterKeyIds: ['a'], masterKeyId: 'b',
      });
      const events = Array.from({ length: 150 }, (_, i) => big(i));
      expect(encodeEntry(events[0]!).length).toBeGreaterThan(50_000);
      await expect(producer.record(events)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'events' });
      await producer.record(events.slice(0, 100)); // ~6 MiB: fits
      await producer.record(sampleEvent(2));
      await producer.flush();
      const { size } = await seq.flush();
      expect(size).toBe(101);
      await producer.close();
      await seq.close();
    } finally {
      await rm(dir, { recursive: true, force: true, maxRetries: 5 });
    }
  });
});
