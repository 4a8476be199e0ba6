/**
 * Running the 0.1 migration again does not reset the replay guard (outside review, 2026-12-01).
 * Someone who can write the store but holds no log key could make a tiled log look like a 0.1
 * log again (files: delete `layout` and write an `entries` file with the entries the bundles
 * hold; PostgreSQL: set `audit_migration.done` back and delete the tree heads). The next open
 * migrated it again and wrote a new, empty replay guard with horizon 0 — and the genuine outbox
 * records still in the outbox (or copied back into it) were signed into the log a second time.
 * A migrated log's guard now refuses every record sealed before the migration, as a repair's does.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/migrate-replay', new Uint8Array(32).fill(41));
const ids = (entries: Uint8Array[]) => entries.map((e) => decodeEntry(e).id);
const dups = (list: string[]) => list.filter((id, i) => list.indexOf(id) !== i);

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_mr" CASCADE`);
  await db?.close();
});

describe('a migration triggered again by a store writer does not integrate records twice', () => {
  it('files: the outbox files re-read from the start are quarantined, not integrated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-mig-replay-'));
    try {
      const seq = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointEveryBatch: true });
      const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, sequencer: false });
      for (let n = 0; n < 5; n++) await producer.record(sampleEvent(n));
      await producer.flush();
      await producer.close();
      await seq.close();
      expect((await readdir(join(dir, 'outbox'))).length).toBeGreaterThan(0);
      // The writer, without a key: the store looks like 0.1 again, with the same entries.
      const s0 = await FileAuditStore.open(dir);
      const entries = await s0.read(0, await s0.size());
      await s0.close();
      expect(entries).toHaveLength(5);
      await writeFile(join(dir, 'entries'), Buffer.concat([MAGIC, ...entries.map((e) => frame(e))]));
      await rm(join(dir, 'layout'));
      // The service restarts: the log opens (the same entries, migrated again), and integrates nothing twice.
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointEveryBatch: true });
      const r = await log.flush();
      await log.close();
      const s1 = await FileAuditStore.open(dir);
      const all = await s1.read(0, r.size);
      await s1.close();
      expect(dups(ids(all))).toEqual([]);
      expect(r.size).toBe(5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: rows copied back into the outbox are quarantined, not integrated', async () => {
    const schema = `${db.schema}_mr`;
    await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await migrate(db.pool, { schema });
    const s = `"${schema}"`;
    const store = () => new PostgresAuditStore(db.pool, { schema });
    const producer = await AuditLog.open({ store: store(), signerKey: keys.signerKey, sequencer: false });
    for (let n = 0; n < 5; n++) await producer.record(sampleEvent(n));
    const copies = (await db.pool.query(`SELECT bundle, flags, mac FROM ${s}.audit_outbox ORDER BY id`)).rows;
    expect(copies).toHaveLength(5);
    const seq = await AuditLog.open({ store: store(), signerKey: keys.signerKey, checkpointEveryBatch: true });
    await seq.flush();
    await seq.close();
    await producer.close();
    // The writer, without a key.
    await db.pool.query(`UPDATE ${s}.audit_migration SET done = false, size = 0`);
    await db.pool.query(`DELETE FROM ${s}.audit_tree`);
    for (const c of copies) await db.pool.query(`INSERT INTO ${s}.audit_outbox (bundle, flags, mac) VALUES ($1, $2, $3)`, [c.bundle, c.flags, c.mac]);
    const log = await AuditLog.open({ store: store(), signerKey: keys.signerKey, checkpointEveryBatch: true });
    const r = await log.flush();
    await log.close();
    const rows = (await db.pool.query(`SELECT entry FROM ${s}.audit_entries ORDER BY idx`)).rows as { entry: Buffer }[];
    expect(dups(ids(rows.map((x) => new Uint8Array(x.entry))))).toEqual([]);
    expect(r.size).toBe(5);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM ${s}.audit_quarantine`)).rows[0].n).toBe(5);
  });
});
