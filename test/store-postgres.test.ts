import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { LATEST_MIGRATION, migrate } from '../src/store/migrations.js';
import { channelName, isRetryable, toStoreError } from '../src/store/pg.js';
import fc from 'fast-check';
import { InvalidInputError, StoreError } from '../src/errors.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import { freshConversationId, keyStoreContract, makeRecord } from './support/store-contract.js';
import { keyStoreLifecycleContract } from './support/store-lifecycle-contract.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

/** Waits until the pool answers again (after a test deliberately broke a connection). */
async function untilHealthy(): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await db.pool.query('SELECT 1');
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

keyStoreContract('PostgresKeyStore', () => new PostgresKeyStore(db.pool, { schema: db.schema }));
// LISTEN holds a second connection: notifications are tested on a real server only.
keyStoreLifecycleContract('PostgresKeyStore', () => new PostgresKeyStore(db.pool, { schema: db.schema }), { notifications: process.env.DATABASE_URL !== undefined });
keyStoreContract('PostgresKeyStore (branch keys table)', () => new PostgresKeyStore(db.pool, { schema: db.schema, keys: 'branches' }));

describe('migrate', () => {
  it('is idempotent: a second run on the same schema applies nothing', async () => {
    expect(await migrate(db.pool, { schema: db.schema })).toEqual({ applied: [] });
    const rows = await db.pool.query(`SELECT version FROM "${db.schema}".keywarden_migrations ORDER BY version`);
    const all = Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1);
    expect(rows.rows.map((r) => r.version)).toEqual(all);
  });

  it('concurrent migrators of a fresh schema: exactly one applies each version', async () => {
    const schema = `kw_mig_${randomBytes(4).toString('hex')}`;
    try {
      const results = await Promise.all([1, 2, 3].map(() => migrate(db.pool, { schema })));
      expect(results.flatMap((r) => r.applied).sort()).toEqual(Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1)); // each once
      const store = new PostgresKeyStore(db.pool, { schema });
      expect((await store.insertFirst(makeRecord('m'))).inserted).toBe(true);
    } finally {
      await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('refuses an invalid schema name (ERR_INVALID_INPUT naming options.schema) before touching the database', async () => {
    for (const schema of ['Bad', 'x;drop table y', '1abc', '', 'a'.repeat(64), 'a"b']) {
      const err = await migrate(db.pool, { schema }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.schema' });
      expect(() => new PostgresKeyStore(db.pool, { schema })).toThrow(InvalidInputError);
    }
    expect(() => new PostgresKeyStore(undefined as never)).toThrow(expect.objectContaining({ param: 'pool' }));
    // A reserved word is fine: the name is quoted.
    expect(() => new PostgresKeyStore(db.pool, { schema: 'user' })).not.toThrow();
  });

  it('the database enforces one active version per conversation', async () => {
    const c = freshConversationId();
    await new PostgresKeyStore(db.pool, { schema: db.schema }).insertFirst(makeRecord(c));
    // On a dedicated connection that is destroyed afterwards: PGlite's socket server drops a
    // connection after a failed statement outside a transaction, and the next connection
    // attempt can race that drop; wait until the pool is healthy again before the next test.
    const client = await db.pool.connect();
    try {
      await expect(
        client.query(
          `INSERT INTO "${db.schema}".conversation_keys (conversation_id, version, master_key, wrapped_key, suite, state, created_at, activated_at, sealed_reserved)
           VALUES ($1, 2, (SELECT id FROM "${db.schema}".keywarden_master_keys WHERE name = 'test:master-key'), '\\x00', 'AES-256-GCM', 'active', now(), now(), 0)`,
          [c],
        ),
      ).rejects.toMatchObject({ code: '23505' });
    } finally {
      client.release(true);
      await untilHealthy();
    }
  });
});

describe('PostgresKeyStore specifics', () => {
  const store = () => new PostgresKeyStore(db.pool, { schema: db.schema });

  it('concurrent insertFirst from separate store instances over one pool: exactly one version 1', async () => {
    const c = freshConversationId();
    const stores = Array.from({ length: 16 }, store);
    const results = await Promise.all(
      stores.map((s, i) => s.insertFirst(makeRecord(c, { wrappedKey: Uint8Array.of(i, 1, 2, 3), masterKeyId: `k${i}` }))),
    );
    expect(results.filter((r) => r.inserted)).toHaveLength(1);
    const winner = results.find((r) => r.inserted)!.record;
    for (const r of results) expect(r.record).toEqual(winner);
    const rows = await store().listVersions(c);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual(winner);
  });

  it('returns plain Uint8Array copies, not pg Buffers', async () => {
    const c = freshConversationId();
    await store().insertFirst(makeRecord(c));
    const r = (await store().getLatest(c))!;
    expect(Object.getPrototypeOf(r.wrappedKey)).toBe(Uint8Array.prototype);
    expect(typeof r.version).toBe('number');
    expect(typeof r.sealedReserved).toBe('number');
  });

  it('keeps ids with backslashes and U+0000 apart (text escaping is injective)', async () => {
    const base = freshConversationId();
    const ids = [`${base}\\0`, `${base}\u0000`, `${base}\\`, `${base}\\\\0`, `${base}\\\u0000`];
    const s = store();
    for (const [i, id] of ids.entries()) await s.insertFirst(makeRecord(id, { masterKeyId: `k${i}` }));
    for (const [i, id] of ids.entries()) {
      const rows = await s.listVersions(id);
      expect(rows.map((r) => [r.conversationId, r.masterKeyId])).toEqual([[id, `k${i}`]]);
    }
  });

  it('refuses a lone-surrogate id and a non-first record in insertFirst (StoreError), storing nothing', async () => {
    const s = store();
    await expect(s.getLatest('a\uD800')).rejects.toBeInstanceOf(StoreError);
    const c = freshConversationId();
    await expect(s.insertFirst(makeRecord(c, { version: 2 }))).rejects.toMatchObject({ code: 'ERR_STORE_FAILED' });
    await expect(s.insertNext(makeRecord(c, { version: 2 }), 1)).rejects.toBeInstanceOf(StoreError);
    await s.insertFirst(makeRecord(c));
    await expect(s.insertNext(makeRecord(c, { version: 3 }), 1)).rejects.toBeInstanceOf(StoreError);
    expect(await s.listVersions(c)).toEqual([makeRecord(c)]);
  });

  it('reserveMessages grants 0 for a non-positive count and changes nothing', async () => {
    const s = store();
    const c = freshConversationId();
    await s.insertFirst(makeRecord(c, { sealedReserved: 5 }));
    expect(await s.reserveMessages(c, 1, 0, 100)).toBe(0);
    expect(await s.reserveMessages(c, 1, -3, 100)).toBe(0);
    expect((await s.getLatest(c))!.sealedReserved).toBe(5);
    // Values above 2^32 round-trip exactly (bigint columns).
    const big = freshConversationId();
    await s.insertFirst(makeRecord(big, { sealedReserved: 2 ** 40 }));
    expect(await s.reserveMessages(big, 1, 10, 2 ** 40 + 4)).toBe(4);
    expect((await s.getLatest(big))!.sealedReserved).toBe(2 ** 40 + 4);
  });

  it('a transaction whose fn throws leaves no row; the tx store is unusable afterwards', async () => {
    const s = store();
    const c = freshConversationId();
    let leaked: import('../src/store/types.js').KeyStore | undefined;
    const boom = new Error('boom');
    await expect(
      s.transaction(async (tx) => {
        leaked = tx;
        await tx.insertFirst(makeRecord(c));
        await tx.reserveMessages(c, 1, 3, 10);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await s.listVersions(c)).toEqual([]);
    await expect(leaked!.getLatest(c)).rejects.toBeInstanceOf(StoreError);
  });

  it('a failed statement that fn swallows makes the commit fail instead of silently rolling back', async () => {
    const s = store();
    const c = freshConversationId();
    const err = await s
      .transaction(async (tx) => {
        await tx.insertFirst(makeRecord(c));
        // A server-side failure (U+0000 in a text column) aborts the transaction.
        await tx.insertFirst(makeRecord(freshConversationId(), { masterKeyId: 'bad\u0000id' })).catch(() => undefined);
        await tx.getLatest(c).catch(() => undefined); // "current transaction is aborted"
        return 'ok';
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(await s.listVersions(c)).toEqual([]);
  });

  it('maps driver errors to StoreError without parameters in the message; retryable for transient classes', () => {
    const secret = 'conversation-secret-id';
    const e = toStoreError('getLatest', Object.assign(new Error(`invalid input syntax for type bigint: "${secret}"`), { code: '22P02' }));
    expect(e).toBeInstanceOf(StoreError);
    expect(e.code).toBe('ERR_STORE_FAILED');
    expect(e.message).not.toContain(secret);
    expect(e.retryable).toBe(false);
    expect((e as Error).cause).toBeInstanceOf(Error);
    for (const code of ['08006', '08003', '40001', '40P01', '57P01', '57P02', '57P03', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']) {
      expect(isRetryable({ code })).toBe(true);
      expect(toStoreError('x', Object.assign(new Error('x'), { code })).retryable).toBe(true);
    }
    for (const code of ['23505', '42P01', '22P02', '57014']) expect(isRetryable({ code })).toBe(false);
    expect(isRetryable(new Error('Connection terminated unexpectedly'))).toBe(true);
    const same = new StoreError('already');
    expect(toStoreError('x', same)).toBe(same);
  });

  it('a connection killed mid-transaction surfaces as retryable ERR_STORE_FAILED and leaves no row (real PostgreSQL only)', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // PGlite has one connection: nothing can kill it from outside
    const appName = `kw_kill_${randomBytes(4).toString('hex')}`;
    const victimPool = new pg.Pool({ connectionString: process.env.DATABASE_URL, application_name: appName, max: 2 });
    victimPool.on('error', () => {});
    try {
      const victim = new PostgresKeyStore(victimPool, { schema: db.schema });
      const c = freshConversationId();
      const err = await victim
        .transaction(async (tx) => {
          await tx.insertFirst(makeRecord(c));
          await db.pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
          await new Promise((r) => setTimeout(r, 50));
          await tx.reserveMessages(c, 1, 1, 10);
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
      expect(await store().listVersions(c)).toEqual([]);
      // The pool recovers: the dead connection was destroyed, not reused.
      expect((await victim.insertFirst(makeRecord(c))).inserted).toBe(true);
    } finally {
      await victimPool.end();
    }
  });
});

describe('Keywarden over PostgresKeyStore (end to end)', () => {
  it('200 concurrent first encrypts of one conversation store one key and all decrypt; rotate works', async () => {
    const keyStore = new PostgresKeyStore(db.pool, { schema: db.schema });
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const kw = new Keywarden({ masterKey, keyStore });
    const kw2 = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }) });
    try {
      const c = freshConversationId('e2e');
      const messages = Array.from({ length: 200 }, (_, i) => new TextEncoder().encode(`message ${i}`));
      const sealed = await Promise.all(messages.map((m) => kw.encrypt(c, m)));
      const versions = await keyStore.listVersions(c);
      expect(versions).toHaveLength(1);
      expect(versions[0]!.state).toBe('active');
      expect(versions[0]!.sealedReserved).toBeGreaterThanOrEqual(200);
      const opened = await Promise.all(sealed.map((ct) => kw.decrypt(c, ct)));
      expect(opened.map((o) => Uint8Array.from(o))).toEqual(messages);

      const info = await kw.rotate(c);
      expect(info.version).toBe(2);
      const after = await keyStore.listVersions(c);
      expect(after.map((r) => [r.version, r.state])).toEqual([
        [1, 'superseded'],
        [2, 'active'],
      ]);
      const ct2 = await kw.encrypt(c, messages[0]!);
      expect(Uint8Array.from(await kw.decrypt(c, ct2))).toEqual(messages[0]);
      expect(Uint8Array.from(await kw.decrypt(c, sealed[199]!))).toEqual(messages[199]); // old version still opens
      expect(Uint8Array.from(await kw2.decrypt(c, ct2))).toEqual(messages[0]);
      expect(Uint8Array.from(await kw2.decrypt(c, sealed[0]!))).toEqual(messages[0]);
    } finally {
      kw.close();
      kw2.close();
    }
  });
});

describe('keywarden migrate', () => {
  it('applies the migrations to a schema once, then reports it up to date; usage errors exit 2', async () => {
    const { main } = await import('../src/cli/index.js');
    const url = process.env.DATABASE_URL;
    const run = async (...argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(argv, { out: (s) => void out.push(String(s)), err: (s) => void err.push(s) });
      return { code, out: out.join(''), err: err.join('') };
    };
    expect((await run('migrate', '--bogus')).code).toBe(2);
    if (!url) return void expect((await run('migrate')).code).toBe(2); // no database given
    const schema = `kw_cli_${Date.now().toString(36)}`;
    const first = await run('migrate', '--database-url', url, '--schema', schema);
    expect([first.code, first.out]).toEqual([0, `applied migrations: ${Array.from({ length: LATEST_MIGRATION }, (_, i) => i + 1).join(', ')}\n`]);
    const again = await run('migrate', '--database-url', url, '--schema', schema);
    expect([again.code, again.out]).toEqual([0, 'schema is up to date\n']);
    const pg = (await import('pg')).default;
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  });
});

describe('change notifications (LISTEN/NOTIFY)', () => {
  it('a rotation by one instance reaches another instance\'s cache at once', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // the subscription needs a second connection; PGlite has one
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }) });
    const b = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }), watchKeyChanges: true, reservationSize: 1000 });
    await b.ready();
    const conv = freshConversationId();
    const version = async () => (await b.encrypt(conv, new Uint8Array(1)))[5];
    expect(await version()).toBe(1);
    await a.rotate(conv);
    let v = await version();
    for (let i = 0; i < 100 && v !== 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      v = await version();
    }
    expect(v).toBe(2); // well before the 1000 seals reserved under version 1 run out
    b.close();
    a.close();
  });

  it('subscribe delivers the conversation id, escaped ids included, and stops cleanly', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const store = new PostgresKeyStore(db.pool, { schema: db.schema });
    const seen: string[] = [];
    const stop = await store.subscribe((c) => seen.push(c));
    const conv = `${freshConversationId()}\\with\u0000nul`;
    await store.insertFirst(makeRecord(conv));
    await store.insertNext(makeRecord(conv, { version: 2 }), 1);
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([conv]);
    await stop();
    await store.insertNext(makeRecord(conv, { version: 3 }), 2);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual([conv]);
  });

  it('watchKeyChanges survives a terminated LISTEN session: it reconnects, and rotations reach the cache again (issue #11, defect 3)', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }) });
    const b = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }), watchKeyChanges: true, reservationSize: 1000 });
    await b.ready();
    expect(b.stats().watch.state).toBe('listening');
    const conv = freshConversationId();
    const version = async () => (await b.encrypt(conv, new Uint8Array(1)))[5];
    expect(await version()).toBe(1);
    // Kill this schema's LISTEN session (what a server restart does to it), not other tests'.
    const killed = await db.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN "keywarden_keys_${db.schema}"`]);
    expect(killed.rowCount).toBe(1);
    for (let i = 0; i < 200 && b.stats().watch.reconnects === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(b.stats().watch).toMatchObject({ state: 'listening', reconnects: 1 });
    // A rotation after the reconnection reaches b through the new session.
    await a.rotate(conv);
    let v = await version();
    for (let i = 0; i < 100 && v !== 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      v = await version();
    }
    expect(v).toBe(2);
    b.close();
    a.close();
  });
});

describe('NOTIFY channel names (reported defect: a schema name over 48 characters made every rotation fail)', () => {
  it('rotation and shred work in a schema with a 63-byte name', async () => {
    const schema = `kw_${randomBytes(4).toString('hex')}_${'x'.repeat(51)}`;
    expect(schema).toHaveLength(63);
    try {
      await migrate(db.pool, { schema });
      const store = new PostgresKeyStore(db.pool, { schema });
      const c = freshConversationId();
      await store.insertFirst(makeRecord(c));
      expect((await store.insertNext(makeRecord(c, { version: 2 }), 1)).inserted).toBe(true);
      expect((await store.shred(c, 'conversation', new Date())).shredded).toEqual([1, 2]);
    } finally {
      await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });

  it('every allowed schema name gives a distinct channel of at most 63 bytes, unchanged where it already fitted (property)', () => {
    // Any allowed name, half of them long (49..63 characters: the ones whose plain channel does not fit).
    const first = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_');
    const rest = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_');
    const schema = fc.oneof(
      fc.stringMatching(/^[a-z_][a-z0-9_]{0,62}$/),
      fc.tuple(first, fc.array(rest, { minLength: 48, maxLength: 62 })).map(([h, t]) => h + t.join('')),
    );
    const kind = fc.constantFrom<'keys' | 'branches'>('keys', 'branches');
    fc.assert(
      fc.property(schema, schema, kind, (a, b, k) => {
        const ca = channelName(k, a);
        expect(Buffer.byteLength(ca)).toBeLessThanOrEqual(63);
        if (`keywarden_${k}_${a}`.length <= 63) expect(ca).toBe(`keywarden_${k}_${a}`);
        if (a !== b) expect(channelName(k, b)).not.toBe(ca);
        expect(channelName(k === 'keys' ? 'branches' : 'keys', a)).not.toBe(ca);
      }),
      { numRuns: 2000 },
    );
    // The longest names, which differ only at the end, stay apart.
    const long = (c: string) => `${'s'.repeat(62)}${c}`;
    expect(new Set(['a', 'b', 'c', '0', '_'].map((c) => channelName('branches', long(c)))).size).toBe(5);
  });
});
