/**
 * Outside review, 2026-12-01: deadlocks between single store calls on one conversation from two
 * instances (SQLSTATE 40P01): a whole shred locked the highest row first, a version shred and a
 * re-wrap page locked rows in ascending order. Every multi-row change now locks the highest row
 * first. Several connections at once: real PostgreSQL only (skipped under PGlite).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migrate } from '../src/store/migrations.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
const pools: pg.Pool[] = [];
beforeAll(async () => {
  db = await testPool();
  await migrate(db.pool, { schema: db.schema });
  if (db.kind !== 'postgres') return;
  for (let i = 0; i < 2; i++) {
    const p = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
    p.on('error', () => {});
    pools.push(p);
  }
});
afterAll(async () => {
  for (const p of pools) await p.end();
  await db?.close();
});

async function conv(s: PostgresKeyStore, n: number): Promise<string> {
  const c = freshConversationId('dl');
  await s.insertFirst(makeRecord(c));
  for (let v = 2; v <= n; v++) await s.insertNext(makeRecord(c, { version: v, sealedReserved: 0 }), v - 1);
  return c;
}

describe('attack: deadlocks between single store calls on one conversation (two instances)', () => {
  it('shred(conversation) vs shred([1..n]) of the same conversation never deadlocks', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // several connections at once
    const [a, b] = pools.map((p) => new PostgresKeyStore(p, { schema: db.schema }));
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await conv(a!, 4);
      const rs = await Promise.allSettled([a!.shred(c, 'conversation', new Date()), b!.shred(c, [1, 2, 3, 4], new Date())]);
      for (const r of rs) if (r.status === 'rejected') codes.push(String(r.reason));
    }
    expect(codes).toEqual([]);
  });

  it('updateWrappings (a re-wrap page) vs shred(conversation) never deadlocks', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const [a, b] = pools.map((p) => new PostgresKeyStore(p, { schema: db.schema }));
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const c = await conv(a!, 4);
      const recs = await a!.listVersions(c);
      const rs = await Promise.allSettled([
        b!.updateWrappings(recs.map((r) => ({ conversationId: c, version: r.version, expected: { masterKeyId: r.masterKeyId, wrappedKey: r.wrappedKey }, next: { masterKeyId: 'rw', wrappedKey: Uint8Array.of(1, 2, 3) } }))),
        a!.shred(c, 'conversation', new Date()),
      ]);
      for (const r of rs) if (r.status === 'rejected') codes.push(String(r.reason));
    }
    expect(codes).toEqual([]);
  });
});
