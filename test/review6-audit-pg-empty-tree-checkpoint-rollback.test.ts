/**
 * Outside review 6 (audit checkpoints, PostgreSQL): `appendCheckpoint` ordered itself after a
 * step in flight by locking the newest tree head row (src/audit/postgres-store.ts). On a log
 * whose tree is still empty there is no such row: the lock took nothing, the "never after a
 * larger one" check could not see the step's uncommitted checkpoint, and the two committed in
 * the wrong order. A witness's cosigned checkpoint of the empty tree, accepted on another
 * instance (`acceptCosignatures`) while the first batch's step (checkpoint of size 1) was
 * committing, went into the history after it: sizes 0, 1, 0 — a rollback that `audit verify`
 * reports and that every reader of the latest checkpoint sees (the same race let a stale
 * sequencer's `checkpoint()` on the empty tree land after the new sequencer's first batch).
 *
 * Now: `appendCheckpoint` first locks the lease row, which always exists and which every step
 * locks first; it waits for the step in flight and then sees its checkpoint.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner } from '../src/audit/checkpoint.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { gateCommits } from './support/pg-commit-gate.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/review6-empty-tree', new Uint8Array(32).fill(62));
const witness = generateCosignerKey('witness.review6.example', new Uint8Array(32).fill(63));

let db: TestPool;
const pools: pg.Pool[] = [];
const newPool = (): pg.Pool => {
  const p = new pg.Pool({ connectionString: db.url, max: 5 });
  p.on('error', () => undefined);
  pools.push(p);
  return p;
};
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  for (const p of pools) await p.end();
  await db?.close();
});

/** Whether a session on `schema`'s tables waits for a lock (the accept, behind the step). */
async function someoneWaits(schema: string): Promise<boolean> {
  const r = await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%${schema}%'`);
  return r.rows[0].n > 0;
}

describe('PostgreSQL: a checkpoint of the empty tree never lands after the first batch', () => {
  it('acceptCosignatures of size 0 racing the first checkpointed batch keeps the history growing', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // several connections at once
    const schema = `${db.schema}_r6empty`;
    await migrate(db.pool, { schema });
    const poolA = newPool();
    const gate = gateCommits(poolA);
    const A = await AuditLog.open({ store: new PostgresAuditStore(poolA, { schema }), signerKey: keys.signerKey, pollMs: 5, lingerMs: 0 });
    const W = await AuditLog.open({ store: new PostgresAuditStore(newPool(), { schema }), signerKey: keys.signerKey, pollMs: 5, sequencer: false });
    try {
      const empty = await A.checkpoint(); // size 0, published
      const cosigned = cosignCheckpoint(empty, newCosigner(witness.signerKey, () => 1_790_000_000));
      gate.hold = true;
      const first = A.append(sampleEvent(1)); // its step (checkpoint of size 1) waits at COMMIT
      await gate.arrived;
      const accepted = W.acceptCosignatures(cosigned, [witness.verifierKey]).then(() => 'stored', (e: { code?: string }) => e.code);
      // Either the accept waits for the step's lock (fixed) or it has already committed (the bug):
      // release the step once one of the two is observed — no fixed delay.
      let settled = false;
      void accepted.then(() => (settled = true));
      while (!settled && !(await someoneWaits(schema))) await new Promise((r) => setTimeout(r, 5));
      gate.release();
      await first;
      await accepted;
      const store = new PostgresAuditStore(db.pool, { schema });
      const checkpoints = await store.checkpoints();
      const sizes = checkpoints.map((n) => Number(n.split('\n')[1]));
      const size = await store.size();
      const report = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.read(0, size), checkpoints, head: (await store.state()).head! });
      expect(report.problems.map((p) => `${p.kind}: ${p.message}`)).toEqual([]);
      expect(sizes).toEqual([...sizes].sort((x, y) => x - y));
      expect(Number((await store.state()).checkpoint!.split('\n')[1])).toBe(1);
    } finally {
      gate.release();
      await W.close();
      await A.close();
    }
  });
});
