/**
 * New conversations with audit on, PostgreSQL key store and audit log on one pool (issue #14):
 * the key row and its `key.created` outbox row are written by ONE statement (no transaction,
 * one round trip), both or neither — and every guarantee of the transaction path still holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { Keywarden, LocalMasterKey } from '../src/node.js';
import { migrate } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { type TestPool, recording, settle, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/newconv', new Uint8Array(32).fill(31));
const ids = new AuditIdHasher(new Uint8Array(32).fill(32));
const masterKey = new LocalMasterKey(new Uint8Array(32).fill(33));
let db: TestPool;
let n = 0;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  for (let i = 0; i < n; i++) await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_nc${i}" CASCADE`).catch(() => undefined);
  await db?.close();
});

async function setup(options: { samePool?: boolean } = {}) {
  const schema = `${db.schema}_nc${n++}`;
  await migrate(db.pool, { schema });
  const rec = recording(db.pool);
  const log = await AuditLog.open({ store: new PostgresAuditStore(options.samePool === false ? db.pool : rec.pool, { schema }), signerKey: keys.signerKey, sequencer: false });
  const store = new PostgresKeyStore(rec.pool, { schema });
  const kw = new Keywarden({ masterKey, keyStore: store, audit: { log, ids, actor: 'svc' } });
  const count = async (table: string, where = 'true', params: unknown[] = []) =>
    ((await db.pool.query(`SELECT count(*)::int AS n FROM "${schema}".${table} WHERE ${where}`, params)).rows[0] as { n: number }).n;
  const outboxEntries = async () => {
    const rows = (await db.pool.query(`SELECT bundle FROM "${schema}".audit_outbox ORDER BY id`)).rows as { bundle: Buffer }[];
    return rows.length;
  };
  return { schema, rec, log, kw, count, outboxEntries };
}

describe('a new conversation with audit on: key and key.created in one statement', () => {
  it('sends no BEGIN: one statement writes the key row and its outbox row, and both are there', async () => {
    const t = await setup();
    const sealed = await t.kw.encrypt('dm:one', new Uint8Array([1, 2, 3]));
    const sql = t.rec.statements.map((s) => s.sql);
    expect(sql.some((s) => /^\s*BEGIN/i.test(s))).toBe(false);
    const writes = sql.filter((s) => /INSERT INTO/.test(s) && /conversation_keys/.test(s));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/audit_outbox/);
    expect(await t.count('conversation_keys', 'conversation_id = $1', ['dm:one'])).toBe(1);
    expect(await t.outboxEntries()).toBe(1);
    expect([...(await t.kw.decrypt("dm:one", sealed))]).toEqual([1, 2, 3]);
    // The record is the transaction path's: a sequencer integrates it as key.created.
    t.kw.close();
    await t.log.close();
    const seq = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema: t.schema }), signerKey: keys.signerKey, pollMs: 5 });
    await seq.flush();
    expect(seq.size).toBe(1);
    expect(decodeEntry(await seq.entry(0))).toMatchObject({ type: 'key.created', conversation: ids.conversation('dm:one'), version: 1, actor: 'svc' });
    await seq.close();
  });

  it('both or neither: an outbox insert that fails leaves no key row, and the next attempt succeeds', async () => {
    const t = await setup();
    await db.pool.query(`ALTER TABLE "${t.schema}".audit_outbox ADD CONSTRAINT refuse CHECK (false) NOT VALID`);
    await expect(t.kw.encrypt('dm:refused', new Uint8Array([1]))).rejects.toMatchObject({ code: 'ERR_STORE_FAILED' });
    await settle(db.pool);
    expect(await t.count('conversation_keys', 'conversation_id = $1', ['dm:refused'])).toBe(0);
    expect(await t.outboxEntries()).toBe(0);
    await db.pool.query(`ALTER TABLE "${t.schema}".audit_outbox DROP CONSTRAINT refuse`);
    await t.kw.encrypt('dm:refused', new Uint8Array([1]));
    expect(await t.count('conversation_keys', 'conversation_id = $1', ['dm:refused'])).toBe(1);
    expect(await t.outboxEntries()).toBe(1);
    t.kw.close();
    await t.log.close();
  });

  it('racing first uses from two instances: one key and one key.created per conversation; every message opens on both', async () => {
    const t = await setup();
    const other = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(t.rec.pool, { schema: t.schema }), audit: { log: t.log, ids, actor: 'svc' } });
    const convs = Array.from({ length: 25 }, (_, i) => `dm:race-${i}`);
    const sealed = await Promise.all(convs.flatMap((c) => [t.kw.encrypt(c, new Uint8Array([7])), other.encrypt(c, new Uint8Array([8]))]));
    expect(await t.count('conversation_keys')).toBe(convs.length);
    expect(await t.outboxEntries()).toBe(convs.length);
    for (let i = 0; i < sealed.length; i++) {
      const c = convs[i >> 1]!;
      expect([...(await t.kw.decrypt(c, sealed[i]!))]).toEqual([i % 2 === 0 ? 7 : 8]);
      expect([...(await other.decrypt(c, sealed[i]!))]).toEqual([i % 2 === 0 ? 7 : 8]);
    }
    other.close();
    t.kw.close();
    await t.log.close();
  });

  it('stores on different pools take the transaction path: BEGIN, and still both rows', async () => {
    const t = await setup({ samePool: false });
    await t.kw.encrypt('dm:two-pools', new Uint8Array([1]));
    expect(t.rec.statements.some((s) => /^\s*BEGIN/i.test(s.sql))).toBe(true);
    expect(await t.count('conversation_keys', 'conversation_id = $1', ['dm:two-pools'])).toBe(1);
    expect(await t.outboxEntries()).toBe(1);
    t.kw.close();
    await t.log.close();
  });

  it('a closed audit log refuses new conversations before anything is written', async () => {
    const t = await setup();
    await t.log.close();
    await expect(t.kw.encrypt('dm:closed', new Uint8Array([1]))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(await t.count('conversation_keys', 'conversation_id = $1', ['dm:closed'])).toBe(0);
    expect(await t.outboxEntries()).toBe(0);
    t.kw.close();
  });
});
