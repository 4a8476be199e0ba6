/**
 * Mutation review 4 (PostgreSQL sequencer's own checkpoint, SECURITY.md "a sequencer that lost
 * its lease signs and integrates nothing over the log another instance or a repair changed
 * (fenced by size and root)"; test/review6-audit-pg-stale-sequencer-fork.test.ts).
 *
 * Surviving mutations of `appendCheckpoint(note, { asSequencer: true })` in
 * src/audit/postgres-store.ts, each alone:
 * 1. the fence comparing the newest head's SIZE only (root dropped);
 * 2. the lease check dropped (`mine === undefined` in place of `mine !== true`).
 * The named test's stale checkpoint is of size 3 over a repaired log of size 2, which the size
 * comparison alone refuses.
 *
 * Now asserted: (1) a stale sequencer that renewed its lease after the repaired log grew back to
 * its old size publishes no checkpoint of its old tree (same size, another root): refused
 * ERR_AUDIT_UNAVAILABLE, no fork; (2) a sequencer whose lease ran out publishes nothing through
 * `checkpoint()`, even over an unchanged tree: refused ERR_AUDIT_UNAVAILABLE, history unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/review6-mut4-pg-fence', new Uint8Array(32).fill(62));
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

describe('PostgreSQL: the sequencer\'s own checkpoint is fenced by the root and by the lease', () => {
  it('a stale sequencer that renewed its lease signs no checkpoint of its old tree over a repaired log of the same size', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_r6m4root`;
    await migrate(db.pool, { schema });
    const storeA = new PostgresAuditStore(db.pool, { schema, leaseMs: 100 });
    const a = await AuditLog.open({ store: storeA, ...O, roleCheckMs: 600_000 });
    await a.append(sampleEvent(1));
    await a.record([sampleEvent(2), sampleEvent(3)]); // size 3, not checkpointed
    await leaseExpired(schema);
    await db.pool.query(`UPDATE "${schema}".audit_tree SET note = 'damaged' WHERE start = (SELECT max(start) FROM "${schema}".audit_tree)`);
    const b = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(b.size).toBe(2);
    await b.append(sampleEvent(5)); // size 3 again, another tree
    await b.close();
    try {
      expect(await storeA.acquireSequencer()).toBe(true);
      const late = await a.checkpoint().then(() => 'published', (e: { code?: string }) => e.code);
      const r = await report(schema);
      expect(r.problems, `A's checkpoint(): ${late}`).toEqual([]);
      expect(late).toBe('ERR_AUDIT_UNAVAILABLE');
    } finally {
      await a.close();
    }
  });

  it('a sequencer whose lease ran out publishes no checkpoint, even of the unchanged tree', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_r6m4lease`;
    await migrate(db.pool, { schema });
    const a = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema, leaseMs: 100 }), ...O, roleCheckMs: 600_000 });
    await a.append(sampleEvent(1));
    await a.record([sampleEvent(2)]); // size 2, checkpoint at 1
    const before = (await report(schema)).sizes;
    await leaseExpired(schema);
    await db.pool.query(`UPDATE "${schema}".audit_sequencer SET holder = 'another-instance', expires_at = now() + interval '1 hour' WHERE id = 1`);
    try {
      const late = await a.checkpoint().then(() => 'published', (e: { code?: string }) => e.code);
      expect(late).toBe('ERR_AUDIT_UNAVAILABLE');
      expect((await report(schema)).sizes).toEqual(before);
    } finally {
      await a.close();
    }
  });
});
