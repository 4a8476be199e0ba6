/**
 * The PostgreSQL audit store under concurrency (outside review, 2026-12-01), with several
 * instances on their own pools:
 * 1. a sequencer whose lease had run out passed the `FOR UPDATE` fence: blocked behind the new
 *    sequencer's step, its lock returned the old head row (read committed re-checks the row it
 *    waited for, not the new one), and its round without entries wrote a smaller checkpoint after
 *    a larger one — a rollback `audit verify` reports, produced by the log itself;
 * 2. `acceptCosignatures` racing a checkpointed batch did the same with one legitimate sequencer:
 *    its "never after a larger one" check could not see the batch's uncommitted checkpoint;
 * 3. `flush()` resolved while a record committed before it was still in the outbox: the claim
 *    started after the last id integrated, and a record whose id was drawn earlier but committed
 *    later waited for the next full look.
 * They need several connections at once: a real server (DATABASE_URL; CI runs one).
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

const { signerKey, verifierKey } = generateNoteKey('keywarden.example/fence', new Uint8Array(32).fill(4));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

async function history(schema: string) {
  const store = new PostgresAuditStore(db.pool, { schema });
  const checkpoints = await store.checkpoints();
  const size = await store.size();
  const report = verifyAuditLog({ verifierKey, entries: await store.read(0, size), checkpoints, head: (await store.state()).head! });
  return { sizes: checkpoints.map((n) => Number(n.split('\n')[1])), problems: report.problems.map((p) => `${p.kind}: ${p.message}`) };
}

describe('PostgreSQL audit store: one sequencer, checkpoints that only grow, flush that covers what came before', () => {
  it('a sequencer whose lease ran out cannot write a smaller checkpoint after the new sequencer\'s larger one', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // several connections at once
    const schema = `${db.schema}_fence`;
    await migrate(db.pool, { schema });
    const poolA = newPool();
    const B = await AuditLog.open({ store: new PostgresAuditStore(newPool(), { schema, leaseMs: 100 }), signerKey, pollMs: 5, lingerMs: 0, roleCheckMs: 600_000 });
    expect(B.isSequencer).toBe(true);
    await B.append(sampleEvent(1));
    await sleep(300); // B's lease has run out; B does not know yet
    const gate = gateCommits(poolA);
    const A = await AuditLog.open({ store: new PostgresAuditStore(poolA, { schema, leaseMs: 5000 }), signerKey, pollMs: 5, lingerMs: 0, roleCheckMs: 600_000 });
    expect(A.isSequencer).toBe(true);
    const C = await AuditLog.open({ store: new PostgresAuditStore(newPool(), { schema }), signerKey, pollMs: 5, sequencer: false });
    try {
      gate.hold = true;
      const appended = A.append(sampleEvent(2)); // A's step locks the head row; its COMMIT is held
      await gate.arrived;
      const flushed = C.flush(); // a record without entries, which B (stale) may claim
      for (let i = 0; i < 100; i++) {
        const r = await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%${schema}%'`);
        if (r.rows[0].n > 0) break;
        await sleep(10);
      }
      gate.release();
      const a = await appended;
      const f = await flushed;
      expect(f.size).toBeGreaterThanOrEqual(a.size);
      const h = await history(schema);
      expect(h.problems).toEqual([]);
      expect(h.sizes).toEqual([...h.sizes].sort((x, y) => x - y));
    } finally {
      gate.release();
      await C.close();
      await A.close();
      await B.close();
    }
  });

  it('acceptCosignatures racing a checkpointed batch never stores an older checkpoint after a newer one', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_cosign`;
    await migrate(db.pool, { schema });
    const witness = generateCosignerKey('witness.example/w1', new Uint8Array(32).fill(6));
    const poolA = newPool();
    const gate = gateCommits(poolA);
    const A = await AuditLog.open({ store: new PostgresAuditStore(poolA, { schema }), signerKey, pollMs: 5, lingerMs: 0 });
    const W = await AuditLog.open({ store: new PostgresAuditStore(newPool(), { schema }), signerKey, pollMs: 5, sequencer: false });
    try {
      const first = await A.append(sampleEvent(1));
      const cosigned = cosignCheckpoint(first.checkpoint, newCosigner(witness.signerKey));
      gate.hold = true;
      const second = A.append(sampleEvent(2)); // its step, with checkpoint size 2, waits at COMMIT
      await gate.arrived;
      const accepted = W.acceptCosignatures(cosigned, [witness.verifierKey]);
      await sleep(200);
      gate.release();
      await second;
      await accepted;
      const h = await history(schema);
      expect(h.problems).toEqual([]);
      expect(h.sizes).toEqual([...h.sizes].sort((x, y) => x - y));
    } finally {
      gate.release();
      await W.close();
      await A.close();
    }
  });

  it('flush() resolves only once a record committed before it, whose id was drawn earlier, is integrated', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_flush`;
    await migrate(db.pool, { schema });
    const poolC = newPool();
    const A = await AuditLog.open({ store: new PostgresAuditStore(newPool(), { schema }), signerKey, pollMs: 5, lingerMs: 0 });
    const C = await AuditLog.open({ store: new PostgresAuditStore(poolC, { schema }), signerKey, pollMs: 5, sequencer: false });
    try {
      for (let t = 0; t < 3; t++) {
        const client = await poolC.connect();
        await client.query('BEGIN');
        await C.record(sampleEvent(t * 2), { tx: client }); // outbox id r, not committed yet
        const r = Number((await client.query(`SELECT max(id) AS id FROM "${schema}".audit_outbox`)).rows[0].id);
        await C.record(sampleEvent(t * 2 + 1)); // a later id, committed on its own
        for (let i = 0; i < 200; i++) {
          if ((await poolC.query(`SELECT count(*)::int AS n FROM "${schema}".audit_outbox WHERE id > $1`, [r])).rows[0].n === 0) break;
          await sleep(5);
        }
        await client.query('COMMIT'); // r is acknowledged now
        client.release();
        await C.flush();
        expect((await poolC.query(`SELECT count(*)::int AS n FROM "${schema}".audit_outbox WHERE id = $1`, [r])).rows[0].n, `trial ${t}`).toBe(0);
      }
    } finally {
      await C.close();
      await A.close();
    }
  });
});
