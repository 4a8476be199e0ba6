/**
 * A whole-conversation shred on PostgreSQL that meets a version committed after its last
 * UPDATE's snapshot (the row it locked first need not still be the highest; an outside review
 * got there racing shreds, shreds by version and startGeneration from 3 processes). The shred
 * used to mark that new, active row as closing the conversation, which the table's CHECK refuses:
 * a non-retryable ERR_STORE_FAILED (SQLSTATE 23514) for a deletion request. It now shreds the
 * new version too and marks it once it is shredded.
 *
 * Needs a PostgreSQL server (DATABASE_URL, as in CI): the new version is committed from a second
 * connection while the shred's transaction is open, which PGlite's single connection cannot do.
 */
import type { Pool, PoolClient } from 'pg';
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

/** A pool whose clients run `before` (once) ahead of the first statement that `matches`. */
function hooked(pool: Pool, matches: (sql: string) => boolean, before: () => Promise<void>): Pool {
  let fired = false;
  const wrap = (client: PoolClient) => new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        return async (q: string | { text: string }, params?: unknown[]) => {
          const text = typeof q === 'string' ? q : q.text;
          if (!fired && matches(text)) {
            fired = true;
            await before();
          }
          return (target.query as (a: unknown, b?: unknown[]) => Promise<unknown>)(q, params);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'connect') return async () => wrap(await target.connect());
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('PostgreSQL: a whole-conversation shred meets a version committed meanwhile', () => {
  it('shreds the new version as well, marks the conversation closed, and does not fail', { timeout: 20_000 }, async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const plain = new PostgresKeyStore(db.pool, { schema: db.schema });
    const kw = new Keywarden({ masterKey, keyStore: plain });
    await kw.encrypt('race', new Uint8Array(1));
    await kw.encrypt('donor', new Uint8Array(1));
    const table = `"${db.schema}".conversation_keys`;
    const idOf = async (c: string) => (await db.pool.query<{ id: string }>(`SELECT conversation_id AS id FROM ${table} WHERE version = 1 AND conversation_id::text LIKE '%' || $1 || '%' LIMIT 1`, [c])).rows[0]!.id;
    const race = await idOf('race');
    const donor = await idOf('donor');
    // Version 1 is a tombstone already (a shred by version, as retention makes): the shred's
    // UPDATEs find nothing to shred. Right before it marks the highest row, another connection commits version 2 of the
    // conversation (a copy of another conversation's active row): a version the shred's last
    // UPDATE did not see, on a row it holds no lock on.
    const store = new PostgresKeyStore(hooked(db.pool, (sql) => sql.includes("shred_scope = 'conversation'"), async () => {
      const cols = (await db.pool.query<{ c: string }>(`SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'conversation_keys' AND column_name NOT IN ('conversation_id', 'version')`, [db.schema])).rows[0]!.c;
      await db.pool.query(`INSERT INTO ${table} (conversation_id, version, ${cols}) SELECT $1, 2, ${cols} FROM ${table} WHERE conversation_id = $2 AND version = 1`, [race, donor]);
    }), { schema: db.schema });
    await plain.transaction((tx) => tx.shred('race', [1], new Date()));
    const res = await store.transaction((tx) => tx.shred('race', 'conversation', new Date()));
    expect(res.shredded).toEqual([2]);
    expect(res.closed).toBe(true);
    const rows = (await db.pool.query<{ version: string; state: string; shred_scope: string | null }>(`SELECT version, state, shred_scope FROM ${table} WHERE conversation_id = $1 ORDER BY version`, [race])).rows;
    expect(rows.map((r) => [Number(r.version), r.state, r.shred_scope])).toEqual([[1, 'shredded', 'version'], [2, 'shredded', 'conversation']]);
    kw.close();
  });
});
