/**
 * Master-key re-wrap (issue #12 point 5, docs/KEYS.md §6): with local keys (unwrap and wrap) and
 * with the real @aws-sdk/client-kms against the KMS-compatible endpoint on 127.0.0.1 (ReEncrypt):
 * every key moves, messages are untouched and keep opening, old and new keys both work during
 * the move, progress survives an interruption, concurrent changes are respected, throttling is
 * retried, and every moved key is in the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditIdHasher, decodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore, type MasterKeyProvider } from '../src/node.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';
import { testPool } from './support/pg.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { migrate } from '../src/store/migrations.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const logKeys = generateNoteKey('keywarden.example/rewrap', new Uint8Array(32).fill(7));
const ids = new AuditIdHasher(new Uint8Array(32).fill(6));

async function seal(kw: Keywarden, n: number, rotateEvery = 3) {
  const out: { conv: string; ct: Uint8Array; text: string }[] = [];
  for (let i = 0; i < n; i++) {
    const conv = `c${i % 40}`;
    if (i % (40 * rotateEvery) === 39) await kw.rotate(conv);
    out.push({ conv, ct: await kw.encrypt(conv, enc(`m${i}`)), text: `m${i}` });
  }
  return out;
}

async function allOpen(kw: Keywarden, msgs: { conv: string; ct: Uint8Array; text: string }[]) {
  for (const m of msgs) expect(dec(await kw.decrypt(m.conv, m.ct))).toBe(m.text);
}

describe('rewrap with local master keys', () => {
  it('moves every key; messages untouched; old key no longer needed; audit batches verify', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const auditStore = new MemoryAuditStore();
    const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 500 });
    const before = new Keywarden({ masterKey: oldKey, keyStore });
    const msgs = await seal(before, 200);
    const bytesBefore = msgs.map((m) => Buffer.from(m.ct).toString('hex'));
    // During the move: the ring reads old and new keys and writes new ones.
    const ring = new MasterKeyRing(newKey, [oldKey]);
    const kw = new Keywarden({ masterKey: ring, keyStore, audit: { log, ids, actor: 'ops' } });
    const fresh = await kw.encrypt('new-conv', enc('during'));
    expect((await keyStore.getLatest('new-conv'))!.masterKeyId).toBe(newKey.keyId);
    const progress: number[] = [];
    const report = await kw.rewrap({ batchSize: 17, concurrency: 4, onProgress: (p) => progress.push(p.rewrapped) });
    const total = (await keyStore.summary()).byMasterKey[newKey.keyId]!;
    expect(report).toMatchObject({ to: newKey.keyId, complete: true, resumed: false, failed: 0, skipped: 0, rewrapped: total - 1 });
    expect(report.kmsCalls).toBe(2 * report.rewrapped); // unwrap + wrap per key
    expect(progress).toHaveLength(Math.ceil((total - 1) / 17));
    expect((await keyStore.summary()).byMasterKey).toEqual({ [newKey.keyId]: total });
    // Messages are byte-for-byte what they were, and open with the new key alone.
    expect(msgs.map((m) => Buffer.from(m.ct).toString('hex'))).toEqual(bytesBefore);
    oldKey.destroy();
    const after = new Keywarden({ masterKey: newKey, keyStore });
    await allOpen(after, msgs);
    expect(dec(await after.decrypt('new-conv', fresh))).toBe('during');
    // The audit log names every moved key, in batches, and verifies.
    const entries = (await auditStore.read(0, await auditStore.size())).map(decodeEntry).filter((e) => e.type === 'key.rewrapped');
    const keys = entries.flatMap((e) => e.keys as { conversation: string; version: number }[]);
    expect(keys).toHaveLength(report.rewrapped);
    expect(new Set(keys.map((k) => `${k.conversation}#${k.version}`)).size).toBe(report.rewrapped);
    expect(entries.every((e) => e.masterKeyId === newKey.keyId && (e.fromMasterKeyIds as string[]).join() === oldKey.keyId)).toBe(true);
    expect(keys).toContainEqual({ conversation: ids.conversation('c0'), version: 1 });
    expect(verifyAuditLog({ verifierKey: logKeys.verifierKey, entries: await auditStore.read(0, await auditStore.size()), checkpoints: await auditStore.checkpoints(), head: (await auditStore.state()).head! }).ok).toBe(true);
    // A second run has nothing to do.
    expect(await kw.rewrap()).toMatchObject({ rewrapped: 0, kmsCalls: 0, complete: true, resumed: false });
  });

  it('stopped part-way, a rerun resumes from the saved progress and completes', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const msgs = await seal(new Keywarden({ masterKey: oldKey, keyStore }), 120);
    const kw = new Keywarden({ masterKey: new MasterKeyRing(newKey, [oldKey]), keyStore });
    const stop = new AbortController();
    const first = await kw.rewrap({ batchSize: 10, signal: stop.signal, onProgress: (p) => p.rewrapped >= 20 && stop.abort() });
    expect(first).toMatchObject({ complete: false, rewrapped: 20 });
    expect(await keyStore.getJob(`rewrap:${newKey.keyId}`)).toMatchObject({ rewrapped: 20, finishedAt: null });
    const second = await kw.rewrap({ batchSize: 10 });
    expect(second).toMatchObject({ complete: true, resumed: true });
    expect(second.rewrapped).toBe((await keyStore.summary()).byMasterKey[newKey.keyId]);
    expect(second.kmsCalls).toBe(2 * (second.rewrapped - 20)); // the first 20 were not redone
    // The rate is this run's: the keys it moved over its own time, not the job's running total.
    expect(second.keysPerSecond).toBeCloseTo(((second.rewrapped - 20) * 1000) / second.elapsedMs, 6);
    await allOpen(new Keywarden({ masterKey: newKey, keyStore }), msgs);
  });

  it('leaves alone keys that change meanwhile (shredded mid-run), and reports keys KMS refuses', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const msgs = await seal(new Keywarden({ masterKey: oldKey, keyStore }), 40);
    // A tampered wrapped key (someone wrote bytes to the store).
    const victim = (await keyStore.getVersion('c5', 1))!;
    await keyStore.transaction(async (tx) => {
      await tx.updateWrappings!([{ conversationId: 'c5', version: 1, expected: { masterKeyId: victim.masterKeyId, wrappedKey: victim.wrappedKey }, next: { masterKeyId: victim.masterKeyId, wrappedKey: Uint8Array.from(victim.wrappedKey, (b, i) => (i === 20 ? b ^ 1 : b)) } }]);
    });
    let shredOnce = true;
    const source: MasterKeyProvider = {
      keyId: oldKey.keyId,
      generateDataKey: (c) => oldKey.generateDataKey(c),
      unwrapDataKey: async (w, c, id) => {
        if (shredOnce && c['keywarden:conversation'] === 'c9') {
          shredOnce = false;
          await keyStore.shred('c9', 'conversation', new Date()); // shredded between read and write
        }
        return oldKey.unwrapDataKey(w, c, id);
      },
    };
    const kw = new Keywarden({ masterKey: new MasterKeyRing(newKey, [source]), keyStore });
    const report = await kw.rewrap({ batchSize: 100 });
    expect(report.failures).toEqual([{ conversationId: 'c5', version: 1, code: 'ERR_KMS_INVALID_CIPHERTEXT' }]);
    expect(report).toMatchObject({ failed: 1, skipped: 1, complete: false });
    expect((await keyStore.getVersion('c9', 1))).toMatchObject({ state: 'shredded' });
    expect((await keyStore.getVersion('c9', 1))!.wrappedKey.length).toBe(0); // the shred was not undone
    const after = new Keywarden({ masterKey: newKey, keyStore });
    for (const m of msgs.filter((x) => x.conv !== 'c5' && x.conv !== 'c9')) expect(dec(await after.decrypt(m.conv, m.ct))).toBe(m.text);
  });

  it('validates its options', async () => {
    const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
    for (const [o, param] of [[{ batchSize: 0 }, 'options.batchSize'], [{ concurrency: 2000 }, 'options.concurrency'], [{ maxAttempts: 0 }, 'options.maxAttempts'], [{ to: {} }, 'options.to'], [{ zzz: 1 }, 'options.zzz']] as const) {
      const err = await kw.rewrap(o as never).catch((e) => e);
      expect(err.code).toBe('ERR_INVALID_INPUT');
      expect(err.message).toContain(param);
    }
    expect(() => new MasterKeyRing({} as never)).toThrow('primary');
    expect(() => new MasterKeyRing(new LocalMasterKey(LocalMasterKey.generateKey()), [null as never])).toThrow('previous[0]');
  });
});

describe('rewrap with AWS KMS (real client, KMS-compatible endpoint on 127.0.0.1)', () => {
  let server: KmsServer;
  beforeAll(async () => {
    server = await startKmsServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('uses ReEncrypt only (the data key never leaves KMS); after disabling the old key everything still opens', async () => {
    const oldMeta = server.createKey({ alias: 'alias/dm-2025' });
    const newMeta = server.createKey({ alias: 'alias/dm-2026' });
    // No SDK retries: keywarden's own backoff handles throttling (and is what is measured).
    const client = kmsClientFor(server, { maxAttempts: 1 });
    const keyStore = new MemoryKeyStore();
    const before = new Keywarden({ masterKey: new AwsKmsMasterKey({ client, keyId: 'alias/dm-2025' }), keyStore });
    const msgs = await seal(before, 90);
    // The new key (by alias) unwraps old records by their ARN, which it is told of (strict mode:
    // test/aws-kms-pinned.test.ts); rewrap re-encrypts from a source the key accepts.
    const newKey = new AwsKmsMasterKey({ client, keyId: 'alias/dm-2026', previousKeyIds: [oldMeta.arn] });
    const kw = new Keywarden({ masterKey: newKey, keyStore });
    await allOpen(kw, msgs.slice(0, 5));
    expect(await newKey.resolveKeyId()).toBe(newMeta.arn); // DescribeKey, once
    server.resetCounters();
    server.faults.throttleNext(5); // the next 5 ReEncrypt calls are throttled: retried with backoff
    const report = await kw.rewrap({ batchSize: 25, concurrency: 8 });
    expect(report).toMatchObject({ to: newMeta.arn, complete: true, failed: 0 });
    expect(server.calls.ReEncrypt).toBe(report.kmsCalls);
    expect(report.kmsCalls).toBe(report.rewrapped + 5);
    expect(server.calls.Decrypt ?? 0).toBe(0);
    expect(server.calls.Encrypt ?? 0).toBe(0);
    // Both encryption contexts were checked and bound: every ReEncrypt named the key's conversation.
    const re = server.log.filter((e) => e.op === 'ReEncrypt' && e.status === 200);
    expect(re).toHaveLength(report.rewrapped);
    expect((await keyStore.summary()).byMasterKey).toEqual({ [newMeta.arn]: report.rewrapped });
    server.setKeyState(oldMeta.keyId, 'Disabled');
    await allOpen(new Keywarden({ masterKey: new AwsKmsMasterKey({ client, keyId: newMeta.arn }), keyStore }), msgs);
  });

  it('from a local master key to AWS KMS: unwrap locally, Encrypt in KMS', async () => {
    const local = new LocalMasterKey(LocalMasterKey.generateKey());
    const newMeta = server.createKey({});
    const keyStore = new MemoryKeyStore();
    const msgs = await seal(new Keywarden({ masterKey: local, keyStore }), 50);
    const aws = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: newMeta.keyId });
    const kw = new Keywarden({ masterKey: new MasterKeyRing(aws, [local]), keyStore });
    server.resetCounters();
    const report = await kw.rewrap();
    expect(report).toMatchObject({ to: newMeta.arn, complete: true });
    expect(server.calls.Encrypt).toBe(report.rewrapped);
    expect(server.calls.ReEncrypt ?? 0).toBe(0);
    local.destroy();
    await allOpen(new Keywarden({ masterKey: aws, keyStore }), msgs);
  });
});

describe('rewrap with the key store and the audit log in one PostgreSQL database', () => {
  it('records key.rewrapped through the outbox in the re-wrap transaction; the log integrates it and verifies', async () => {
    // Regression (merge of #12 and #14): rewrap awaited a checkpointed append inside the key
    // store's transaction, which the outbox refuses (ERR_INVALID_INPUT on options.tx).
    const db = await testPool();
    try {
      await migrate(db.pool, { schema: db.schema });
      const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
      const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
      const keyStore = new PostgresKeyStore(db.pool, { schema: db.schema });
      const auditStore = new PostgresAuditStore(db.pool, { schema: db.schema });
      const log = await AuditLog.open({ store: auditStore, signerKey: logKeys.signerKey, appendTimeoutMs: 10_000 });
      try {
        const before = new Keywarden({ masterKey: oldKey, keyStore });
        const msgs = await seal(before, 30);
        const kw = new Keywarden({ masterKey: new MasterKeyRing(newKey, [oldKey]), keyStore, audit: { log, ids, actor: 'ops' } });
        const report = await kw.rewrap({ batchSize: 7 });
        expect(report).toMatchObject({ to: newKey.keyId, complete: true, failed: 0 });
        await allOpen(new Keywarden({ masterKey: newKey, keyStore }), msgs);
        await log.flush();
        const entries = await auditStore.read(0, await auditStore.size());
        const moved = entries.map(decodeEntry).filter((e) => e.type === 'key.rewrapped').flatMap((e) => e.keys as unknown[]);
        expect(moved).toHaveLength(report.rewrapped);
        expect(verifyAuditLog({ verifierKey: logKeys.verifierKey, entries, checkpoints: await auditStore.checkpoints(), head: (await auditStore.state()).head! }).ok).toBe(true);
      } finally {
        await log.close();
      }
    } finally {
      await db.close();
    }
  });
});
