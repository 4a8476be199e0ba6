/**
 * Test support for PostgreSQL concurrency tests: holds the COMMITs of a pool's clients, so that a
 * step can be caught between its statements and its commit (test/audit-postgres-fence.test.ts,
 * test/review6-audit-pg-empty-tree-checkpoint-rollback.test.ts).
 */
import type pg from 'pg';

/** Holds the COMMITs of `pool`'s clients while `hold` is set; `arrived` resolves at the first one held. */
export function gateCommits(pool: pg.Pool) {
  let released = (): void => undefined;
  let arrive = (): void => undefined;
  const gate = {
    hold: false,
    waiting: new Promise<void>((r) => (released = r)),
    arrived: new Promise<void>((r) => (arrive = r)),
    release: () => {
      gate.hold = false;
      released();
    },
  };
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  (pool as unknown as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
    const client = await connect();
    const c = client as pg.PoolClient & { gated?: boolean };
    if (c.gated !== true) {
      c.gated = true;
      const query = client.query.bind(client) as (cfg: unknown, ...rest: unknown[]) => Promise<unknown>;
      (client as unknown as { query: typeof query }).query = async (cfg, ...rest) => {
        const text = typeof cfg === 'string' ? cfg : (cfg as { text?: string } | undefined)?.text;
        if (text === 'COMMIT' && gate.hold) {
          arrive();
          await gate.waiting;
        }
        return query(cfg, ...rest);
      };
    }
    return client;
  };
  return gate;
}
