/**
 * Store constructors take their options' own, known fields only, and check every one before
 * they change anything (outside review, 2026-12-01): `PostgresAuditStore` read `schema`,
 * `leaseMs` and `preparedStatements` through the prototype (a polluted `Object.prototype.schema`
 * sent every audit query to another schema) and took misspelt options silently; the PostgreSQL
 * stores switched a shared pool to unnamed statements before a later option was refused; and
 * `FileAuditStore.open` created the directory before looking at its options.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { PostgresAuditStore, PostgresKeyStore, PostgresTokenLedger } from '../src/postgres.js';
import { checkedOut, statement } from '../src/store/pg-statements.js';

/** A pool that records the SQL it is sent. */
function fakePool() {
  const sql: string[] = [];
  const client = { query: async (q: string | { text: string }) => { sql.push(typeof q === 'string' ? q : q.text); return { rows: [], rowCount: 0 }; }, release() {}, on() {} };
  return { sql, connect: async () => client, query: client.query, on() {}, totalCount: 0 };
}
const P = Object.prototype as Record<string, unknown>;
afterEach(() => {
  delete P.schema;
  delete P.leaseMs;
});

describe('PostgreSQL stores', () => {
  it('PostgresAuditStore refuses unknown options and ignores inherited ones', async () => {
    expect(() => new PostgresAuditStore(fakePool() as never, { schemaa: 'audit' } as never)).toThrow(expect.objectContaining({ param: 'options.schemaa' }));
    P.schema = 'attacker';
    const pool = fakePool();
    const store = new PostgresAuditStore(pool as never, {});
    delete P.schema;
    await store.size().catch(() => undefined);
    expect(pool.sql.length).toBeGreaterThan(0);
    expect(pool.sql.join('\n')).not.toContain('attacker');
  });

  it('a refused option leaves the pool as it was (named statements stay on)', () => {
    for (const make of [
      (pool: never) => new PostgresAuditStore(pool, { preparedStatements: false, leaseMs: 1 }),
      (pool: never) => new PostgresKeyStore(pool, { preparedStatements: false, schema: 'bad name!' }),
      (pool: never) => new PostgresTokenLedger(pool, { preparedStatements: false, schema: 'bad name!' }),
    ]) {
      const pool = fakePool();
      expect(() => make(pool as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
      const client = { query: () => undefined };
      checkedOut(pool as never, client as never);
      expect(statement(client as never, 'SELECT $1', [1]).name).toMatch(/^kw_/);
    }
  });
});

describe('FileAuditStore.open', () => {
  it('checks its options before it creates anything', async () => {
    const root = await mkdtemp(join(tmpdir(), 'kw-store-opts-'));
    try {
      const dir = join(root, 'audit');
      await expect(FileAuditStore.open(dir, { repairTornTial: true } as never)).rejects.toMatchObject({ param: 'options.repairTornTial' });
      await expect(FileAuditStore.open(dir, 'yes' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT' });
      await expect(FileAuditStore.open(dir, { repairTornTail: 'yes' } as never)).rejects.toMatchObject({ param: 'options.repairTornTail' });
      expect(await readdir(root)).toEqual([]);
      const store = await FileAuditStore.open(dir, { repairTornTail: false });
      expect(await readdir(root)).toEqual(['audit']);
      await store.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
