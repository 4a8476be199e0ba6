/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: break-glass "one
 * redemption under concurrency and across instances" (and, in the threat model, "single use
 * across processes"; operational advice: "Use `PostgresTokenLedger` when more than one process
 * serves break-glass") — held, the table said, by test/breakglass-access.test.ts,
 * test/breakglass-token.test.ts, test/breakglass-outcome.test.ts and test/review-fixes.test.ts.
 *
 * Survived: in src/breakglass/postgres-ledger.ts the consume statement changed from
 * `INSERT … ON CONFLICT DO NOTHING RETURNING jti` to `INSERT … ON CONFLICT (jti) DO UPDATE SET
 * expires_at = EXCLUDED.expires_at RETURNING jti`: every consume "wins", so a token redeems once
 * per process, or any number of times. All four named files still passed: none of them uses
 * `PostgresTokenLedger` — "across instances" there means two `BreakGlass` objects sharing this
 * process's in-memory ledger, which is no protection across processes.
 *
 * Now asserted (against the PostgreSQL at DATABASE_URL, or PGlite): two services, each with its
 * own pool and its own `PostgresTokenLedger` on one schema (two processes), redeem one token:
 * the first releases the page, the second is refused `ERR_BG_REPLAYED`; and concurrent consumes
 * of one jti from both ledgers let exactly one through.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { PostgresTokenLedger } from '../src/breakglass/postgres-ledger.js';
import { migrate } from '../src/store/migrations.js';
import { deployment, token } from './support/breakglass-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
const extra: pg.Pool[] = [];
beforeAll(async () => {
  db = await testPool();
  await migrate(db.pool, { schema: db.schema });
});
afterAll(async () => {
  for (const p of extra) await p.end();
  await db?.close();
});

/** A second "process": its own pool on the same database (PGlite serves one connection: share it). */
function otherPool(): pg.Pool {
  if (db.kind !== 'postgres') return db.pool;
  const p = new pg.Pool({ connectionString: db.url, max: 4 });
  p.on('error', () => {});
  extra.push(p);
  return p;
}

const codeOf = (p: Promise<unknown>) => p.then(() => 'resolved', (e: { code?: string }) => e.code ?? String(e));

describe('PostgresTokenLedger: one redemption across processes', () => {
  it('two services, each with its own PostgresTokenLedger on one schema: the second redemption is ERR_BG_REPLAYED', async () => {
    const logKey = generateNoteKey('keywarden.example/review6-pg-ledger', new Uint8Array(32).fill(9));
    const d = await deployment({ auditStore: new PostgresAuditStore(db.pool, { schema: db.schema }) });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.slice(0, 2).map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const service = async (pool: pg.Pool) => {
      const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema: db.schema }), signerKey: logKey.signerKey, pollMs: 5 });
      const bg = new BreakGlass({
        policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, now: d.now,
        audit: { log, ids: d.ids, actor: 'tns-console' }, ledger: new PostgresTokenLedger(pool, { schema: db.schema }),
      });
      return { bg, log };
    };
    await d.log.close();
    const a = await service(db.pool);
    const r = await a.bg.decrypt(tok.text, 'c0', page);
    expect(r.opened).toBe(2);
    await a.log.close();
    const b = await service(otherPool());
    expect(await codeOf(b.bg.decrypt(tok.text, 'c0', page))).toBe('ERR_BG_REPLAYED');
    await b.log.close();
  });

  it('concurrent consumes of one jti through two ledgers: exactly one wins, once', async () => {
    const ledgers = [new PostgresTokenLedger(db.pool, { schema: db.schema }), new PostgresTokenLedger(otherPool(), { schema: db.schema })];
    const jti = `review6-${Date.now()}`;
    const exp = new Date(Date.now() + 3_600_000);
    let recorded = 0;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => ledgers[i % 2]!.consume(jti, exp, async () => {
      recorded++;
    })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(recorded).toBe(1);
    for (const l of ledgers) expect(await l.consume(jti, exp, async () => void recorded++)).toBe(false);
    expect(recorded).toBe(1);
  });
});
