/**
 * The compact, hash-partitioned key tables (migration 5, issue #15): the layout itself, the
 * migration of a populated database from the previous schema, and every statement the store
 * sends checked with EXPLAIN on a populated, analysed table (the intended index, no sequential
 * scan of a key table).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { LATEST_MIGRATION, migrate, migrateUpTo } from '../src/store/migrations.js';
import type { KeyRecord } from '../src/keys/records.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { type TestPool, recording, settle, testPool } from './support/pg.js';

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db?.close();
});

async function withSchema(fn: (schema: string) => Promise<void>): Promise<void> {
  const schema = `kw_scale_${randomBytes(4).toString('hex')}`;
  try {
    await fn(schema);
  } finally {
    await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

describe('compact partitioned key tables', () => {
  it('migrate(partitions) builds hash partitions by conversation id, byte-order ids, fillfactor, the one-active unique index', async () => {
    await withSchema(async (schema) => {
      await migrate(db.pool, { schema, partitions: 4 });
      for (const table of ['conversation_keys', 'branch_keys']) {
        const parts = await db.pool.query(
          `SELECT c.relname, c.reloptions FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
           JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = $1 AND p.relname = $2 ORDER BY 1`, [schema, table]);
        expect(parts.rows.map((r) => r.relname)).toEqual([0, 1, 2, 3].map((i) => `${table}_p${i}`));
        expect(parts.rows.every((r) => (r.reloptions as string[]).includes('fillfactor=90'))).toBe(true);
        const strategy = await db.pool.query(`SELECT pt.partstrat, a.attname FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0] WHERE n.nspname = $1 AND c.relname = $2`, [schema, table]);
        expect(strategy.rows).toEqual([{ partstrat: 'h', attname: 'conversation_id' }]);
        const coll = await db.pool.query(`SELECT collation_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'conversation_id'`, [schema, table]);
        expect(coll.rows[0].collation_name).toBe('C');
        const types = await db.pool.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name IN ('master_key', 'suite', 'state')  ORDER BY 1`, [schema, table]);
        expect(types.rows.map((r) => [r.column_name, r.data_type])).toEqual([['master_key', 'integer'], ['state', 'USER-DEFINED'], ['suite', 'USER-DEFINED']]);
        // Three indexes per key table (migration 7 dropped the activation-time one).
        const idx = await db.pool.query('SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1', [schema, table]);
        expect(idx.rows.map((r) => r.indexname)).toEqual([`${table}_one_active`, `${table}_pkey`, `${table}_superseded_at`]);
      }
      const store = new PostgresKeyStore(db.pool, { schema });
      const c = freshConversationId();
      await store.insertFirst(makeRecord(c));
      await store.insertNext(makeRecord(c, { version: 2 }), 1);
      // A second active row is refused by the database itself, whatever partition it lands in.
      // (A dedicated connection, destroyed afterwards: PGlite's socket drops one after a failed statement.)
      const client = await db.pool.connect();
      try {
        await expect(client.query(`UPDATE "${schema}".conversation_keys SET state = 'active', superseded_at = NULL WHERE conversation_id = $1 AND version = 1`, [c])).rejects.toMatchObject({ code: '23505' });
      } finally {
        client.release(true);
      }
      await settle(db.pool);
    });
  });

  it('refuses a bad partition count, naming it, and creates nothing', async () => {
    await withSchema(async (schema) => {
      for (const bad of [0, 1025, 2.5, '8']) await expect(migrate(db.pool, { schema, partitions: bad as never })).rejects.toThrow(/options\.partitions/);
      const exists = await db.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      expect(exists.rowCount).toBe(0);
    });
  });

  it('migrates a populated schema of the previous version: every record, tombstone, escaped id and branch key comes through unchanged', async () => {
    await withSchema(async (schema) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const s = `"${schema}"`;
      const expected = new Map<string, KeyRecord[]>();
      const add = async (table: string, r: KeyRecord, stored = r.conversationId) => {
        await db.pool.query(
          `INSERT INTO ${s}.${table} (conversation_id, version, master_key_id, wrapped_key, suite, state, created_at, activated_at, superseded_at, sealed_reserved, shredded_at, shred_scope)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
          [stored, r.version, r.masterKeyId, Buffer.from(r.wrappedKey), r.suite, r.state, r.createdAt, r.activatedAt, r.supersededAt, r.sealedReserved, r.shreddedAt ?? null, r.shredScope ?? null]);
        const key = `${table}/${r.conversationId}`;
        expected.set(key, [...(expected.get(key) ?? []), r]);
      };
      for (let i = 0; i < 300; i++) {
        const c = `old-${i}`;
        const mk = i % 3 === 0 ? 'arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789' : 'local:k1';
        const n = 1 + (i % 3);
        for (let v = 1; v <= n; v++) {
          const at = (x: number) => new Date(1_700_000_000_000 + i * 1000 + x * 60_000);
          const last = v === n;
          const shredded = i % 7 === 0 && v === 1;
          await add('conversation_keys', makeRecord(c, {
            version: v, masterKeyId: mk, suite: i % 2 ? 'AES-256-GCM' : 'XChaCha20-Poly1305', createdAt: at(v), activatedAt: at(v), sealedReserved: v * 11,
            state: shredded ? 'shredded' : last ? 'active' : 'superseded', supersededAt: last ? null : at(v + 1),
            shreddedAt: shredded ? at(100) : null, shredScope: shredded ? 'version' : null, wrappedKey: shredded ? new Uint8Array(0) : makeRecord(c, { version: v }).wrappedKey,
          }));
        }
      }
      // An id stored escaped (U+0000 and a backslash), and a branch key.
      await add('conversation_keys', makeRecord('esc\\\u0000id'), 'esc\\\\\\0id');
      await add('branch_keys', makeRecord('branch-1', { masterKeyId: 'local:branch-root' }));

      const { applied } = await migrate(db.pool, { schema, partitions: 8 });
      expect(applied).toEqual(Array.from({ length: LATEST_MIGRATION - 4 }, (_, i) => i + 5));
      const conv = new PostgresKeyStore(db.pool, { schema });
      const branches = new PostgresKeyStore(db.pool, { schema, keys: 'branches' });
      for (const [key, records] of expected) {
        const [table, id] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
        expect(await (table === 'branch_keys' ? branches : conv).listVersions(id)).toEqual(records);
      }
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM ${s}.conversation_keys`)).rows[0].n).toBe([...expected.values()].flat().length - 1);
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM ${s}.keywarden_master_keys`)).rows[0].n).toBe(4); // the ARN, local:k1, test:master-key, local:branch-root
      // The migrated store goes on working: rotation, reservation, shred.
      expect((await conv.insertNext(makeRecord('old-1', { version: 3 }), 2)).inserted).toBe(true);
      expect(await conv.reserveMessages('old-1', 3, 5, 10)).toBe(5);
      expect((await conv.shred('old-2', 'conversation', new Date())).shredded).toEqual([1, 2, 3]);
    });
  });
});

describe('EXPLAIN of every statement the store sends (populated, analysed table)', () => {
  it('each uses the intended index of the key table, none scans it sequentially', async () => {
    await withSchema(async (schema) => {
      await migrate(db.pool, { schema, partitions: 8 });
      const s = `"${schema}"`;
      await db.pool.query(`INSERT INTO ${s}.keywarden_master_keys (name) VALUES ('test:master-key'), ('other:key')`);
      // 40,000 conversations: one active version each, and a superseded one for every tenth.
      await db.pool.query(`INSERT INTO ${s}.conversation_keys (version, created_at, activated_at, superseded_at, sealed_reserved, master_key, suite, state, conversation_id, wrapped_key)
        SELECT 1, now(), now() - g * interval '1 second', CASE WHEN g % 10 = 0 THEN now() ELSE NULL END, 0, 1, 'AES-256-GCM',
          CASE WHEN g % 10 = 0 THEN 'superseded' ELSE 'active' END::${s}.keywarden_key_state, 'pop-' || g, '\\x0102'::bytea FROM generate_series(1, 40000) g`);
      await db.pool.query(`INSERT INTO ${s}.conversation_keys (version, created_at, activated_at, sealed_reserved, master_key, suite, state, conversation_id, wrapped_key)
        SELECT 2, now(), now(), 0, 1, 'AES-256-GCM', 'active', 'pop-' || g, '\\x0102'::bytea FROM generate_series(10, 40000, 10) g`);
      await db.pool.query(`ANALYZE ${s}.conversation_keys`);
      await db.pool.query(`ANALYZE ${s}.keywarden_master_keys`);

      const rec = recording(db.pool);
      const store = new PostgresKeyStore(rec.pool, { schema });
      const c = freshConversationId();
      await store.insertFirst(makeRecord(c));
      await store.insertFirst(makeRecord(c)); // the lost-race path
      await store.getLatest(c);
      await store.getVersion(c, 1);
      await store.listVersions(c);
      await store.reserveMessages(c, 1, 5, 100);
      await store.insertNext(makeRecord(c, { version: 2 }), 1);
      await store.insertNext(makeRecord(c, { version: 2 }), 1); // stale
      await store.shred(c, [1], new Date());
      await store.shred(c, 'conversation', new Date());
      for (const by of ['superseded', 'activated'] as const) {
        const page = await store.scanKeys({ by, before: new Date(), limit: 50 });
        await store.scanKeys({ by, before: new Date(), after: page.at(-1), limit: 50 });
      }
      const wrapped = await store.scanWrapped({ notMasterKeyId: 'other:key', limit: 50 });
      await store.scanWrapped({ notMasterKeyId: 'other:key', masterKeyIdPrefix: 'test:', after: wrapped.at(-1), limit: 50 });
      await store.updateWrappings([{ conversationId: 'pop-5', version: 1, expected: { masterKeyId: 'test:master-key', wrappedKey: Uint8Array.of(1, 2) }, next: { masterKeyId: 'other:key', wrappedKey: Uint8Array.of(3) } }]);
      await store.putJob('j', { a: 1 });
      await store.getJob('j');

      const keyStatements = rec.statements.filter((st) => /conversation_keys/.test(st.sql) && !/^\s*(BEGIN|COMMIT|ROLLBACK)/.test(st.sql));
      expect(keyStatements.length).toBeGreaterThanOrEqual(15);
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        for (const st of keyStatements) {
          const plan = (await client.query(`EXPLAIN ${st.sql}`, st.params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
          expect(plan, st.sql).not.toMatch(/Seq Scan on conversation_keys/);
          expect(plan, st.sql).toMatch(/Index (Only )?Scan.*on conversation_keys_p\d+|Index Cond|Bitmap Index Scan on conversation_keys_p\d+|Result|Insert on conversation_keys/);
          // Reads of one conversation touch one partition (pruning by the partition key).
          if (/WHERE k?\.?conversation_id = \$1/.test(st.sql) && !/UPDATE/.test(st.sql)) {
            expect((plan.match(/on conversation_keys_p\d+/g) ?? []).length, `${st.sql}\n${plan}`).toBeLessThanOrEqual(2);
          }
          if (/ORDER BY superseded_at/.test(st.sql)) expect(plan).toMatch(/conversation_keys_p\d+_superseded_at/);
          // Retention's idle pass (migration 7): primary-key order, no activation-time index.
          if (/ORDER BY conversation_id, version/.test(st.sql)) expect(plan).toMatch(/conversation_keys_p\d+_pkey/);
          expect(plan).not.toMatch(/_activated_at/);
          if (/ORDER BY k\.conversation_id, k\.version/.test(st.sql)) expect(plan).toMatch(/conversation_keys_p\d+_pkey/);
        }
        await client.query('ROLLBACK');
      } finally {
        client.release();
      }
    });
  });
});
