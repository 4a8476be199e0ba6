/**
 * Acceptance of issue #12 (master-key re-wrap, operator side): 100,000 conversation keys in a
 * real PostgreSQL server, wrapped under KMS key A on the KMS-compatible endpoint, are moved to
 * key B by `keywarden keys rewrap --to alias/kw-b` run as a child process exactly as an operator
 * runs it (the built dist/cli.js, configured from the environment, the real
 * @aws-sdk/client-kms over HTTP). The first run is SIGKILLed at a random point after some pages
 * committed; the rerun says "resuming" and completes. Then key A is disabled on the endpoint and:
 * - every record is under B (the store summary);
 * - every key unwraps under B: ALL of them by the endpoint's own Decrypt logic in process
 *   (`decryptDirect`: the key the blob names, its state, the context) with the data key compared
 *   to the one seeded, and a random sample of 2,000 through the real client over HTTP;
 * - every message written through Keywarden.encrypt before the migration decrypts with B alone;
 * - the audit log verifies (`keywarden audit verify`) and holds exactly one key.rewrapped record
 *   per moved key.
 * Prints the figures to quote: seconds, keys/s, KMS calls by operation, where the kill landed.
 *
 * Seeding takes the one shortcut allowed: bulk-inserted rows whose wrapped keys the endpoint
 * made in process (`encryptDirect`, the same blobs as Encrypt). The real messages' keys come
 * from Keywarden itself (GenerateDataKey over HTTP). Needs a PostgreSQL server (DATABASE_URL,
 * as in CI); skipped without one. KEYWARDEN_REWRAP_KEYS changes the number of keys.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../../src/audit/entry.js';
import { AuditLog } from '../../src/audit/log.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { PostgresAuditStore } from '../../src/audit/postgres-store.js';
import { keyContext } from '../../src/keys/records.js';
import { AwsKmsMasterKey } from '../../src/kms/aws.js';
import { Keywarden } from '../../src/node.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresKeyStore } from '../../src/store/postgres.js';
import { childEnv, ensureBuilt, runCli, startCli } from '../support/cli-process.js';
import { type KmsServer, kmsClientFor, startKmsServer } from '../support/kms-server.js';

const url = process.env.DATABASE_URL;
const N = Number(process.env.KEYWARDEN_REWRAP_KEYS ?? 100_000);
const BATCH = 1000;
const REAL_CONVERSATIONS = 300;
const SHREDDED = 5;
const SAMPLE = 2000;

const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const seconds = (ms: number) => Number((ms / 1000).toFixed(1));

describe.skipIf(!url)('keys rewrap: 100,000 keys, SIGKILLed and rerun (issue #12 acceptance)', () => {
  const schema = `kw_rewrap_${randomBytes(5).toString('hex')}`;
  const logKeys = generateNoteKey('keywarden.example/rewrap-kill');
  const idsKey = randomBytes(32);
  const ids = new AuditIdHasher(idsKey);
  let pool: pg.Pool;
  let server: KmsServer;
  let dir: string;
  let env: Record<string, string>;
  /** The data key of every bulk-seeded record, to compare after the move. */
  const seeded = new Map<string, Uint8Array>();
  const messages: { conv: string; aad: string; ct: Uint8Array; text: string }[] = [];
  const shredded = new Set<string>();

  beforeAll(async () => {
    await ensureBuilt();
    pool = new pg.Pool({ connectionString: url, max: 8 });
    pool.on('error', () => undefined);
    await migrate(pool, { schema });
    server = await startKmsServer();
    dir = await mkdtemp(join(tmpdir(), 'kw-rewrap-'));
    await writeFile(join(dir, 'log.key'), `${logKeys.signerKey}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'ids.key'), `${Buffer.from(idsKey).toString('base64')}\n`, { mode: 0o600 });
    // Everything from the environment, as a deployment's job runner would set it.
    env = childEnv({
      KEYWARDEN_DATABASE_URL: url!, KEYWARDEN_SCHEMA: schema,
      KEYWARDEN_KMS_ENDPOINT: server.endpoint, AWS_REGION: server.region,
      AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      KEYWARDEN_AUDIT_SIGNER_KEY_FILE: join(dir, 'log.key'), KEYWARDEN_AUDIT_IDS_KEY_FILE: join(dir, 'ids.key'),
      KEYWARDEN_ACTOR: 'ops-rewrap',
    });
  }, 600_000);

  afterAll(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool?.end();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('completes after a SIGKILL; every key is under B only, every message opens, one audit record per key', async () => {
    const keyA = server.createKey({ alias: 'alias/kw-a' });
    const keyB = server.createKey({ alias: 'alias/kw-b' });
    const client = kmsClientFor(server);
    const store = new PostgresKeyStore(pool, { schema });
    const t0 = performance.now();

    // 1. Real conversations through Keywarden (GenerateDataKey over HTTP), audited as a service
    //    would, some rotated, a few shredded: their messages must survive the move.
    const log = await AuditLog.open({ store: new PostgresAuditStore(pool, { schema }), signerKey: logKeys.signerKey });
    const before = new Keywarden({ masterKey: new AwsKmsMasterKey({ client, keyId: 'alias/kw-a' }), keyStore: store, audit: { log, ids, actor: 'dm-service' } });
    for (let start = 0; start < REAL_CONVERSATIONS; start += 25) {
      await Promise.all(Array.from({ length: 25 }, async (_, j) => {
        const i = start + j;
        const conv = `real:${String(i).padStart(4, '0')}`;
        for (let m = 0; m < 2; m++) {
          if (m === 1 && i % 3 === 0) await before.rotate(conv);
          const text = `message ${m} of ${conv}`;
          messages.push({ conv, aad: `${conv}/m${m}`, ct: await before.encryptString(conv, text, { aad: `${conv}/m${m}` }), text });
        }
      }));
    }
    for (let i = 0; i < SHREDDED; i++) {
      const conv = `real:${String(i * 7).padStart(4, '0')}`;
      await before.shred(conv);
      shredded.add(conv);
    }
    before.close();
    await log.close();

    // 2. The bulk: rows inserted directly, each wrapped by the endpoint under A for its own
    //    conversation and version (every 20th conversation has a superseded version 1 too).
    const realKeys = (await store.summary()).byMasterKey[keyA.arn]!;
    const bulk = N - realKeys;
    const rows: { id: string; version: number; state: string; blob: Buffer; superseded: Date | null }[] = [];
    for (let i = 0; rows.length < bulk; i++) {
      const id = `bulk:${String(i).padStart(6, '0')}`;
      const versions = i % 20 === 0 && rows.length + 2 <= bulk ? 2 : 1;
      for (let v = 1; v <= versions; v++) {
        const dataKey = randomBytes(32);
        const { ciphertextBlob, keyArn } = server.encryptDirect(keyA.keyId, dataKey, keyContext(id, v));
        expect(keyArn).toBe(keyA.arn);
        seeded.set(`${id}#${v}`, new Uint8Array(dataKey));
        rows.push({ id, version: v, state: v < versions ? 'superseded' : 'active', blob: ciphertextBlob, superseded: v < versions ? new Date() : null });
      }
    }
    const now = new Date();
    // Bulk rows in the compact schema (migration 5): the master key by its integer reference.
    const keyRef = (await pool.query<{ id: number }>(`INSERT INTO "${schema}".keywarden_master_keys (name) VALUES ($1) RETURNING id`, [keyA.arn])).rows[0]!.id;
    for (let i = 0; i < rows.length; i += 10_000) {
      const chunk = rows.slice(i, i + 10_000);
      await pool.query(
        `INSERT INTO "${schema}".conversation_keys (conversation_id, version, master_key, wrapped_key, suite, state, created_at, activated_at, superseded_at, sealed_reserved)
         SELECT id, v, $3, blob, 'AES-256-GCM', st::"${schema}".keywarden_key_state, $7, $7, sup, 0
         FROM unnest($1::text[], $2::bigint[], $4::bytea[], $5::text[], $6::timestamptz[]) AS u(id, v, blob, st, sup)`,
        [chunk.map((r) => r.id), chunk.map((r) => r.version), keyRef, chunk.map((r) => r.blob), chunk.map((r) => r.state), chunk.map((r) => r.superseded), now],
      );
    }
    const start = await store.summary();
    expect(start.byMasterKey).toEqual({ [keyA.arn]: N });
    const seedSeconds = seconds(performance.now() - t0);
    const oldBlob = (await store.getVersion('bulk:000001', 1))!.wrappedKey;

    // 3. The first run, SIGKILLed once the endpoint has seen a random number of ReEncrypt calls
    //    past the third page: two pages have committed by then, and one is in flight.
    server.resetCounters();
    const killAt = randomInt(3 * BATCH, Math.max(3 * BATCH + 1, N - 3 * BATCH));
    // The old key named as a source (docs/KEYS.md §6): a master key unwraps only keys recorded
    // under its own ARN or the ones it is given (strict mode since 2026-12-01).
    const argv = ['keys', 'rewrap', '--to', 'alias/kw-b', '--kms-key-id', 'alias/kw-a', '--batch-size', String(BATCH), '--concurrency', '32'];
    const t1 = performance.now();
    const first = startCli([...argv, '--json'], env);
    let killedAtCall = 0;
    const poll = setInterval(() => {
      if ((server.calls.ReEncrypt ?? 0) >= killAt && killedAtCall === 0) {
        killedAtCall = server.calls.ReEncrypt!;
        first.child.kill('SIGKILL');
      }
    }, 10);
    const r1 = await first.done.finally(() => clearInterval(poll));
    const firstSeconds = seconds(performance.now() - t1);
    expect(r1.signal, `the first run ended by itself: ${r1.err}`).toBe('SIGKILL');
    const jobName = `rewrap:${keyB.arn}`;
    const saved = (await store.getJob(jobName))!;
    const atKill = await store.summary();
    const underB = atKill.byMasterKey[keyB.arn] ?? 0;
    expect(saved).toMatchObject({ to: keyB.arn, finishedAt: null, total: N });
    expect(saved.rewrapped as number).toBeGreaterThanOrEqual(2 * BATCH);
    // The progress save follows each page's commit: a kill in between leaves one page uncounted.
    expect(underB - (saved.rewrapped as number)).toBeGreaterThanOrEqual(0);
    expect(underB - (saved.rewrapped as number)).toBeLessThanOrEqual(BATCH);
    expect(underB + (atKill.byMasterKey[keyA.arn] ?? 0)).toBe(N);
    const callsRun1 = { ...server.calls };

    // 4. The rerun resumes and completes.
    server.resetCounters();
    const t2 = performance.now();
    const r2 = await runCli(argv, env);
    const secondSeconds = seconds(performance.now() - t2);
    expect(r2.code, r2.err).toBe(0);
    expect(r2.err).toMatch(/^resuming the re-wrap to arn:aws:kms:[^ ]+ that started [0-9T:.Z-]+: \d+ key\(s\) re-wrapped so far$/m);
    expect(r2.out).toContain(`complete: every stored key is under ${keyB.arn}`);
    const rate = Number(/, (\d+) keys\/s, /.exec(r2.out)?.[1]);
    const callsRun2 = { ...server.calls };
    expect(callsRun2.Decrypt ?? 0).toBe(0); // ReEncrypt only: the data keys never left KMS
    expect(callsRun2.Encrypt ?? 0).toBe(0);
    expect(callsRun2.ReEncrypt).toBe(N - underB);

    // `keys status` shows the finished job; a third run has nothing to do.
    const status = await runCli(['keys', 'status', '--json'], env);
    expect(status.code, status.err).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({ byMasterKey: { [keyB.arn]: N }, jobs: [{ name: jobName, to: keyB.arn, state: 'finished', pending: 0 }] });
    const again = await runCli([...argv, '--json'], env);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ complete: true, resumed: false, rewrapped: 0, kmsCalls: 0 });

    // 5. Key A disabled: everything works with B alone.
    server.setKeyState(keyA.keyId, 'Disabled');
    expect(() => server.decryptDirect(oldBlob, keyContext('bulk:000001', 1))).toThrow(/disabled/);
    const end = await store.summary();
    expect(end.byMasterKey).toEqual({ [keyB.arn]: N });
    expect(end.versions.shredded).toBe(start.versions.shredded);

    // Every key, in process, by the endpoint's Decrypt logic; the bulk ones to the seeded bytes.
    const all = await pool.query<{ conversation_id: string; version: string; master_key_id: string; wrapped_key: Buffer }>(
      `SELECT k.conversation_id, k.version, m.name AS master_key_id, k.wrapped_key
       FROM "${schema}".conversation_keys k JOIN "${schema}".keywarden_master_keys m ON m.id = k.master_key WHERE k.state <> 'shredded'`,
    );
    expect(all.rows).toHaveLength(N);
    let compared = 0;
    for (const r of all.rows) {
      expect(r.master_key_id).toBe(keyB.arn);
      const plain = server.decryptDirect(r.wrapped_key, keyContext(r.conversation_id, Number(r.version)), keyB.arn);
      const want = seeded.get(`${r.conversation_id}#${r.version}`);
      if (want !== undefined) {
        expect(Buffer.compare(plain, want)).toBe(0);
        compared++;
      }
    }
    expect(compared).toBe(bulk);
    // A random sample through the real client over HTTP (Decrypt pinned to the recorded ARN).
    const b = new AwsKmsMasterKey({ client, keyId: keyB.arn });
    server.resetCounters();
    const sample = Array.from({ length: Math.min(SAMPLE, N) }, () => all.rows[randomInt(all.rows.length)]!);
    for (let i = 0; i < sample.length; i += 50) {
      await Promise.all(sample.slice(i, i + 50).map(async (r) => {
        const plain = await b.unwrapDataKey(new Uint8Array(r.wrapped_key), keyContext(r.conversation_id, Number(r.version)), r.master_key_id);
        const want = seeded.get(`${r.conversation_id}#${r.version}`);
        if (want !== undefined) expect(Buffer.compare(Buffer.from(plain), want)).toBe(0);
      }));
    }
    expect(server.calls.Decrypt).toBe(sample.length);

    // Every message written before the migration opens with B alone (shredded ones stay shredded).
    const after = new Keywarden({ masterKey: new AwsKmsMasterKey({ client, keyId: 'alias/kw-b' }), keyStore: store });
    for (const m of messages) {
      if (shredded.has(m.conv)) await expect(after.decrypt(m.conv, m.ct, { aad: m.aad })).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
      else expect(dec(await after.decrypt(m.conv, m.ct, { aad: m.aad }))).toBe(m.text);
    }
    after.close();
    expect(messages.filter((m) => !shredded.has(m.conv))).toHaveLength(2 * (REAL_CONVERSATIONS - SHREDDED));

    // 6. The audit log verifies, and names every moved key exactly once.
    const verify = await runCli(['audit', 'verify', '--key', logKeys.verifierKey, '--json'], env);
    expect(verify.code, verify.out + verify.err).toBe(0);
    expect(JSON.parse(verify.out)).toMatchObject({ ok: true, problems: [] });
    const auditStore = new PostgresAuditStore(pool, { schema });
    const entries = (await auditStore.read(0, await auditStore.size())).map(decodeEntry);
    const moved = entries.filter((e) => e.type === 'key.rewrapped');
    expect(moved.every((e) => e.actor === 'ops-rewrap' && e.masterKeyId === keyB.arn && JSON.stringify(e.fromMasterKeyIds) === JSON.stringify([keyA.arn]))).toBe(true);
    const recorded = moved.flatMap((e) => (e.keys as { conversation: string; version: number }[]).map((k) => `${k.conversation}#${k.version}`));
    const expected = all.rows.map((r) => `${ids.conversation(r.conversation_id)}#${Number(r.version)}`);
    expect(recorded).toHaveLength(N);
    expect(new Set(recorded)).toEqual(new Set(expected));
    client.destroy();

    const totalSeconds = seconds(performance.now() - t0);
    const figures = {
      keys: N, batchSize: BATCH, concurrency: 32,
      seedSeconds, firstRunSeconds: firstSeconds, rerunSeconds: secondSeconds, totalSeconds,
      killedAtReEncryptCall: killedAtCall, committedUnderBAtKill: underB, progressSavedAtKill: saved.rewrapped,
      rerunKeysPerSecond: rate, overallKeysPerSecond: Math.round(N / (firstSeconds + secondSeconds)),
      kmsCallsFirstRun: callsRun1, kmsCallsRerun: callsRun2, auditEntries: entries.length, rewrappedEntries: moved.length,
      verifiedInProcess: N, verifiedOverHttp: sample.length,
    };
    console.info(`[rewrap-kill] ${JSON.stringify(figures)}`);
  }, 1_800_000);
});
