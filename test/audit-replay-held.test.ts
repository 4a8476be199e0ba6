/**
 * Replays through other paths (outside-style attack on the replay guard, 2026-11-30; these held):
 * frames copied into hand-made outbox files of the file store after a handover, and PostgreSQL
 * rows copied back with their original id after deletion or with a new one, with the sequencer
 * lease stolen mid-way. Every copy is quarantined and every event is in the log once.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame } from '../src/audit/framing.js';
import { encodeOutbox } from '../src/audit/file-outbox.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { type OutboxRecord, OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/replay-paths', new Uint8Array(32).fill(77));
const rk = recordKeys(keys.signerKey);
const entry = (n: number) => encodeEntry(sampleEvent(n));
const dups = (ids: string[]) => ids.filter((id, i) => ids.indexOf(id) !== i);

describe('file store: frames copied into hand-made outbox files, after handover', () => {
  it('quarantined', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-attack7-'));
    try {
      const a = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, replayWindowMs: 60_000 });
      const b = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, replayWindowMs: 60_000 });
      expect(a.isSequencer && !b.isSequencer).toBe(true);
      const P = new OutboxProducer();
      const recs = [1, 2, 3].map((n) => sealOutboxRecord(rk.mac, [entry(n)], n === 3, P.next()));
      const store = await FileAuditStore.open(dir);
      for (const r of recs) await store.enqueue(r);
      await b.flush();
      await a.close(); // handover
      await b.flush();
      expect(b.isSequencer).toBe(true);
      // Replays: a new file with another valid name, the same file name pattern of a gone pid, and appended past a cursor.
      const frames = Buffer.concat(recs.map((r: OutboxRecord) => frame(encodeOutbox(r))));
      await writeFile(join(dir, 'outbox', '1-aaaaaaaaaaaa.000000'), Buffer.concat([MAGIC, frames]));
      await writeFile(join(dir, 'outbox', '999999-bbbbbbbbbbbb.000007'), Buffer.concat([MAGIC, frames, frames]));
      const existing = (await readdir(join(dir, 'outbox'))).filter((n) => !n.startsWith('1-') && !n.startsWith('999999-'));
      for (const n of existing) await writeFile(join(dir, 'outbox', n), Buffer.concat([await readFile(join(dir, 'outbox', n)), frames]));
      const size = (await b.flush()).size;
      const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
      await b.close();
      await store.close();
      expect(dups(ids)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_h" CASCADE`);
  await db?.close();
});

describe('PostgreSQL: copied rows (same id after deletion, new id), lease stolen mid-way', () => {
  it('quarantined', async () => {
    const schema = `${db.schema}_h`;
    await migrate(db.pool, { schema });
    const t = `"${schema}"`;
    const open = (o = {}) => AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema, leaseMs: 300 }), signerKey: keys.signerKey, replayWindowMs: 60_000, roleCheckMs: 100, ...o });
    const a = await open();
    const b = await open();
    const P = new OutboxProducer();
    const recs = [1, 2, 3].map((n) => sealOutboxRecord(rk.mac, [entry(n)], false, P.next()));
    const saved: { id: string; bundle: Buffer; flags: number; mac: Buffer }[] = [];
    const store = new PostgresAuditStore(db.pool, { schema });
    for (const r of recs) {
      const id = await store.enqueue(r);
      saved.push({ id, bundle: Buffer.from(r.bundle), flags: r.flags, mac: Buffer.from(r.mac) });
    }
    await a.flush();
    // The attacker steals the lease (forces a handover), then replays with the same and with new ids.
    await db.pool.query(`UPDATE ${t}.audit_sequencer SET holder = 'x', expires_at = now() - interval '1 second'`);
    for (const s of saved) await db.pool.query(`INSERT INTO ${t}.audit_outbox (id, bundle, flags, mac) VALUES ($1, $2, $3, $4)`, [s.id, s.bundle, s.flags, s.mac]);
    for (const s of saved) await db.pool.query(`INSERT INTO ${t}.audit_outbox (bundle, flags, mac) VALUES ($1, $2, $3)`, [s.bundle, s.flags, s.mac]);
    await new Promise((r) => setTimeout(r, 1500));
    const size = (await b.flush()).size;
    const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
    const q = await db.pool.query(`SELECT count(*)::int AS n FROM ${t}.audit_quarantine`);
    expect(q.rows[0].n).toBe(saved.length * 2);
    await a.close();
    await b.close();
    expect(dups(ids)).toEqual([]);
  });
});
