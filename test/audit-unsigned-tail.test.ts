/**
 * Unsigned tail vs interval checkpoints (docs/AUDIT.md §4): every stored record is authenticated
 * on its own, so both hold —
 *  - a GENUINE tail (integrated after the last checkpoint, covered by the signed tree head) is
 *    pending: AuditLog.open adopts it, `audit verify` reports it as pending, exit 0;
 *  - a FORGED record (written without the signer key: past the tree head, a tree head signed by
 *    another key, an outbox record with a bad MAC) is never adopted: open refuses it naming the
 *    index, verify reports it (exit 1), no checkpoint or proof ever covers it, and the
 *    operator's repair drops it and records the repair in the log.
 * (Issue #10 defect 1 and issue #14.)
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame, scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { OutboxProducer, recordKeys, sealOutboxRecord, signTreeHead } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { decodeBundle, encodeBundle, tilePath } from '../src/audit/tiles.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** Ids for the outbox records these tests seal (records.ts). */
const producer = new OutboxProducer();

const keys = generateNoteKey('keywarden.example/unsigned-tail', new Uint8Array(32).fill(9));
const intruder = generateNoteKey('keywarden.example/unsigned-tail', new Uint8Array(32).fill(10));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A log directory: `checkpointed` entries under a checkpoint, then `pending` more integrated without one. */
async function logDir(checkpointed: number, pending = 0): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-unsigned-'));
  dirs.push(dir);
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
  for (let i = 0; i < checkpointed; i++) await log.append(sampleEvent(i));
  for (let i = 0; i < pending; i++) await log.record(sampleEvent(100 + i));
  expect(log.stats()).toMatchObject({ size: checkpointed + pending, pending });
  await log.close();
  return dir;
}
const cli = async (...argv: string[]) => {
  const out: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: () => undefined });
  return { code, out: out.join('') };
};
const verifyDir = async (dir: string) => JSON.parse((await cli('audit', 'verify', '--dir', dir, '--key', keys.verifierKey, '--json')).out);

/** Appends `entries` to the partial bundle past the head, as someone with write access but no key could. */
async function forgeBundle(dir: string, size: number, entries: Uint8Array[]): Promise<void> {
  const n = Math.floor(size / 256);
  const have = decodeBundle(await readFile(join(dir, tilePath('entries', n, size % 256))))!;
  await writeFile(join(dir, tilePath('entries', n, size % 256 + entries.length)), encodeBundle([...have, ...entries]));
}

