/**
 * When an event is acknowledged (docs/AUDIT.md §4, "Acknowledgements"):
 * - key lifecycle events: once durable in the outbox — committed with the key, in the key's own
 *   transaction — and integrated later by whichever instance is the sequencer; a crash after the
 *   acknowledgement loses nothing;
 * - break-glass: plaintext is released only after its intent and its outcome are integrated and
 *   covered by a signed checkpoint, whatever the checkpoint interval.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { PostgresTokenLedger } from '../src/breakglass/postgres-ledger.js';
import { Keywarden, LocalMasterKey } from '../src/node.js';
import { migrate } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { deployment, token } from './support/breakglass-fixtures.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/acks', new Uint8Array(32).fill(21));
type D = Awaited<ReturnType<typeof deployment>>;
const page = (d: D, c: string) => d.messages[c]!.map((m) => ({ ciphertext: m.ct, aad: m.aad }));
const ids = new AuditIdHasher(new Uint8Array(32).fill(22));
let db: TestPool;
beforeAll(async () => {
  db = await testPool();
});
afterAll(async () => {
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_k" CASCADE`).catch(() => undefined);
  await db.pool.query(`DROP SCHEMA IF EXISTS "${db.schema}_b" CASCADE`).catch(() => undefined);
  await db?.close();
});

describe('key events are acknowledged once durable in the outbox', () => {
  it('a new conversation commits its key and its key.created record together; a sequencer integrates the record later', async () => {
    const schema = `${db.schema}_k`;
    await migrate(db.pool, { schema });
    const producer = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, sequencer: false });
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new PostgresKeyStore(db.pool, { schema }), audit: { log: producer, ids, actor: 'svc' } });
    await kw.encrypt('dm:a', new Uint8Array([1]));
    // Acknowledged: the key and its record are committed; nothing is integrated yet (no sequencer).
    const outbox = await db.pool.query(`SELECT count(*)::int AS n FROM "${schema}".audit_outbox`);
    expect(outbox.rows[0].n).toBe(1);
    expect(await new PostgresAuditStore(db.pool, { schema }).size()).toBe(0);
    kw.close();
    await producer.close();
    // Any instance that becomes the sequencer integrates it.
    const sequencer = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, pollMs: 5 });
    await sequencer.flush();
    expect(decodeEntry(await sequencer.entry(0))).toMatchObject({ type: 'key.created', conversation: ids.conversation('dm:a') });
    await sequencer.close();
  });

  it('records a producer process acknowledged survive its crash (SIGKILL): the sequencer integrates every one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-acks-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support/audit-producer.ts')], {
        env: { ...process.env, AUDIT_DIR: dir, SIGNER_KEY: keys.signerKey, COUNT: '1000' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let acked = -1;
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          for (const m of d.toString().matchAll(/acked (\d+)/g)) acked = Number(m[1]);
          if (acked >= 20) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.on('exit', (code) => (acked < 20 ? reject(new Error(`producer exited with ${code}`)) : undefined));
      });
      await new Promise((r) => child.once('exit', r));
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, pollMs: 5 });
      for (let i = 0; i < 400 && log.size <= acked; i++) await new Promise((r) => setTimeout(r, 10));
      const integrated = new Set(await Promise.all(Array.from({ length: log.size }, async (_, i) => decodeEntry(await log.entry(i)).id)));
      for (let i = 0; i <= acked; i++) expect(integrated.has(sampleEvent(1000 + i).id), `acknowledged record ${i}`).toBe(true);
      await log.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('break-glass releases plaintext only when intent and outcome are under a checkpoint', () => {
  it('with a checkpoint interval of an hour, the checkpoint when decrypt returns covers both', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const slow = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
    await slow.record(sampleEvent(1)); // pending, not checkpointed
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: slow, ids, actor: 'tns' }, now: d.now });
    const r = await bg.decrypt((await token(d, [t1, t2, l1])).text, 'c0', page(d, 'c0'));
    expect(r.opened).toBeGreaterThan(0);
    const size = Number(slow.latestCheckpoint!.split('\n')[1]);
    const types = await Promise.all(Array.from({ length: size }, async (_, i) => decodeEntry(await slow.entry(i)).type));
    expect(types).toEqual([sampleEvent(1).type, 'breakglass.access', 'breakglass.outcome']);
    expect(slow.stats().pending).toBe(0);
    await slow.close();
  });

  it('through the PostgreSQL ledger: the intent commits with the token, and no key is unwrapped before it is under a checkpoint', async () => {
    const schema = `${db.schema}_b`;
    await migrate(db.pool, { schema });
    const d = await deployment();
    const log = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000, pollMs: 5 });
    const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log, ids, actor: 'tns' }, ledger: new PostgresTokenLedger(db.pool, { schema }), now: d.now });
    const { t1, t2, l1 } = d.approvers;
    const r = await bg.decrypt((await token(d, [t1, t2, l1])).text, 'c0', page(d, 'c0'));
    expect(r.opened).toBeGreaterThan(0);
    await log.sync();
    expect(Number(log.latestCheckpoint!.split('\n')[1])).toBe(log.size);
    expect(await Promise.all([0, 1].map(async (i) => decodeEntry(await log.entry(i)).type))).toEqual(['breakglass.access', 'breakglass.outcome']);
    await log.close();

    // No sequencer anywhere: the intent commits with the token but is never integrated, so
    // nothing is unwrapped and nothing released (the token is spent; its intent will land).
    const producer = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema }), signerKey: keys.signerKey, sequencer: false, appendTimeoutMs: 300 });
    const stuck = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: producer, ids, actor: 'tns' }, ledger: new PostgresTokenLedger(db.pool, { schema }), now: d.now });
    const unwrappedBefore = d.unwrapped.length;
    const err = await stuck.decrypt((await token(d, [t1, t2, l1])).text, 'c0', page(d, 'c0')).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(d.unwrapped.length).toBe(unwrappedBefore);
    await producer.close();
  });
});
