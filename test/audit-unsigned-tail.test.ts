/**
 * Issue #10, defect 1: entries past the last signed checkpoint must never be adopted silently.
 * Someone who can write the store (but has no signing key) appends a well-formed record: the
 * auditor's verify reports it as a problem (exit 1), AuditLog.open refuses it with
 * ERR_AUDIT_CORRUPT naming the index, and no checkpoint or proof ever covers it — unless an
 * operator explicitly repairs, which drops it and records the repair in the log.
 *
 * And the other half of the contract (docs/AUDIT.md §4): an append is acknowledged only once its
 * entries and a signed checkpoint covering them are durable; a failed append leaves no trace, so
 * no acknowledged entry is lost to a repair.
 */
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore, frame } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/unsigned-tail', new Uint8Array(32).fill(9));
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function logDir(n: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-unsigned-'));
  dirs.push(dir);
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < n; i++) await log.append(sampleEvent(i));
  await log.close();
  return dir;
}
async function readAll(dir: string) {
  const s = await FileAuditStore.open(dir);
  try {
    return { entries: await s.read(0, await s.size()), checkpoints: await s.checkpoints() };
  } finally {
    await s.close();
  }
}
const cli = async (...argv: string[]) => {
  const out: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: () => undefined });
  return { code, out: out.join('') };
};

describe('an unsigned tail is never adopted', () => {
  it('a forged record appended to the entries file: verify reports it (exit 1), open refuses it naming the index', async () => {
    const dir = await logDir(3);
    await appendFile(join(dir, 'entries'), frame(encodeEntry(sampleEvent(99))));

    const report = verifyAuditLog({ verifierKey: keys.verifierKey, ...(await readAll(dir)) });
    expect(report.ok).toBe(false);
    expect(report.unsignedTail).toBe(1);
    expect(report.problems).toContainEqual(expect.objectContaining({ kind: 'unsigned-tail', index: 3 }));
    expect((await cli('audit', 'verify', '--dir', dir, '--key', keys.verifierKey)).code).toBe(1);

    const store = await FileAuditStore.open(dir);
    const err = await AuditLog.open({ store, signerKey: keys.signerKey }).catch((e) => e);
    await store.close();
    expect(err).toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 3 });
    expect(err.message).toContain('index 3');
  });

  it('a log with entries and no checkpoint at all is unsigned from index 0', async () => {
    const store = new MemoryAuditStore();
    await store.append([encodeEntry(sampleEvent(1))]);
    await expect(AuditLog.open({ store, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 0 });
    const r = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.read(0, 1), checkpoints: [] });
    expect(r.problems).toContainEqual(expect.objectContaining({ kind: 'unsigned-tail', index: 0 }));
  });

  it('an explicit operator repair drops the tail, records the repair, and the log verifies again', async () => {
    const dir = await logDir(3);
    const forged = encodeEntry(sampleEvent(99));
    await appendFile(join(dir, 'entries'), frame(forged));
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops-jane' } });
    expect(log.size).toBe(4); // 3 entries + the repair record
    const repaired = decodeEntry(await log.entry(3));
    expect(repaired).toMatchObject({ type: 'audit.repaired', actor: 'ops-jane', from: 3, dropped: 1 });
    // The proof at index 3 is for the repair record, never for the forgery.
    const proof = await log.proof(3);
    expect(proof).toContain('index 3');
    await log.close();
    const all = await readAll(dir);
    expect(all.entries.some((e) => Buffer.from(e).equals(Buffer.from(forged)))).toBe(false);
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, ...all }).ok).toBe(true);
    expect((await cli('audit', 'verify', '--dir', dir, '--key', keys.verifierKey)).code).toBe(0);
  });
});

describe('an append is acknowledged only with its checkpoint, and a failed one leaves no trace', () => {
  it('the checkpoint write fails: the append rejects, the entries are rolled back, and the next append works', async () => {
    const dir = await logDir(2);
    const store = await FileAuditStore.open(dir);
    const log = await AuditLog.open({ store, signerKey: keys.signerKey });
    const real = store.appendCheckpoint.bind(store);
    store.appendCheckpoint = async () => {
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    };
    await expect(log.append(sampleEvent(7))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(await store.size()).toBe(2);
    expect(log.size).toBe(2);
    store.appendCheckpoint = real;
    const r = await log.append(sampleEvent(8));
    expect(r.index).toBe(2);
    await log.close();
    const all = await readAll(dir);
    expect(all.entries.map((e) => decodeEntry(e).id)).toEqual([sampleEvent(0).id, sampleEvent(1).id, sampleEvent(8).id]);
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, ...all }).ok).toBe(true);
  });

  it('a crash between the entry and the checkpoint writes loses no acknowledged entry: open refuses, repair keeps every acknowledged one', async () => {
    const dir = await logDir(4);
    const acknowledged = (await readAll(dir)).entries;
    // The crash: an append's entries reached the disk, its checkpoint did not (and it was never acknowledged).
    await appendFile(join(dir, 'entries'), frame(encodeEntry(sampleEvent(50))));
    const refused = await FileAuditStore.open(dir);
    await expect(AuditLog.open({ store: refused, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 4 });
    await refused.close(); // the caller owns the store it passed
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    await log.close();
    const after = (await readAll(dir)).entries;
    expect(after.slice(0, 4)).toEqual(acknowledged);
    expect(decodeEntry(after[4]!).type).toBe('audit.repaired');
  });

  it('the repair option does nothing to a healthy log', async () => {
    const dir = await logDir(2);
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(log.size).toBe(2);
    await log.close();
    expect((await readFile(join(dir, 'entries'))).length).toBeGreaterThan(0);
  });
});
