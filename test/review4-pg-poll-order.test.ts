/**
 * Review 2026-12-02 (second; suspected by the PostgreSQL review, reproduced here): a polling
 * subscriber read the change sequence in text order.
 *
 * Was: the poll selected `seq::text AS seq ... ORDER BY seq LIMIT 1000`; ORDER BY took the text
 * alias, so changes numbered 1..12 arrived as 1, 10, 11, 12, 2, 3, ... — a shred could be reported
 * before the rotation that preceded it — and a page of 1,000 was the first 1,000 numbers as text,
 * leaving the rest to the bounded gap list.
 *
 * Now: changes arrive in sequence order, whatever their number of digits.
 */
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('polling subscription: delivery order', () => {
  it('reports the changes of one commit across a digit boundary (9 -> 10 -> 100) in sequence order', async () => {
    const store = new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'poll', pollIntervalMs: 10 });
    const ids = Array.from({ length: 120 }, (_, i) => freshConversationId(`o${i}`));
    for (const c of ids) await store.insertFirst(makeRecord(c));
    // The schema is this file's own: its change sequence starts at 1, so 120 changes cross 9 -> 10 and 99 -> 100.
    const before = await db.pool.query(`SELECT coalesce(max(seq), 0)::int AS m FROM "${db.schema}".keywarden_key_changes`);
    expect(before.rows[0].m).toBeLessThan(9);
    const seen: string[] = [];
    const stop = await store.subscribe((c) => seen.push(c));
    try {
      // One transaction: every change row becomes visible to the same poll.
      await store.transaction(async (tx) => {
        for (const c of ids) await tx.insertNext(makeRecord(c, { version: 2 }), 1);
      });
      while (seen.length < ids.length) await sleep(10);
      expect(seen).toEqual(ids);
    } finally {
      await stop();
    }
  });
});
