/**
 * A PostgreSQL pool for tests: a real server when DATABASE_URL is set (each call gets a fresh
 * schema, dropped by close()), otherwise PGlite (PostgreSQL compiled to WASM) in this process,
 * served over a local socket so that the real `pg` driver talks to it.
 *
 * PGlite serves one connection at a time, hence `max: 1`: tests that need two connections at
 * once (killing a backend from another one) only run against a real server (`kind === 'postgres'`).
 * A test that lets another client connect (the CLI, with `url`) calls `releaseConnections()`
 * before and after it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Pool } from 'pg';

export interface TestPool {
  pool: Pool;
  /** A schema for this pool's tables (fresh per call on a real server). */
  schema: string;
  kind: 'postgres' | 'pglite';
  /** A connection string for another client (the CLI): DATABASE_URL, or the PGlite socket. */
  url: string;
  /**
   * Closes this pool's idle connection and waits until the server has no connection left (its
   * own, or another client's that just closed), so that the next client can connect: PGlite
   * takes one at a time. Call it before another client (the CLI) connects and after it is done.
   * A no-op on a real server. The pool reconnects by itself on its next query.
   */
  releaseConnections(): Promise<void>;
  close(): Promise<void>;
}

let logged = false;
function logOnce(message: string): void {
  if (logged) return;
  logged = true;
  console.info(`[test/support/pg] ${message}`);
}

export async function testPool(): Promise<TestPool> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle client whose connection dies emits 'error' on the pool; unhandled it would crash.
    pool.on('error', () => {});
    const schema = `kw_test_${randomBytes(6).toString('hex')}`;
    logOnce('using PostgreSQL at DATABASE_URL');
    return {
      pool,
      schema,
      kind: 'postgres',
      url,
      async releaseConnections() {},
      async close() {
        try {
          // The schema and those tests derive from it (`${schema}_json`, `${schema}_branches`, …):
          // a developer's database keeps no schema a test run made.
          const made = await pool.query<{ nspname: string }>(
            `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $1 || '_')`, [schema]);
          for (const { nspname } of made.rows) await pool.query(`DROP SCHEMA IF EXISTS "${nspname.replaceAll('"', '""')}" CASCADE`);
        } finally {
          await pool.end();
        }
      },
    };
  }

  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 });
  pool.on('error', () => {});
  logOnce('DATABASE_URL not set: using in-process PGlite (one connection)');
  return {
    pool,
    schema: `kw_test_${randomBytes(6).toString('hex')}`,
    kind: 'pglite',
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async releaseConnections() {
      // pg-pool cannot drop idle clients on demand: check the (one) client out and release it
      // with `true`, which destroys it.
      if (pool.totalCount > 0) (await pool.connect()).release(true);
      for (const deadline = Date.now() + 5000; server.getStats().activeConnections > 0; ) {
        if (Date.now() > deadline) throw new Error('test/support/pg: the PGlite connection was not released within 5 s');
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async close() {
      try {
        await pool.end();
      } finally {
        await server.stop();
        await db.close();
      }
    },
  };
}

/** A pool that records every statement (text and parameters) it runs, on its clients or itself, and runs it. */
export function recording(pool: Pool): { pool: Pool; statements: { sql: string; params: unknown[] }[] } {
  const statements: { sql: string; params: unknown[] }[] = [];
  const wrapClient = (client: object) => new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') {
        // keywarden sends statements as config objects ({ text, values, name }), tests as text.
        return (sql: string | { text: string; values?: unknown[] }, params?: unknown[]) => {
          statements.push(typeof sql === 'string' ? { sql, params: params ?? [] } : { sql: sql.text, params: sql.values ?? [] });
          return (target as { query: (s: unknown, p?: unknown[]) => unknown }).query(sql, params);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const wrapped = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'connect') return async () => wrapClient(await target.connect());
      if (prop === 'query') {
        return (sql: string | { text: string; values?: unknown[] }, params?: unknown[]) => {
          statements.push(typeof sql === 'string' ? { sql, params: params ?? [] } : { sql: sql.text, params: sql.values ?? [] });
          return (target.query as (s: unknown, p?: unknown[]) => unknown)(sql, params);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { pool: wrapped, statements };
}

/**
 * Waits until the pool answers again: PGlite's socket server drops a connection after a failed
 * statement, and the pool may hand out that dead connection once.
 */
export async function settle(pool: Pool): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      await pool.query('SELECT 1');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
