/**
 * Review 7 (stores): on PostgreSQL with an audit log, a retention page and a re-wrap page over the
 * same conversations deadlocked (SQLSTATE 40P01), and one of the two runs failed.
 *
 * Where: src/keys/lifecycle.ts `shredBatch` (retention's page: one transaction for many
 * conversations, when an audit log makes it one). It shreds the page's conversations in the
 * order retention's scan found them — by supersession time — and PostgresKeyStore.#shred locks
 * each conversation's highest row as it goes. Every other multi-conversation change locks those
 * rows in conversation id order (src/store/postgres.ts #updateWrappings: "one lock order, no
 * deadlock", outside review, 2026-12-01). So retention (b superseded before a: locks b, then a)
 * and a re-wrap page (locks a, then b) made a cycle: PostgreSQL aborted one of them after
 * `deadlock_timeout` and `keys retain` or `keys rewrap` stopped with exit 3. Both are documented
 * to run while the service runs (docs/KEYS.md §6, §7).
 *
 * Now: shredBatch shreds a page's conversations in conversation id order (UTF-8 byte order, the
 * key table's `COLLATE "C"` order), the lock order of the re-wrap page: both complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { Keywarden, LocalMasterKey, MasterKeyRing } from '../src/node.js';
import { migrate } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import type { KeyStore } from '../src/store/types.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/r7', new Uint8Array(32).fill(41));
const ids = new AuditIdHasher(new Uint8Array(32).fill(42));
const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
let db: TestPool;
let schema: string;

beforeAll(async () => {
  db = await testPool();
  schema = `${db.schema}_dl`;
  await migrate(db.pool, { schema });
});
afterAll(async () => {
  await db?.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await db?.close();
});

describe('retention and re-wrap at once on PostgreSQL', () => {
  it('do not deadlock: both complete', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // two connections at once
    let t = T0;
    const now = () => new Date(t);
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const store = new PostgresKeyStore(db.pool, { schema });
    const log = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, sequencer: false });
    const audit = { log, ids, actor: 'svc' };
    const seed = new Keywarden({ masterKey: oldKey, keyStore: store, now, audit });
    await seed.encryptString('b', 'old b'); // b's version 1 is superseded first, then a's
    t += 60_000;
    await seed.rotate('b');
    t += 60_000;
    await seed.encryptString('a', 'old a');
    t += 60_000;
    await seed.rotate('a');
    await seed.close();
    t = T0 + 30 * DAY;

    // Retention pauses after its page's first shred (its transaction holds that row's lock).
    let paused!: () => void;
    const atPause = new Promise<void>((r) => (paused = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const pausing = new Proxy(store, {
      get(target, p) {
        if (p === 'transaction') {
          return <T>(fn: (tx: KeyStore) => Promise<T>) => target.transaction((tx) => {
            let shreds = 0;
            const view = new Proxy(tx, {
              get(x, q) {
                const v = Reflect.get(x, q, x) as unknown;
                if (q !== 'shred' || typeof v !== 'function') return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(x) : v;
                return async (...a: unknown[]) => {
                  const out = await (v as (...b: unknown[]) => Promise<unknown>).apply(x, a);
                  if (++shreds === 1) {
                    paused();
                    await gate;
                  }
                  return out;
                };
              },
            });
            return fn(view);
          });
        }
        const v = Reflect.get(target, p, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const retainer = new Keywarden({ masterKey: oldKey, keyStore: pausing, now, audit });
    const rewrapper = new Keywarden({ masterKey: new MasterKeyRing(newKey, [oldKey]), keyStore: new PostgresKeyStore(db.pool, { schema }), now, audit });

    const retained = retainer.retain({ olderThanMs: DAY }).then((r) => r, (e: unknown) => e);
    await atPause;
    const rewrapped = rewrapper.rewrap().then((r) => r, (e: unknown) => e);
    // Wait until the re-wrap's page waits for a row lock the paused retention holds.
    for (let i = 0; i < 200; i++) {
      const w = await db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      if ((w.rows[0] as { n: number }).n > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    release();
    const [r1, r2] = await Promise.all([retained, rewrapped]);
    expect(r1).toMatchObject({ versions: 2, complete: true });
    expect(r2).toMatchObject({ complete: true });
    const rows = await store.listVersions('a');
    expect(rows.map((r) => [r.version, r.state])).toEqual([[1, 'shredded'], [2, 'active']]);
    expect(rows[1]!.masterKeyId).toBe(newKey.keyId);
    await retainer.close();
    await rewrapper.close();
    await log.close();
  });
});
