/**
 * The sequencer lingers after a batch that did not fill up (AuditLogOptions.lingerMs,
 * docs/AUDIT.md §4): outbox records committed during the pause share one batch, while a writer
 * of this process that waits for its record (break-glass, flush), a local append and a
 * checkpoint request are served at once. (Issue #14: new conversations with audit on.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/linger', new Uint8Array(32).fill(31));
const mac = recordKeys(keys.signerKey).mac;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logs: AuditLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
});

/** A log on a memory store whose first outbox record is already integrated (the sequencer now lingers). */
async function lingering(lingerMs: number) {
  const store = new MemoryAuditStore();
  const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 5, lingerMs, checkpointIntervalMs: 3_600_000, appendTimeoutMs: 3000 });
  logs.push(log);
  await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(0))], false));
  for (let i = 0; i < 400 && log.size < 1; i++) await sleep(5);
  expect(log.size).toBe(1);
  return { store, log };
}

describe('sequencer linger', () => {
  it('outbox records committed while it lingers share one batch', async () => {
    const { store, log } = await lingering(1500);
    const before = log.stats().batches;
    for (let i = 1; i <= 20; i++) {
      await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(i))], false));
      await sleep(5);
    }
    for (let i = 0; i < 600 && log.size < 21; i++) await sleep(5);
    expect(log.size).toBe(21);
    // Without the pause each record (5 ms apart, polled every 5 ms) would take a round of its own.
    expect(log.stats().batches - before).toBeLessThanOrEqual(2);
    const ids = (await store.read(0, 21)).map((e) => decodeEntry(e).id);
    expect(ids).toEqual(Array.from({ length: 21 }, (_, i) => sampleEvent(i).id));
  });

  it('with lingerMs 0 it looks again at once: records 5 ms apart take rounds of their own', async () => {
    const { store, log } = await lingering(0);
    const before = log.stats().batches;
    for (let i = 1; i <= 20; i++) {
      await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(i))], false));
      await sleep(5);
    }
    for (let i = 0; i < 600 && log.size < 21; i++) await sleep(5);
    expect(log.size).toBe(21);
    expect(log.stats().batches - before).toBeGreaterThan(5);
  });

  it('a writer of this process waiting for its record (flush, break-glass) ends the pause at once', async () => {
    // A pause of a minute: the flush would time out (appendTimeoutMs 3000) if it did not end it.
    const { log } = await lingering(60_000);
    const started = Date.now();
    const receipt = await log.flush();
    expect(receipt.size).toBe(1);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('a waiting record committed after the claim of the round in flight is not left to the pause', async () => {
    // The round's claim is taken, then held at a gate while a flush commits its record and waits.
    let gate: Promise<void> | undefined;
    let claimed!: () => void;
    const tookClaim = new Promise<void>((r) => (claimed = r));
    class GatedStore extends MemoryAuditStore {
      override async claim(limit: number) {
        const records = await super.claim(limit);
        if (gate !== undefined) {
          claimed();
          await gate;
        }
        return records;
      }
    }
    const store = new GatedStore();
    const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 5, lingerMs: 60_000, checkpointIntervalMs: 3_600_000, appendTimeoutMs: 3000 });
    logs.push(log);
    await log.append(sampleEvent(0)); // a partial batch: the sequencer now lingers
    let release!: () => void;
    gate = new Promise<void>((r) => (release = r));
    const appended = log.append(sampleEvent(1)); // wakes a round, whose claim we hold
    await tookClaim;
    gate = undefined;
    const flushed = log.flush(); // its record is committed after that claim
    await sleep(20);
    release();
    expect((await appended).index).toBe(1);
    expect((await flushed).size).toBe(2);
  });

  it('local appends and checkpoint requests do not wait for the pause', async () => {
    const { log } = await lingering(60_000);
    const { index } = await log.append(sampleEvent(50));
    expect(index).toBe(1);
    const note = await log.checkpoint();
    expect(note).toContain('\n2\n');
  });

  it('validates lingerMs', async () => {
    for (const bad of [-1, 1.5, 60_001, '5', Number.NaN]) {
      await expect(AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, lingerMs: bad as number })).rejects.toMatchObject({
        code: 'ERR_INVALID_INPUT',
        message: expect.stringContaining('options.lingerMs'),
      });
    }
  });
});
