/**
 * What was wrong: a polling subscriber (`changes: 'poll'`, or `auto` behind a transaction-mode
 * pooler) started from the highest *committed* sequence number. A rotation whose transaction had
 * taken a lower number but committed only after subscribe() returned was never reported: the
 * poller tracks skipped numbers ("gaps") only above its starting point, so a change made after
 * the subscription existed was lost for good (LISTEN delivers it: it is committed after LISTEN).
 *
 * Now: subscribe() also remembers the numbers missing below its starting point in the last page
 * of the sequence, and asks for them again like any other gap, so such a change is reported.
 */
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('polling subscription: a change in flight when subscribe() runs', () => {
  it('is reported once it commits, even though a later-numbered change committed before subscribe()', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // two transactions at once need two connections
    const store = new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'poll', pollIntervalMs: 10 });
    const slow = freshConversationId('slow');
    const fast = freshConversationId('fast');
    await store.insertFirst(makeRecord(slow));
    await store.insertFirst(makeRecord(fast));

    let numbered!: () => void;
    const slowNumbered = new Promise<void>((r) => (numbered = r));
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const slowTx = store.transaction(async (tx) => {
      await tx.insertNext(makeRecord(slow, { version: 2 }), 1); // takes sequence number n
      numbered();
      await hold;
    });
    await slowNumbered;
    await store.insertNext(makeRecord(fast, { version: 2 }), 1); // n + 1, committed

    const seen: string[] = [];
    const stop = await store.subscribe((c) => seen.push(c));
    try {
      release();
      await slowTx; // the rotation of `slow` commits now, after the subscription started
      await store.insertNext(makeRecord(fast, { version: 3 }), 2); // n + 2, committed after it
      // Wait (bounded by the test timeout, not asserted on time) until the later change is seen.
      while (!seen.includes(fast)) await sleep(10);
      // The poller reads in sequence order: `slow` (n) was committed before `fast` (n + 2) was.
      expect(seen).toContain(slow);
      expect(seen).toEqual([slow, fast]);
    } finally {
      await stop();
    }
  });
});
