/**
 * on PostgreSQL, the only fence between two sequencers is audit_tree's primary key
 * (start). A repair DELETEs the tree rows past the size it cuts back to, so a sequencer that
 * still believes it holds the role (its lease ran out while it stalled; it checks the lease only
 * every roleCheckMs) can afterwards insert a batch at its old size: there is no longer a row with
 * that start to conflict with. Its batch lands on top of the repaired log — with a gap below it —
 * and overwrites the tiles the repaired checkpoint needs: the log can no longer be opened, not
 * even with the repair option.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/attack2-pg-race', new Uint8Array(32).fill(76));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_race" CASCADE`);
  await db?.close();
});

describe('PostgreSQL repair vs. a sequencer whose lease ran out', () => {
  it('the stale sequencer must not be able to write over the repaired log', async () => {
    const schema = `${db.schema}_race`;
    await migrate(db.pool, { schema });
    const O = { signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000, lingerMs: 0 };
    // A: the sequencer. Its lease is short and it looks at the role rarely (a stalled process).
    const a = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema, leaseMs: 200 }), ...O, roleCheckMs: 600_000 });
    await a.append(sampleEvent(1)); // checkpoint at 1
    await a.record([sampleEvent(2), sampleEvent(3)]); // integrated, pending tail (size 3)
    expect(a.size).toBe(3);
    await sleep(400); // A's lease has run out; A does not know yet
    // The attacker damages the newest tree head; the operator repairs from B.
    await db.pool.query(`UPDATE "${schema}".audit_tree SET note = 'damaged' WHERE start = (SELECT max(start) FROM "${schema}".audit_tree)`);
    const b = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(b.size).toBe(2); // 1 kept + audit.repaired (checkpointed)
    await b.close();
    // A's next batch (in flight when it stalled, or the next local record).
    const late = await a.record(sampleEvent(4)).then(() => 'acknowledged', (e: { code?: string }) => e.code);
    await a.close();
    // The log must still be usable: a fresh instance opens it (at worst through the repair).
    let opened: AuditLog | undefined;
    let error: unknown;
    try {
      opened = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O, repair: { unsignedTail: 'drop', actor: 'ops' } });
    } catch (err) {
      error = err;
    }
    await opened?.close();
    expect(error, `A's late record: ${late}`).toBeUndefined();
  });
});
