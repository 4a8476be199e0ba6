/**
 * Outside review 6 (audit sequencer hand-off, PostgreSQL): a sequencer whose lease ran out, and
 * whose tree was cut back by an operator's repair meanwhile, could still sign and publish over
 * the repaired log.
 *
 * What was wrong:
 * 1. A round without records (a `checkpoint()` request, or the checkpoint interval with an
 *    unpublished tail) published its checkpoint through `appendCheckpoint`
 *    (src/audit/sequencer.ts, src/audit/postgres-store.ts), which checks neither the lease nor
 *    the tree: only "no larger checkpoint stored". The stale sequencer's view (size 3) was larger
 *    than the repaired log's newest checkpoint (size 2), so its checkpoint of its OLD tree went
 *    into the history after the repaired one: a fork signed by the log itself (verify reports it;
 *    a witness refuses the log from then on).
 * 2. The step's fence compared the newest head's SIZE only. A stale sequencer renews its lease
 *    (`acquireSequencer`, every roleCheckMs) as soon as it is free again — after the repairing
 *    instance closed — and keeps its old edge; once the repaired log had grown back to its old
 *    size, its next batch passed the fence and was written on top of a tree it does not
 *    describe: entries past the repaired ones, tiles overwritten from the old edge, a tree head
 *    and checkpoint signed over a root the stored entries do not have. The log no longer opened.
 *
 * Now: the sequencer's own checkpoint without a batch is stored only while its lease holds and
 * the newest head is exactly the tree it signs (size and root); and a step is refused unless
 * the newest head states the root the batch extends, not only its size. The stale sequencer's
 * attempts fail (retryable), it steps down, and the log verifies and opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/review6-stale-fork', new Uint8Array(32).fill(61));
const O = { signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000, lingerMs: 0, pollMs: 5 };

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db?.close();
});

/** Waits until the lease row has run out (database time): a condition, not a fixed delay. */
async function leaseExpired(schema: string): Promise<void> {
  for (;;) {
    const r = await db.pool.query(`SELECT expires_at < now() AS out FROM "${schema}".audit_sequencer WHERE id = 1`);
    if (r.rows[0].out === true) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function report(schema: string) {
  const store = new PostgresAuditStore(db.pool, { schema });
  const size = await store.size();
  const checkpoints = await store.checkpoints();
  const r = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.read(0, size), checkpoints, head: (await store.state()).head! });
  return { sizes: checkpoints.map((n) => Number(n.split('\n')[1])), problems: r.problems.map((p) => `${p.kind}: ${p.message}`) };
}

/** A (stale, view of size 3) and the log repaired from another instance to [e1, audit.repaired]. */
async function staleAfterRepair(schema: string) {
  await migrate(db.pool, { schema });
  const storeA = new PostgresAuditStore(db.pool, { schema, leaseMs: 100 });
  const a = await AuditLog.open({ store: storeA, ...O, roleCheckMs: 600_000 });
  await a.append(sampleEvent(1)); // checkpoint at 1
  await a.record([sampleEvent(2), sampleEvent(3)]); // integrated, tail not checkpointed (size 3)
  expect(a.size).toBe(3);
  await leaseExpired(schema); // A's lease ran out; A does not know yet
  await db.pool.query(`UPDATE "${schema}".audit_tree SET note = 'damaged' WHERE start = (SELECT max(start) FROM "${schema}".audit_tree)`);
  const b = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
  expect(b.size).toBe(2); // e1 + audit.repaired, checkpointed
  return { a, storeA, b };
}

describe('PostgreSQL: a stale sequencer cannot sign over a repaired log', () => {
  it("its checkpoint without a batch is not published over the repaired log's history (no fork)", async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_r6fork1`;
    const { a, b } = await staleAfterRepair(schema);
    try {
      const late = await a.checkpoint().then(() => 'published', (e: { code?: string }) => e.code);
      const r = await report(schema);
      expect(r.problems, `A's checkpoint(): ${late}`).toEqual([]);
      expect(late).toBe('ERR_AUDIT_UNAVAILABLE');
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('after renewing a lease that ran out, its batch is refused once the repaired log is back at its old size', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_r6fork2`;
    const { a, storeA, b } = await staleAfterRepair(schema);
    await b.append(sampleEvent(5)); // the repaired log is at size 3 again, another tree
    await b.close(); // gives the role up
    try {
      // A's role check (roleTick) renews its lease: free again, so the UPDATE succeeds.
      expect(await storeA.acquireSequencer()).toBe(true);
      const late = await a.record(sampleEvent(4)).then(() => 'acknowledged', (e: { code?: string }) => e.code);
      const r = await report(schema);
      expect(r.problems, `A's late record: ${late}`).toEqual([]);
      expect(late).toBe('ERR_AUDIT_UNAVAILABLE');
    } finally {
      await a.close();
    }
    // The log still opens without a repair.
    const c = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O });
    expect(c.size).toBe(3);
    await c.close();
  });
});
