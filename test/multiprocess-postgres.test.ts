/**
 * Many service instances on one PostgreSQL database (issue #6): 4 worker processes create keys
 * for the same 500 new conversations concurrently, with key.created audit entries; one worker is
 * killed mid-run. Afterwards every conversation has exactly one version 1, every ciphertext any
 * worker acknowledged decrypts, and the audit log verifies with no gaps. Needs a real server
 * (DATABASE_URL); CI always provides one.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { Keywarden, LocalMasterKey } from '../src/node.js';
import { migrate } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { type TestPool, testPool } from './support/pg.js';

const CONVERSATIONS = 500;
const WORKERS = 4;
let db: TestPool;
let dir: string;

beforeAll(async () => {
  db = await testPool();
  await migrate(db.pool, { schema: db.schema });
  dir = mkdtempSync(join(tmpdir(), 'kw-mp-'));
});
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('multi-process (real PostgreSQL)', () => {
  it('4 workers, 500 new conversations, one worker killed: one version 1 each, every acknowledged ciphertext decrypts, the audit log verifies', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // needs concurrent connections from several processes
    const masterKey = LocalMasterKey.generateKey();
    const auditKey = LocalMasterKey.generateKey();
    const logKeys = generateNoteKey('keywarden.example/mp-test');
    const env = {
      ...process.env, DATABASE_URL: process.env.DATABASE_URL!, SCHEMA: db.schema, CONVERSATIONS: String(CONVERSATIONS),
      MASTER_KEY: Buffer.from(masterKey).toString('hex'), AUDIT_KEY: Buffer.from(auditKey).toString('hex'), SIGNER_KEY: logKeys.signerKey,
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support/mp-worker.ts')], {
        env: { ...env, WORKER: String(w), ACK_FILE: join(dir, `acks-${w}`) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      return { child, done: new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) => child.on('exit', (code, signal) => r({ code, signal, stderr }))) };
    });
    // Kill the last worker once it has acknowledged some ciphertexts (on a loaded machine the
    // workers' start-up alone can take many seconds: wait up to 2 minutes for the first 40).
    const victim = WORKERS - 1;
    let victimAcked = 0;
    for (let i = 0; i < 2_400 && victimAcked < 40; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        victimAcked = readFileSync(join(dir, `acks-${victim}`), 'utf8').split('\n').length - 1;
      } catch {
        // not written yet
      }
    }
    workers[victim]!.child.kill('SIGKILL');
    expect(victimAcked, 'the victim acknowledged nothing before the kill').toBeGreaterThan(0);
    const exits = await Promise.all(workers.map((w) => w.done));
    exits.forEach((e, w) => {
      if (w === victim) expect(e.signal, `the victim exited on its own (code ${e.code}): ${e.stderr}`).toBe('SIGKILL');
      else expect(e.code, e.stderr).toBe(0);
    });

    // Exactly one version 1 per conversation, and no other version.
    const rows = await db.pool.query(`SELECT conversation_id, count(*)::int AS n, max(version)::int AS v FROM "${db.schema}".conversation_keys GROUP BY conversation_id`);
    expect(rows.rows).toHaveLength(CONVERSATIONS);
    expect(rows.rows.every((r) => r.n === 1 && r.v === 1)).toBe(true);

    // Every acknowledged ciphertext (including the killed worker's) decrypts.
    const reader = new Keywarden({ masterKey: new LocalMasterKey(masterKey), keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }) });
    let acked = 0;
    for (let w = 0; w < WORKERS; w++) {
      let lines: string[] = [];
      try {
        lines = readFileSync(join(dir, `acks-${w}`), 'utf8').split('\n').filter((l) => l.split(' ').length === 3);
      } catch {
        // not written yet
      }
      for (const line of lines) {
        const [c, ct, text] = line.split(' ') as [string, string, string];
        const pt = await reader.decrypt(`mp-${c}`, Buffer.from(ct, 'hex'));
        expect(Buffer.from(pt).toString('hex')).toBe(text);
        acked++;
      }
    }
    // Lines written after the count above was read are acknowledged too: at least that many.
    expect(acked).toBeGreaterThanOrEqual((WORKERS - 1) * CONVERSATIONS + Math.min(victimAcked, 40));

    // One key.created entry per stored key (its outbox record commits with the key; whichever
    // instance is the sequencer integrates it — here a last one drains the outbox), no gaps, all
    // checkpoints valid.
    // The drain waits for the killed worker's sequencer lease to lapse, then integrates the whole
    // backlog: more than the default 5 s append timeout on a loaded machine.
    const drain = await AuditLog.open({ store: new PostgresAuditStore(db.pool, { schema: db.schema }), signerKey: logKeys.signerKey, pollMs: 5, appendTimeoutMs: 120_000 });
    await drain.flush();
    await drain.close();
    const audit = new PostgresAuditStore(db.pool, { schema: db.schema });
    const size = await audit.size();
    const entries = await audit.read(0, size);
    expect(entries).toHaveLength(size);
    const created = entries.map(decodeEntry).filter((e) => e.type === 'key.created');
    expect(created).toHaveLength(CONVERSATIONS);
    const ids = new AuditIdHasher(auditKey);
    expect(new Set(created.map((e) => e.conversation))).toEqual(new Set(Array.from({ length: CONVERSATIONS }, (_, c) => ids.conversation(`mp-${c}`))));
    const report = verifyAuditLog({ verifierKey: logKeys.verifierKey, entries, checkpoints: await audit.checkpoints() });
    expect(report.problems).toEqual([]);
    expect(report.latest?.size).toBe(size);
  }, 300_000);
});
