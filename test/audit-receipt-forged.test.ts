/**
 * A forged receipt (outside review, 2026-11-30): receipts (`audit_receipts` rows, the file
 * store's head) say where a waiting record's entries landed, and anyone who can write the store
 * can write one. A receipt read from the store must not resolve `checkpointed()` unless the
 * writer's own entries are at that index under the signed checkpoint: otherwise break-glass
 * would release plaintext for an intent that was never integrated (and whose outbox row the
 * attacker then deletes).
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { fileHead } from './support/audit-replay.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/receipts', new Uint8Array(32).fill(66));

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_rf" CASCADE`);
  await db?.close();
});

describe('a forged receipt does not resolve checkpointed()', () => {
  it('PostgreSQL: a receipt row for a record no sequencer integrated fails closed (ERR_AUDIT_CORRUPT)', async () => {
    const schema = `${db.schema}_rf`;
    await migrate(db.pool, { schema });
    const first = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey });
    await first.append(sampleEvent(1)); // a checkpoint of size 1
    await first.close();
    // No sequencer from now on: nothing can be integrated.
    const producer = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, sequencer: false });
    try {
      const pending = await producer.record(sampleEvent(4), { checkpoint: true }); // a break-glass intent
      const { rows } = await db.pool.query(`SELECT id FROM "${schema}".audit_outbox`);
      expect(rows.length).toBe(1);
      await db.pool.query(`INSERT INTO "${schema}".audit_receipts (outbox_id, idx, count) VALUES ($1, 0, 1)`, [rows[0].id]);
      await expect(pending.checkpointed()).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    } finally {
      await producer.close();
    }
  });

  it('files: a receipt written into the head for a record no sequencer integrated fails closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-receipt-'));
    try {
      const first = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      await first.append(sampleEvent(1));
      await first.close();
      const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, sequencer: false });
      try {
        const pending = await producer.record(sampleEvent(4), { checkpoint: true }); // a break-glass intent
        // Its ticket names its outbox file and offsets: the attacker reads them off the file system.
        const [file] = await readdir(join(dir, 'outbox'));
        const ticket = `${file!}:${MAGIC.length}:${(await readFile(join(dir, 'outbox', file!))).length}`;
        const head = fileHead(dir);
        const { note, json } = await head.read();
        (json.receipts as [string, number, number][]).push([ticket, 0, 1]);
        await head.write(note, json);
        await expect(pending.checkpointed()).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
      } finally {
        await producer.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
