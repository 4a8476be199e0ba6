/**
 * A forged receipt (outside review, 2026-11-30): receipts (`audit_receipts` rows, the file
 * store's head) say where a waiting record's entries landed, and anyone who can write the store
 * can write one. A receipt read from the store must not resolve `checkpointed()` unless the
 * writer's own entries are at that index under the signed checkpoint: otherwise break-glass
 * would release plaintext for an intent that was never integrated (and whose outbox row the
 * attacker then deletes).
 *
 * The same for a record without entries (outside review, 2026-12-01): `flush()` and
 * `checkpoint()` on an instance that is not the sequencer wait for an empty record, which no
 * inclusion proof can check. A receipt for it must carry the sequencer's MAC over where it landed
 * and the record's own MAC, or the wait resolves early with an older checkpoint.
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
import type { AuditStore } from '../src/audit/store.js';
import { receiptMac, recordKeys } from '../src/audit/records.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { fileHead } from './support/audit-replay.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/receipts', new Uint8Array(32).fill(66));

/** A log of one checkpointed entry on `open()`'s store, then an instance there that is not the sequencer. */
async function producerAfterOne(open: () => AuditStore | Promise<AuditStore>): Promise<AuditLog> {
  const first = await AuditLog.open({ store: await open(), signerKey: keys.signerKey });
  await first.append(sampleEvent(1));
  await first.close();
  return AuditLog.open({ store: await open(), signerKey: keys.signerKey, sequencer: false });
}

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
    // A checkpoint of size 1; then no sequencer: nothing can be integrated.
    const producer = await producerAfterOne(() => new PostgresAuditStore(db.pool, { schema }));
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

  it('PostgreSQL: a receipt MAC\'d with the log key still fails closed when the entries are not under the checkpoint', async () => {
    // The receipt MAC keeps out whoever holds no log key; the inclusion check stays for the rest.
    const schema = `${db.schema}_rf`;
    await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await migrate(db.pool, { schema });
    // A checkpoint of size 1; then no sequencer: nothing can be integrated.
    const producer = await producerAfterOne(() => new PostgresAuditStore(db.pool, { schema }));
    try {
      const pending = await producer.record(sampleEvent(4), { checkpoint: true });
      const { rows } = await db.pool.query(`SELECT id, mac FROM "${schema}".audit_outbox`);
      expect(rows.length).toBe(1);
      const mac = receiptMac(recordKeys(keys.signerKey).mac, 0, 1, new Uint8Array(rows[0].mac));
      await db.pool.query(`INSERT INTO "${schema}".audit_receipts (outbox_id, idx, count, mac) VALUES ($1, 0, 1, $2)`, [rows[0].id, Buffer.from(mac)]);
      await expect(pending.checkpointed()).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('its entries are not at index 0') });
    } finally {
      await producer.close();
    }
  });

  it('files: a receipt written into the head for a record no sequencer integrated fails closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-receipt-'));
    try {
      const producer = await producerAfterOne(() => FileAuditStore.open(dir));
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

describe('a forged receipt for an empty record does not resolve flush() or checkpoint()', () => {
  it('PostgreSQL: a receipt row without the sequencer\'s MAC fails closed; a real sequencer\'s receipt resolves', async () => {
    const schema = `${db.schema}_rf`;
    await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await migrate(db.pool, { schema });
    // A checkpoint of size 1; then no sequencer: nothing can be integrated.
    const producer = await producerAfterOne(() => new PostgresAuditStore(db.pool, { schema }));
    try {
      for (const call of [() => producer.flush(), () => producer.checkpoint()]) {
        const waiting = call();
        let id: unknown;
        for (let i = 0; i < 200 && id === undefined; i++) {
          id = (await db.pool.query(`SELECT id FROM "${schema}".audit_outbox`)).rows[0]?.id;
          if (id === undefined) await new Promise((r) => setTimeout(r, 5));
        }
        expect(id).toBeDefined();
        // A receipt as the attacker can write it: without the sequencer's MAC.
        await db.pool.query(`INSERT INTO "${schema}".audit_receipts (outbox_id, idx, count) VALUES ($1, 1, 0)`, [id]);
        await expect(waiting).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
        await db.pool.query(`DELETE FROM "${schema}".audit_outbox`);
      }
      // The control: a sequencer's own receipt, read back from the same table, resolves the wait.
      const seq = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey });
      try {
        await producer.record(sampleEvent(2));
        const r = await producer.flush();
        expect(r.size).toBe(2);
        expect(r.index).toBe(2);
      } finally {
        await seq.close();
      }
    } finally {
      await producer.close();
    }
  });

  it('files: a receipt written into the head without the sequencer\'s MAC fails closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-receipt-'));
    try {
      const producer = await producerAfterOne(() => FileAuditStore.open(dir));
      try {
        // Without a MAC (the receipt as it was before), then with one the attacker made up.
        let from = MAGIC.length; // the records follow each other in this instance's outbox file
        for (const mac of [undefined, Buffer.alloc(32, 7).toString('base64')]) {
          const waiting = producer.flush();
          let ticket: string | undefined;
          for (let i = 0; i < 200 && ticket === undefined; i++) {
            const files = await readdir(join(dir, 'outbox')).catch(() => []);
            const size = files.length === 1 ? (await readFile(join(dir, 'outbox', files[0]!))).length : 0;
            if (size > from) {
              ticket = `${files[0]!}:${from}:${size}`;
              from = size;
            } else await new Promise((r) => setTimeout(r, 5));
          }
          expect(ticket).toBeDefined();
          const head = fileHead(dir);
          const { note, json } = await head.read();
          (json.receipts as unknown[]).push(mac === undefined ? [ticket, 1, 0] : [ticket, 1, 0, mac]);
          await head.write(note, json);
          await expect(waiting).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
        }
      } finally {
        await producer.close();
      }
      // The control: a sequencer integrates a flush from an instance that is not the sequencer.
      const seq = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      const other = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, sequencer: false });
      try {
        await other.record(sampleEvent(2));
        const r = await other.flush();
        expect(r.size).toBe(2);
      } finally {
        await other.close();
        await seq.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