describe('a genuine pending tail is adopted and reported as pending', () => {
  it('entries integrated after the last checkpoint: open adopts them, verify says pending (exit 0), the next checkpoint covers them', async () => {
    const dir = await logDir(3, 4);
    const report = await verifyDir(dir);
    expect(report).toMatchObject({ ok: true, entries: 7, pending: 4, unsignedTail: 0, latest: { size: 3 } });
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    expect(log.stats()).toMatchObject({ size: 7, checkpointSize: 3, pending: 4 });
    const cp = await log.checkpoint();
    expect(cp.split('\n')[1]).toBe('7');
    expect(await log.proof(5)).toContain('index 5');
    await log.close();
    expect(await verifyDir(dir)).toMatchObject({ ok: true, pending: 0, latest: { size: 7 } });
  });

  it('the in-memory verifier takes the tree head the same way', async () => {
    const store = new MemoryAuditStore();
    const log = await AuditLog.open({ store, signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
    await log.append(sampleEvent(1));
    await log.record([sampleEvent(2), sampleEvent(3)]);
    const input = { verifierKey: keys.verifierKey, entries: await store.read(0, 3), checkpoints: await store.checkpoints() };
    expect(verifyAuditLog({ ...input, head: (await store.state()).head! })).toMatchObject({ ok: true, pending: 2, unsignedTail: 0 });
    // Without the head nothing vouches for the two: they are an unsigned tail.
    expect(verifyAuditLog(input)).toMatchObject({ ok: false, pending: 0, unsignedTail: 2 });
  });
});

describe('a forged record is never adopted', () => {
  it('an entry bundle extended past the tree head: verify reports it (exit 1), open refuses it naming the index', async () => {
    const dir = await logDir(3, 2);
    await forgeBundle(dir, 5, [encodeEntry(sampleEvent(99))]);
    const report = await verifyDir(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'unsigned-tail', index: 5 }));
    expect((await cli('audit', 'verify', '--dir', dir, '--key', keys.verifierKey)).code).toBe(1);
    const store = await FileAuditStore.open(dir);
    const err = await AuditLog.open({ store, signerKey: keys.signerKey }).catch((e) => e);
    await store.close();
    expect(err).toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 5 });
    expect(err.message).toContain('index 5');
  });

  it('a tree head signed by another key over forged entries: open refuses from the checkpoint, verify reports the head', async () => {
    const dir = await logDir(3);
    const forged = encodeEntry(sampleEvent(98));
    await forgeBundle(dir, 3, [forged]);
    const state = scanFrames(await readFile(join(dir, 'head'))).records[1]!;
    const note = signTreeHead(newNoteSigner(intruder.signerKey), 4, new Uint8Array(32));
    await writeFile(join(dir, 'head'), Buffer.concat([MAGIC, frame(new TextEncoder().encode(note)), frame(state)]));
    const report = await verifyDir(dir);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'head' }));
    const store = await FileAuditStore.open(dir);
    await expect(AuditLog.open({ store, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 3 });
    await store.close();
  });

  it('a log with entries and no signature at all is unsigned from index 0', async () => {
    const store = new MemoryAuditStore();
    store.forgeEntries([encodeEntry(sampleEvent(1))]);
    await expect(AuditLog.open({ store, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 0 });
    const r = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.uncovered(0), checkpoints: [] });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'unsigned-tail', index: 0 }));
  });

  it('an outbox record without a valid MAC is quarantined, never integrated', async () => {
    const store = new MemoryAuditStore();
    const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 5 });
    const forged = sealOutboxRecord(recordKeys(intruder.signerKey).mac, [encodeEntry(sampleEvent(66))], false, producer.next());
    await store.enqueue(forged);
    const genuine = sealOutboxRecord(recordKeys(keys.signerKey).mac, [encodeEntry(sampleEvent(67))], false, producer.next());
    await store.enqueue(genuine);
    await log.append(sampleEvent(68));
    for (let i = 0; i < 200 && store.outboxLength > 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(store.outboxLength).toBe(0);
    expect(log.stats().quarantined).toBe(1);
    const ids = (await store.read(0, log.size)).map((e) => decodeEntry(e).id);
    expect(ids).toContain(sampleEvent(67).id);
    expect(ids).not.toContain(sampleEvent(66).id);
    await log.close();
  });

  it('the operator repair drops exactly what no signature covers, records it, and the log verifies again', async () => {
    const dir = await logDir(3, 2);
    const forged = encodeEntry(sampleEvent(99));
    await forgeBundle(dir, 5, [forged]);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops-jane' } });
    expect(log.size).toBe(6); // 3 + 2 pending (signed by the tree head: kept) + the repair record
    const repaired = decodeEntry(await log.entry(5));
    expect(repaired).toMatchObject({ type: 'audit.repaired', actor: 'ops-jane', from: 5, dropped: 1 });
    expect(await log.proof(5)).toContain('index 5'); // for the repair record, never the forgery
    await log.close();
    const report = await verifyDir(dir);
    expect(report).toMatchObject({ ok: true, entries: 6, unsignedTail: 0 });
    expect((await cli('audit', 'verify', '--dir', dir, '--key', keys.verifierKey)).code).toBe(0);
  });

  it('the repair option does nothing to a healthy log, and refuses what it cannot repair', async () => {
    const dir = await logDir(2, 1);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(log.size).toBe(3);
    await log.close();
    // A checkpoint by another key is not an unsigned tail: there is nothing to drop back to.
    await writeFile(join(dir, 'checkpoint'), signTreeHead(newNoteSigner(intruder.signerKey), 3, new Uint8Array(32)));
    const store = await FileAuditStore.open(dir);
    await expect(AuditLog.open({ store, signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
    await store.close();
  });
});
