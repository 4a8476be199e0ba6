/**
 * Mutation review 3 (PostgreSQL integration fence, SECURITY.md "on PostgreSQL an integration step
 * is refused unless the newest tree head is still the one it extends").
 *
 * Guarantee: PostgresAuditStore.integrate writes a batch only when the newest tree head is at the
 * batch's `start` (src/audit/postgres-store.ts, "The fence").
 *
 * Surviving mutation: dropping the size comparison (`if (at !== batch.start) throw …`) left
 * test/audit-postgres-repair-race.test.ts passing — and with the root comparison dropped too, it
 * still passed: in its scenario the sequencer's lease has run out, so the lease check refuses the
 * step before the fence is reached; the test never reaches the fence. The root check (covered by
 * test/review6-audit-pg-stale-sequencer-fork.test.ts) is skipped when there is no newest head
 * (`at > 0`), so the size comparison alone stands between a sequencer and a tree whose heads a
 * store writer removed.
 *
 * Now asserted: a sequencer holding a valid lease, whose tree heads were deleted under it, does
 * not write its next batch (no tree row at its old size, no entry past it), whatever its caller
 * is told; the log's entries stay the three it had.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/review6-mut3-fence', new Uint8Array(32).fill(83));

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_mut3fence" CASCADE`).catch(() => undefined);
  await db?.close();
});

describe('PostgreSQL: the fence refuses a step whose head is gone, even under a valid lease', () => {
  it('a sequencer whose tree heads were deleted does not extend the missing tree', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip();
    const schema = `${db.schema}_mut3fence`;
    await migrate(db.pool, { schema });
    // A long lease (the lease check passes throughout) and no role checks: only the fence can refuse.
    const a = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema, leaseMs: 120_000 }), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000, lingerMs: 0, roleCheckMs: 600_000 });
    try {
      await a.record([sampleEvent(1), sampleEvent(2), sampleEvent(3)]); // integrated: the head is at 3
      expect(a.size).toBe(3);
      const lease = await db.pool.query(`SELECT expires_at > now() AS held FROM "${schema}".audit_sequencer WHERE id = 1`);
      expect(lease.rows[0].held).toBe(true);
      // Someone who can write the store removes every tree head.
      await db.pool.query(`DELETE FROM "${schema}".audit_tree`);
      const late = await a.record(sampleEvent(4)).then(() => 'acknowledged', (e: { code?: string }) => e.code ?? String(e));
      const tree = await db.pool.query(`SELECT start::int, size::int FROM "${schema}".audit_tree ORDER BY start`);
      const past = await db.pool.query(`SELECT count(*)::int AS n FROM "${schema}".audit_entries WHERE idx >= 3`);
      expect(tree.rows, `A's record after the heads were deleted: ${late}`).toEqual([]);
      expect(past.rows[0].n).toBe(0);
      expect(late).not.toBe('acknowledged');
    } finally {
      await a.close().catch(() => undefined);
    }
  });
});
