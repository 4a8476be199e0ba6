/**
 * Migration 5 online (issue #15, src/store/migrate-online.ts): the key tables are copied in
 * batches while the previous release keeps writing them, a stopped copy resumes where it
 * stopped, and the swap never queues readers behind a long transaction.
 *
 * "The previous release" is simulated by SQL in its schema's shape (version 4): new
 * conversations, rotations (a transaction: supersede, insert), reservations, shreds and a delete.
 * A model in the test applies each write once it has committed; after the migration, the new
 * table must hold exactly the model's rows.
 */
import { randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../src/errors.js';
import { DDL_LOCK } from '../src/store/migrate-online.js';
import { type CopyProgress, LATEST_MIGRATION, migrate, migrateUpTo } from '../src/store/migrations.js';

/** The migrations from 5 on: what a run from the previous release's schema (version 4) applies. */
const FIVE_ON = Array.from({ length: LATEST_MIGRATION - 4 }, (_, i) => i + 5);
import { PostgresKeyStore } from '../src/store/postgres.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db?.close();
});

async function withSchema(fn: (schema: string, s: string) => Promise<void>): Promise<void> {
  const schema = `kw_online_${randomBytes(4).toString('hex')}`;
  try {
    await fn(schema, `"${schema}"`);
  } finally {
    await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

/** A key row in the previous release's shape (what the model holds). */
interface OldRow {
  conversation_id: string;
  version: number;
  master_key_id: string;
  wrapped_key: string; // hex
  suite: string;
  state: string;
  created_at: number;
  activated_at: number;
  superseded_at: number | null;
  sealed_reserved: number;
  shredded_at: number | null;
  shred_scope: string | null;
}

const ARN = 'arn:aws:kms:eu-west-1:111122223333:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789';
const T0 = 1_700_000_000_000;
const keyOf = (c: string, v: number) => `${c}\u0001${v}`;

/** The previous release's writes against `s`, mirrored into `model` once committed. */
class OldRelease {
  readonly model = new Map<string, OldRow>();
  #clock = 0;
  /** `schema2`: keywarden 0.1.0's table (migration 2: no shred columns, no shredding). */
  constructor(private readonly s: string, private readonly table = 'conversation_keys', private readonly schema2 = false) {}

  #at(): number {
    return T0 + ++this.#clock * 1000;
  }

  async insert(c: string, mk: string, q: Pick<PoolClient, 'query'> = db.pool): Promise<void> {
    const at = this.#at();
    const row: OldRow = {
      conversation_id: c, version: 1, master_key_id: mk, wrapped_key: randomBytes(61).toString('hex'), suite: c.length % 2 ? 'AES-256-GCM' : 'XChaCha20-Poly1305',
      state: 'active', created_at: at, activated_at: at, superseded_at: null, sealed_reserved: 0, shredded_at: null, shred_scope: null,
    };
    await this.#write(q, row);
    this.model.set(keyOf(c, 1), row);
  }

  async #write(q: Pick<PoolClient, 'query'>, r: OldRow): Promise<void> {
    if (this.schema2) {
      await q.query(
        `INSERT INTO ${this.s}.${this.table} (conversation_id, version, master_key_id, wrapped_key, suite, state, created_at, activated_at, superseded_at, sealed_reserved)
         VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7, $8, $9, $10)`,
        [r.conversation_id, r.version, r.master_key_id, r.wrapped_key, r.suite, r.state, new Date(r.created_at), new Date(r.activated_at),
          r.superseded_at === null ? null : new Date(r.superseded_at), r.sealed_reserved],
      );
      return;
    }
    await q.query(
      `INSERT INTO ${this.s}.${this.table} (conversation_id, version, master_key_id, wrapped_key, suite, state, created_at, activated_at, superseded_at, sealed_reserved, shredded_at, shred_scope)
       VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7, $8, $9, $10, $11, $12)`,
      [r.conversation_id, r.version, r.master_key_id, r.wrapped_key, r.suite, r.state, new Date(r.created_at), new Date(r.activated_at),
        r.superseded_at === null ? null : new Date(r.superseded_at), r.sealed_reserved, r.shredded_at === null ? null : new Date(r.shredded_at), r.shred_scope],
    );
  }

  #active(c: string): OldRow | undefined {
    return [...this.model.values()].find((r) => r.conversation_id === c && r.state === 'active');
  }

  /** Rotation as the previous release does it: lock the active row, supersede it, insert the next. */
  async rotate(c: string): Promise<void> {
    const cur = this.#active(c);
    if (cur === undefined) return;
    const at = this.#at();
    const next: OldRow = { ...cur, version: cur.version + 1, wrapped_key: randomBytes(61).toString('hex'), created_at: at, activated_at: at, sealed_reserved: 0 };
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM ${this.s}.${this.table} WHERE conversation_id = $1 AND version = $2 FOR UPDATE`, [c, cur.version]);
      await client.query(`UPDATE ${this.s}.${this.table} SET state = 'superseded', superseded_at = $3 WHERE conversation_id = $1 AND version = $2`, [c, cur.version, new Date(at)]);
      await this.#write(client, next);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    cur.state = 'superseded';
    cur.superseded_at = at;
    this.model.set(keyOf(c, next.version), next);
  }

  async reserve(c: string, n: number): Promise<void> {
    const cur = this.#active(c);
    if (cur === undefined) return;
    await db.pool.query(`UPDATE ${this.s}.${this.table} SET sealed_reserved = sealed_reserved + $3 WHERE conversation_id = $1 AND version = $2`, [c, cur.version, n]);
    cur.sealed_reserved += n;
  }

  async shred(c: string): Promise<void> {
    const at = this.#at();
    await db.pool.query(
      `UPDATE ${this.s}.${this.table} SET state = 'shredded', shredded_at = $2, shred_scope = 'conversation', superseded_at = NULL, wrapped_key = ''::bytea
       WHERE conversation_id = $1 AND state <> 'shredded'`, [c, new Date(at)]);
    for (const r of this.model.values()) {
      if (r.conversation_id !== c || r.state === 'shredded') continue;
      Object.assign(r, { state: 'shredded', shredded_at: at, shred_scope: 'conversation', superseded_at: null, wrapped_key: '' });
    }
  }

  async remove(c: string, v: number): Promise<void> {
    await db.pool.query(`DELETE FROM ${this.s}.${this.table} WHERE conversation_id = $1 AND version = $2`, [c, v]);
    this.model.delete(keyOf(c, v));
  }

  expected(): OldRow[] {
    return [...this.model.values()].sort(byKey);
  }
}

function byKey(a: OldRow, b: OldRow): number {
  return a.conversation_id < b.conversation_id ? -1 : a.conversation_id > b.conversation_id ? 1 : a.version - b.version;
}

/** The migrated table's rows in the previous shape (master key names, enums as text). */
async function migratedRows(s: string, table = 'conversation_keys'): Promise<OldRow[]> {
  const res = await db.pool.query(
    `SELECT k.conversation_id, k.version::int AS version, m.name AS master_key_id, encode(k.wrapped_key, 'hex') AS wrapped_key, k.suite::text AS suite,
            k.state::text AS state, k.created_at, k.activated_at, k.superseded_at, k.sealed_reserved::int AS sealed_reserved, k.shredded_at, k.shred_scope::text AS shred_scope
     FROM ${s}.${table} k JOIN ${s}.keywarden_master_keys m ON m.id = k.master_key`);
  const ms = (d: Date | null) => (d === null ? null : d.getTime());
  return res.rows.map((r) => ({ ...r, created_at: ms(r.created_at), activated_at: ms(r.activated_at), superseded_at: ms(r.superseded_at), shredded_at: ms(r.shredded_at) }) as OldRow).sort(byKey);
}

async function populate(old: OldRelease, n: number, shred = true): Promise<void> {
  for (let i = 0; i < n; i++) {
    const c = `old-${String(i).padStart(4, '0')}`;
    await old.insert(c, i % 3 === 0 ? ARN : 'local:k1');
    if (i % 4 === 0) await old.rotate(c);
    if (i % 5 === 0) await old.reserve(c, 7);
    if (shred && i % 11 === 0) await old.shred(c);
  }
}

describe('migration 5 online', () => {
  it('copies in batches while the previous release writes, with two migrators at once: the new table holds exactly the committed rows', async () => {
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const old = new OldRelease(s);
      await populate(old, 120);

      const progress: CopyProgress[] = [];
      let migrated = false;
      const migrator = () => migrate(db.pool, { schema, partitions: 4, batchRows: 16, onProgress: (p) => progress.push(p) });
      const both = Promise.all([migrator(), migrator()]).finally(() => {
        migrated = true;
      });
      // The previous release goes on writing during the copy: every kind of write, to rows
      // already copied, not yet copied and new ones (a new master key among them).
      let ops = 0;
      const writer = (async () => {
        for (let i = 0; !migrated || i < 5; i++, ops++) {
          const c = `old-${String((i * 37) % 120).padStart(4, '0')}`;
          try {
            switch (i % 6) {
              case 0: await old.insert(`new-${i}`, i % 12 === 0 ? `local:during-${i}` : 'local:k1'); break;
              case 1: await old.rotate(c); break;
              case 2: await old.reserve(c, 3); break;
              case 3: await old.shred(c); break;
              case 4: await old.remove(`old-${String(i % 120).padStart(4, '0')}`, 1); break;
              default: await old.reserve(`new-${i - 5}`, 1);
            }
          } catch (err) {
            // The previous release's inserts fail once the swap has committed (its master_key_id
            // column is gone): 42703, rolled back, not in the model. Nothing else may fail.
            if ((err as { code?: string }).code === '42703') continue;
            throw err;
          }
        }
      })();
      const [results] = await Promise.all([both, writer]);
      expect(results.flatMap((r) => r.applied).sort()).toEqual(FIVE_ON); // each once
      expect(ops).toBeGreaterThan(5);
      // Batches of at most 16, both tables, counts rising to the end.
      const conv = progress.filter((p) => p.table === 'conversation_keys');
      expect(conv.length).toBeGreaterThan(5);
      expect(conv.every((p, i) => p.version === 5 && (i === 0 || p.copied >= conv[i - 1]!.copied))).toBe(true);
      expect(conv.at(-1)!.done).toBe(true);
      expect(progress.some((p) => p.table === 'branch_keys' && p.done)).toBe(true);

      expect(await migratedRows(s)).toEqual(old.expected());
      // Nothing of the copy machinery is left.
      const leftovers = await db.pool.query(
        `SELECT (SELECT count(*)::int FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND NOT t.tgisinternal) AS triggers,
                (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1) AS functions,
                to_regclass($2) IS NULL AS no_progress`, [schema, `${s}.keywarden_copy`]);
      expect(leftovers.rows[0]).toEqual({ triggers: 0, functions: 0, no_progress: true });
      const idx = await db.pool.query('SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 ORDER BY 1', [schema, 'conversation_keys']);
      expect(idx.rows.map((r) => r.indexname)).toEqual(['conversation_keys_one_active', 'conversation_keys_pkey', 'conversation_keys_superseded_at']);
      // The store works on the result.
      const store = new PostgresKeyStore(db.pool, { schema });
      const live = old.expected().find((r) => r.state === 'active')!;
      expect((await store.getLatest(live.conversation_id))?.version).toBe(live.version);
      expect((await store.insertNext({ ...(await store.getLatest(live.conversation_id))!, version: live.version + 1, sealedReserved: 0 }, live.version)).inserted).toBe(true);
    });
  });

  it('from keywarden 0.1.0\'s schema (migration 2), copy-only while 0.1.0 writes, then the swap: every row comes through', async () => {
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 2);
      const old = new OldRelease(s, 'conversation_keys', true);
      await populate(old, 60, false);
      let copying = true;
      const run = migrate(db.pool, { schema, batchRows: 8, copyOnly: true }).finally(() => {
        copying = false;
      });
      // 0.1.0 goes on writing in its own shape, through migrations 3 and 4 and the copy.
      for (let i = 0; copying || i < 3; i++) {
        const c = `old-${String((i * 13) % 60).padStart(4, '0')}`;
        if (i % 3 === 0) await old.insert(`v2-new-${i}`, 'local:k1');
        else if (i % 3 === 1) await old.rotate(c);
        else await old.reserve(c, 2);
      }
      expect(await run).toEqual({ applied: [3, 4], readyToSwap: 5 });
      // Migration 3 neither validated the old table nor built indexes on it (both would hold it locked).
      const check = await db.pool.query(`SELECT convalidated FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = $1 AND t.relname = 'conversation_keys' AND c.conname = 'conversation_keys_state'`, [schema]);
      expect(check.rows).toEqual([{ convalidated: false }]);
      expect((await migrate(db.pool, { schema })).applied).toEqual(FIVE_ON);
      expect(await migratedRows(s)).toEqual(old.expected());
    });
  });

  it('a stopped copy resumes after its last batch; the old table stays in use in between; nothing is copied twice or lost', async () => {
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const old = new OldRelease(s);
      await populate(old, 100);
      const branches = new OldRelease(s, 'branch_keys');
      await branches.insert('branch-1', 'local:branch-root');

      let batches = 0;
      const stop = new Error('stopped by the test');
      await expect(migrate(db.pool, { schema, batchRows: 10, onProgress: () => { if (++batches === 4) throw stop; } })).rejects.toBe(stop);
      // Not applied; the old table is still the one in use; the copy got 20 rows in.
      const versions = await db.pool.query(`SELECT version FROM ${s}.keywarden_migrations ORDER BY 1`);
      expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3, 4]);
      expect((await db.pool.query(`SELECT copied::int, done FROM ${s}.keywarden_copy WHERE table_name = 'branch_keys'`)).rows).toEqual([{ copied: 1, done: true }]);
      expect((await db.pool.query(`SELECT copied::int, done FROM ${s}.keywarden_copy WHERE table_name = 'conversation_keys'`)).rows).toEqual([{ copied: 20, done: false }]);
      // (branch_keys sorts first: its one row was batch 1, an empty batch 2 ended it;
      // conversation_keys' batches 3 and 4.)

      // Meanwhile the previous release writes: ahead of the copy, behind it, and new.
      await old.reserve('old-0001', 5);
      await old.rotate('old-0090');
      await old.shred('old-0002');
      await old.insert('zzz-new', 'local:after-stop');
      await old.insert('aaa-new', 'local:k1');
      await old.remove('old-0003', 1);

      const resumed: CopyProgress[] = [];
      expect((await migrate(db.pool, { schema, batchRows: 10, onProgress: (p) => resumed.push(p) })).applied).toEqual(FIVE_ON);
      // It went on from 20, never back to 0.
      expect(resumed[0]).toEqual({ version: 5, table: 'conversation_keys', copied: 30, done: false });
      const total = (await db.pool.query(`SELECT count(*)::int AS n FROM ${s}.conversation_keys`)).rows[0].n;
      // Rows the copy read: those that existed when it started, minus the one deleted
      // before it got there, plus the inserted ones after its cursor ('zzz-new'; the
      // trigger also wrote it); 'aaa-new' and the rotation's new version were before it or
      // only the trigger's.
      expect(resumed.at(-1)!.copied).toBeLessThanOrEqual(total);
      expect(await migratedRows(s)).toEqual(old.expected());
      expect(await migratedRows(s, 'branch_keys')).toEqual(branches.expected());
    });
  });

  it('copyOnly runs the copy to its end and stops before the swap; the next run swaps; the CLI does the same (--copy-only, --batch-rows, --partitions)', async () => {
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const old = new OldRelease(s);
      await populate(old, 40);
      const first = await migrate(db.pool, { schema, batchRows: 7, copyOnly: true });
      expect(first).toEqual({ applied: [], readyToSwap: 5 });
      // Still the previous release's table, still written, still mirrored.
      await old.rotate('old-0005');
      await old.insert('late', 'local:late');
      expect((await db.pool.query(`SELECT count(*)::int AS n FROM ${s}.keywarden_copy WHERE done`)).rows[0].n).toBe(2);
      expect(await migrate(db.pool, { schema, copyOnly: true })).toEqual({ applied: [], readyToSwap: 5 }); // idempotent
      expect(await migrate(db.pool, { schema })).toEqual({ applied: FIVE_ON });
      expect(await migratedRows(s)).toEqual(old.expected());
    });
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const old = new OldRelease(s);
      await populate(old, 25);
      const { main } = await import('../src/cli/index.js');
      const run = async (...argv: string[]) => {
        const out: string[] = [];
        const err: string[] = [];
        await db.releaseConnections();
        const code = await main(argv, { out: (x) => void out.push(String(x)), err: (x) => void err.push(x) });
        await db.releaseConnections();
        return { code, out: out.join(''), err: err.join('') };
      };
      const base = ['migrate', '--database-url', db.url, '--schema', schema];
      expect(await run(...base, '--batch-rows', '0')).toMatchObject({ code: 2, err: expect.stringMatching(/--batch-rows/) });
      expect(await run(...base, '--partitions', '1025')).toMatchObject({ code: 2, err: expect.stringMatching(/--partitions: expected at most 1024/) });
      const copy = await run(...base, '--copy-only', '--batch-rows', '4', '--partitions', '3', '--json');
      expect(copy.code).toBe(0);
      expect(JSON.parse(copy.out)).toEqual({ schema, applied: [], version: LATEST_MIGRATION, readyToSwap: 5 });
      expect((await db.pool.query(`SELECT copied::int FROM ${s}.keywarden_copy WHERE table_name = 'conversation_keys'`)).rows[0].copied).toBe(old.expected().length);
      const swap = await run(...base);
      expect(swap).toMatchObject({ code: 0, out: `applied migrations: ${FIVE_ON.join(', ')}\n` });
      const parts = await db.pool.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = '${s}.conversation_keys'::regclass`);
      expect(parts.rows[0].n).toBe(3);
      expect(await migratedRows(s)).toEqual(old.expected());
    });
  });

  it('a row deleted while a batch waits to lock it is skipped, and nothing else is lost (two connections: real server only)', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const old = new OldRelease(s);
      await populate(old, 30, false);
      // The previous release deletes a row of the first batch and has not committed yet.
      const deleter = await db.pool.connect();
      await deleter.query('BEGIN');
      await deleter.query(`DELETE FROM ${s}.conversation_keys WHERE conversation_id = 'old-0003' AND version = 1`);
      const progress: CopyProgress[] = [];
      const run = migrate(db.pool, { schema, batchRows: 10, onProgress: (p) => progress.push(p) });
      await new Promise((r) => setTimeout(r, 500)); // the first batch is now waiting for that row
      await deleter.query('COMMIT');
      deleter.release();
      old.model.delete(keyOf('old-0003', 1));
      expect((await run).applied).toEqual(FIVE_ON);
      const conv = progress.filter((p) => p.table === 'conversation_keys');
      // The batch skipped the deleted row and took the next in its place (the LIMIT counts rows
      // locked); the copy went on to the end either way (only an empty batch ends it).
      expect(conv[0]).toMatchObject({ copied: 10, done: false });
      expect(await migratedRows(s)).toEqual(old.expected());
    });
  });

  it('the old table\'s privileges carry over: a separate application role keeps writing during the copy and uses the new table after the swap', async () => {
    const role = `kw_app_${randomBytes(4).toString('hex')}`;
    await withSchema(async (schema, s) => {
      await migrateUpTo(db.pool, { schema }, 4);
      const old = new OldRelease(s);
      await populate(old, 10);
      await db.pool.query(`CREATE ROLE ${role}`);
      const asApp = async (fn: (c: PoolClient) => Promise<unknown>) => {
        const c = await db.pool.connect();
        try {
          await c.query('BEGIN');
          await c.query(`SET LOCAL ROLE ${role}`);
          await fn(c);
          await c.query('COMMIT');
          c.release();
        } catch (err) {
          c.release(true); // (PGlite's socket drops a connection after a failed statement)
          throw err;
        }
      };
      try {
        await db.pool.query(`GRANT USAGE ON SCHEMA ${s} TO ${role}`);
        await db.pool.query(`GRANT SELECT, INSERT, UPDATE ON ${s}.conversation_keys, ${s}.branch_keys TO ${role}`);
        expect(await migrate(db.pool, { schema, copyOnly: true })).toMatchObject({ readyToSwap: 5 });
        // The previous release, as its own role: its insert (a new master key too) runs the trigger.
        await asApp((c) => old.insert('as-app', 'local:app-new', c));
        expect((await migrate(db.pool, { schema })).applied).toEqual(FIVE_ON);
        await asApp(async (c) => {
          const r = await c.query(`SELECT count(*)::int AS n FROM ${s}.conversation_keys k JOIN ${s}.keywarden_master_keys m ON m.id = k.master_key`);
          expect(r.rows[0].n).toBe(old.expected().length);
          await c.query(`UPDATE ${s}.conversation_keys SET sealed_reserved = sealed_reserved + 1 WHERE conversation_id = 'as-app'`);
          await c.query(`INSERT INTO ${s}.keywarden_master_keys (name) VALUES ('local:app-2')`);
        });
        old.model.get(keyOf('as-app', 1))!.sealed_reserved += 1;
        // No more than it had: it could not delete before, it cannot now.
        const may = await db.pool.query(`SELECT has_table_privilege($1, $2, 'DELETE') AS del, has_table_privilege($1, $2, 'UPDATE') AS upd`, [role, `${s}.conversation_keys`]);
        expect(may.rows[0]).toEqual({ del: false, upd: true });
        expect(await migratedRows(s)).toEqual(old.expected());
      } finally {
        await db.pool.query(`DROP OWNED BY ${role}`);
        await db.pool.query(`DROP ROLE ${role}`);
      }
    });
  });

  it('validates batchRows, onProgress and copyOnly, naming them, before touching the database', async () => {
    await withSchema(async (schema) => {
      await expect(migrate(db.pool, { schema, copyOnly: 1 as never })).rejects.toThrow(/options\.copyOnly/);
      for (const bad of [0, 1_000_001, 1.5, '10']) await expect(migrate(db.pool, { schema, batchRows: bad as never })).rejects.toThrow(/options\.batchRows/);
      await expect(migrate(db.pool, { schema, onProgress: 'x' as never })).rejects.toThrow(/options\.onProgress/);
      expect((await db.pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount).toBe(0);
    });
  });

  it('the swap waits behind a long reader only briefly, lets other readers through, and completes once it ends (two connections: real server only)', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const saved = { ...DDL_LOCK };
    Object.assign(DDL_LOCK, { timeoutMs: 150, attempts: 40, pauseMs: 50 });
    try {
      await withSchema(async (schema, s) => {
        await migrateUpTo(db.pool, { schema }, 4);
        const old = new OldRelease(s);
        await populate(old, 30);
        // A report holding the old table (ACCESS SHARE) in a long transaction.
        const report = await db.pool.connect();
        await report.query('BEGIN');
        await report.query(`SELECT count(*) FROM ${s}.conversation_keys`);
        let finished = false;
        const run = migrate(db.pool, { schema }).finally(() => {
          finished = true;
        });
        // While the swap keeps trying, other readers are never stuck behind it for long.
        const waits: number[] = [];
        for (let i = 0; i < 10; i++) {
          const t0 = performance.now();
          await db.pool.query(`SELECT count(*) FROM ${s}.conversation_keys`);
          waits.push(performance.now() - t0);
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(finished).toBe(false);
        expect(Math.max(...waits)).toBeLessThan(2_000); // bounded by the swap's 150 ms lock wait, not the report's length
        await report.query('COMMIT');
        report.release();
        expect((await run).applied).toEqual(FIVE_ON);
        expect(await migratedRows(s)).toEqual(old.expected());
      });
      // A reader that outlasts every try: the run gives up with a retryable StoreError, the
      // copy done is kept, and a later run completes.
      Object.assign(DDL_LOCK, { timeoutMs: 100, attempts: 3, pauseMs: 10 });
      await withSchema(async (schema, s) => {
        await migrateUpTo(db.pool, { schema }, 4);
        await populate(new OldRelease(s), 10);
        const report = await db.pool.connect();
        await report.query('BEGIN');
        await report.query(`SELECT count(*) FROM ${s}.branch_keys`);
        const err = await migrate(db.pool, { schema }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreError);
        expect(err).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true, message: expect.stringMatching(/table lock for a schema change/) });
        expect((await db.pool.query(`SELECT bool_and(done) AS done FROM ${s}.keywarden_copy`)).rows[0].done).toBe(true);
        await report.query('COMMIT');
        report.release();
        expect((await migrate(db.pool, { schema })).applied).toEqual(FIVE_ON);
      });
    } finally {
      Object.assign(DDL_LOCK, saved);
    }
  });

  it('a fresh schema goes through the same steps with nothing to copy', async () => {
    await withSchema(async (schema) => {
      const progress: CopyProgress[] = [];
      expect((await migrate(db.pool, { schema, onProgress: (p) => progress.push(p) })).applied).toEqual(Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1));
      expect(progress.map((p) => [p.table, p.copied, p.done])).toEqual([['branch_keys', 0, true], ['conversation_keys', 0, true]]);
    });
  });
});
