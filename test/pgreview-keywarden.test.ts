/**
 * Outside review, 2026-12-01 (PostgreSQL key store): reproduced defects, each a case.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MasterKeyRing } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migrate } from '../src/store/migrations.js';
import { migratedTestPool } from './support/pg-suite.js';

const db = migratedTestPool();

describe('attack: hostile keywarden_jobs row', () => {
  it('a job state that is JSON null is refused as a store error (ERR_STORE_FAILED), not a TypeError', async () => {
    const store = new PostgresKeyStore(db.pool, { schema: db.schema });
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'old' });
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'new' });
    const kw1 = new Keywarden({ masterKey: oldKey, keyStore: store });
    await kw1.encryptString('c-job', 'hi');
    const kw2 = new Keywarden({ masterKey: new MasterKeyRing(newKey, [oldKey]), keyStore: store });
    await db.pool.query(`INSERT INTO "${db.schema}".keywarden_jobs (name, state) VALUES ('rewrap:new', 'null')`);
    const err = await kw2.rewrap().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_STORE_FAILED' });
  });
});

describe('attack: retention dry run over superseded times with microseconds', () => {
  it('terminates and counts each version once', async () => {
    const t0 = Date.parse('2020-01-01T00:00:00Z');
    let now = t0;
    const store = new PostgresKeyStore(db.pool, { schema: db.schema });
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store, now: () => new Date(now) });
    for (const c of ['r1', 'r2', 'r3']) { await kw.encryptString(c, 'x'); await kw.rotate(c); }
    // Superseded times as another writer (psql, a data fix, now()) would store them.
    await db.pool.query(`UPDATE "${db.schema}".conversation_keys SET superseded_at = superseded_at + interval '250 microseconds' WHERE state = 'superseded'`);
    now = t0 + 400 * 86_400_000;
    const stop = AbortSignal.timeout(5000);
    const report = await kw.retain({ olderThanMs: 86_400_000, dryRun: true, batchSize: 2, signal: stop });
    expect(report.complete).toBe(true);
    expect(report.versions).toBe(3);
  });
});

describe('control (passes): the same dry run without sub-millisecond times', () => {
  it('terminates and counts each version once', async () => {
    const t0 = Date.parse('2020-01-01T00:00:00Z');
    let now = t0;
    const schema = `${db.schema}_ctl`;
    await migrate(db.pool, { schema });
    const store = new PostgresKeyStore(db.pool, { schema });
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store, now: () => new Date(now) });
    for (const c of ['r1', 'r2', 'r3']) { await kw.encryptString(c, 'x'); await kw.rotate(c); }
    now = t0 + 400 * 86_400_000;
    const report = await kw.retain({ olderThanMs: 86_400_000, dryRun: true, batchSize: 2, signal: AbortSignal.timeout(5000) });
    expect(report.complete).toBe(true);
    expect(report.versions).toBe(3);
  });
});
