/**
 * A sequencer round that integrates records but no entries — another instance's `flush()` or
 * `checkpoint()` request (an empty record), or records it only quarantines — signs a new head
 * for the same tree. The file and memory stores keep that head; the PostgreSQL store writes an
 * `audit_tree` row only when the tree grows (its check constraint says so), so its stored head
 * stays the previous one, a signed head for the same size and root. At its next transient
 * failure the sequencer compared the stored head's text with its own, concluded "the log head
 * moved: another instance is the sequencer", and gave the role up: records in flight failed and
 * nobody integrated until the role was taken again. A head for the same tree is not a move.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditUnavailableError } from '../src/errors.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { migrate } from '../src/store/migrations.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/entryless-pg', new Uint8Array(32).fill(77));

let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  for (const s of ['_el1', '_el2']) await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}${s}" CASCADE`);
  await db?.close();
});

/** A schema of its own, A (the sequencer) and B (a producer) on it. */
async function twoInstances(suffix: string) {
  const schema = `${db.schema}_${suffix}`;
  await migrate(db.pool, { schema });
  const O = { signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000, lingerMs: 0, roleCheckMs: 600_000 };
  const storeA = new PostgresAuditStore(db.pool, { schema });
  const a = await AuditLog.open({ store: storeA, ...O });
  const b = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O });
  return { schema, O, storeA, a, b };
}

/** One transient failure of the store's next integrate step. */
function failNextIntegrate(store: PostgresAuditStore): void {
  const integrate = store.integrate.bind(store);
  store.integrate = async () => {
    store.integrate = integrate;
    throw new AuditUnavailableError('injected: connection reset');
  };
}

const storedHead = async (schema: string) =>
  (await db.pool.query<{ note: string; size: string }>(`SELECT note, size FROM "${schema}".audit_tree ORDER BY start DESC LIMIT 1`)).rows[0];

describe('PostgreSQL: a round with records but no entries', () => {
  it('after such a round the sequencer keeps its role through a transient failure', async () => {
    const { schema, O, storeA, a, b } = await twoInstances('el1');
    expect(a.stats().sequencer).toBe(true);
    expect(b.stats().sequencer).toBe(false);
    await a.record([sampleEvent(1), sampleEvent(2)]); // integrated under a tree head, no checkpoint
    const before = await storedHead(schema);
    // B asks for everything before to be under a checkpoint: an empty record, integrated by A in
    // a round without entries (a new checkpoint for the same tree, which is also A's head now).
    const batches = a.stats().batches;
    await b.flush();
    expect(a.stats().batches).toBe(batches + 1);
    expect(await storedHead(schema)).toEqual(before); // PostgreSQL kept the previous head

    // One transient failure of A's next step.
    failNextIntegrate(storeA);
    const failed = await a.record(sampleEvent(3)).then(() => 'acknowledged', (e: { code?: string }) => e.code);
    expect(failed).toBe('ERR_AUDIT_UNAVAILABLE');
    // A is still the sequencer and integrates the next record itself.
    await a.record(sampleEvent(4));
    expect(a.stats().sequencer, `lastError: ${a.stats().lastError}`).toBe(true);
    expect(a.stats().lastError ?? '').not.toMatch(/head moved/);
    expect(a.size).toBe(3);
    await b.close();
    await a.close();
    // The log opens, with every acknowledged entry.
    const c = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O });
    expect(c.size).toBe(3);
    await c.close();
  });

  it('rounds without entries on an empty log and between batches: one head per size, the log opens', async () => {
    const { schema, O, storeA, a, b } = await twoInstances('el2');
    await b.flush(); // on an empty log: PostgreSQL stores no head for size 0
    failNextIntegrate(storeA);
    await expect(a.record(sampleEvent(0))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(a.stats().sequencer, `lastError: ${a.stats().lastError}`).toBe(true);
    await a.record(sampleEvent(1));
    await b.flush();
    await b.flush();
    await a.record([sampleEvent(2), sampleEvent(3)]);
    await b.flush();
    const rows = (await db.pool.query<{ start: string; size: string }>(`SELECT start, size FROM "${schema}".audit_tree ORDER BY start`)).rows.map((r) => [Number(r.start), Number(r.size)]);
    // Every row extends the one before it; a size is never headed twice.
    for (let i = 1; i < rows.length; i++) expect(rows[i]![0]).toBe(rows[i - 1]![1]);
    expect(rows.at(-1)![1]).toBe(3);
    await b.close();
    await a.close();
    const c = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), ...O });
    expect(c.size).toBe(3);
    await c.close();
  });
});
