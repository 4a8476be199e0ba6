/**
 * What was wrong: PostgresKeyStore.transaction's `tx` store refuses calls made after `fn` settles
 * ("the transaction has already ended"), but the refusal only began once COMMIT or ROLLBACK had
 * come back. A call made in between (e.g. a branch of a `Promise.all` still running after another
 * branch rejected) passed the guard, was queued behind the ROLLBACK on the same connection, and
 * ran there in autocommit: a write of a rolled-back transaction committed on its own, against the
 * contract "all its calls commit together when it resolves, none when it rejects".
 *
 * The same for a call still running when `fn` settled (fn = Promise.all of a tx.insertNext and
 * a step that fails at once): the insertNext's first statement ran in the transaction, its later
 * ones after the ROLLBACK, in autocommit — the rotation committed although the transaction
 * rejected.
 *
 * Now: the `tx` store closes as soon as `fn` settles, before COMMIT or ROLLBACK is sent: a call
 * made then is refused with StoreError, and so is every further statement of a call still
 * running; nothing of either is written outside the transaction. A transaction whose fn
 * resolved while one of its calls was still running rolls back and rejects (StoreError) rather
 * than commit part of that call (e.g. a rotation's supersede without its new version).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { StoreError } from '../src/errors.js';
import type { KeyStore } from '../src/store/types.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

/** A pool whose clients call `onSent(sql)` right after each statement is submitted. */
function spyPool(url: string, onSent: (sql: string) => void): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => {});
  const patched = new WeakSet<object>();
  pool.on('acquire', (client) => {
    if (patched.has(client)) return;
    patched.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const out = query(...args);
      const sql = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | null)?.text;
      if (typeof sql === 'string') onSent(sql);
      return out;
    };
  });
  return pool;
}

describe('transaction: a tx call made after fn settled', () => {
  for (const ending of ['ROLLBACK', 'COMMIT'] as const) {
    it(`is refused, and writes nothing, while ${ending} is in flight`, async (ctx) => {
      if (db.kind !== 'postgres') ctx.skip(); // a second pool on the same server
      let late: Promise<unknown> | undefined;
      let txStore: KeyStore | undefined;
      const lateConversation = freshConversationId('late');
      const pool = spyPool(process.env.DATABASE_URL!, (sql) => {
        // fn has settled and the transaction's end is on its way: a call now comes too late.
        if (sql === ending && txStore !== undefined && late === undefined) {
          late = txStore.insertFirst(makeRecord(lateConversation));
          late.catch(() => undefined); // handled: asserted below
        }
      });
      try {
        const store = new PostgresKeyStore(pool, { schema: db.schema });
        const first = freshConversationId('first');
        const run = store.transaction(async (tx) => {
          txStore = tx;
          await tx.insertFirst(makeRecord(first));
          if (ending === 'ROLLBACK') throw new Error('abort');
        });
        if (ending === 'ROLLBACK') await expect(run).rejects.toThrow('abort');
        else await run;
        expect(late).toBeDefined();
        await expect(late).rejects.toBeInstanceOf(StoreError);
        await expect(late).rejects.toThrow(/already ended/);
        const check = new PostgresKeyStore(db.pool, { schema: db.schema });
        expect(await check.getLatest(lateConversation)).toBeUndefined();
        expect((await check.getLatest(first)) === undefined).toBe(ending === 'ROLLBACK');
      } finally {
        await late?.catch(() => undefined);
        await pool.end();
      }
    });
  }

  it('a call still running when fn rejects writes nothing after the ROLLBACK (Promise.all failing fast)', async () => {
    const store = new PostgresKeyStore(db.pool, { schema: db.schema });
    const c = freshConversationId('inflight');
    await store.insertFirst(makeRecord(c));
    let rotation: Promise<unknown> | undefined;
    await expect(store.transaction((tx) => {
      rotation = tx.insertNext(makeRecord(c, { version: 2 }), 1);
      rotation.catch(() => undefined); // handled: asserted below
      return Promise.all([rotation, Promise.reject(new Error('abort'))]);
    })).rejects.toThrow('abort');
    await expect(rotation).rejects.toThrow(/already ended/);
    const versions = await store.listVersions(c);
    expect(versions.map((r) => [r.version, r.state])).toEqual([[1, 'active']]);
  });

  it('fn resolving while a call is still running commits nothing of it: the transaction fails instead', async () => {
    const store = new PostgresKeyStore(db.pool, { schema: db.schema });
    const c = freshConversationId('straddle');
    await store.insertFirst(makeRecord(c));
    let rotation: Promise<unknown> | undefined;
    const run = store.transaction(async (tx) => {
      rotation = tx.insertNext(makeRecord(c, { version: 2 }), 1); // not awaited: still running below
      rotation.catch(() => undefined); // handled: asserted below
      await tx.getLatest(c); // the rotation's lock is taken meanwhile, its supersede is queued
    });
    await expect(run).rejects.toBeInstanceOf(StoreError);
    await expect(rotation).rejects.toBeInstanceOf(StoreError);
    // Not half a rotation (version 1 superseded, no version 2): nothing at all.
    const versions = await store.listVersions(c);
    expect(versions.map((r) => [r.version, r.state])).toEqual([[1, 'active']]);
  });
});
