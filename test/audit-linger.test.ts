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
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** Ids for the outbox records these tests seal (records.ts). */
const producer = new OutboxProducer();

const keys = generateNoteKey('keywarden.example/linger', new Uint8Array(32).fill(31));
const mac = recordKeys(keys.signerKey).mac;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logs: AuditLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
});

/** A store that hands out one record per claim (as a byte cap does on the file store). */
class OneAtATime extends MemoryAuditStore {
  override claim() {
    return super.claim(1);
  }
}

/** A log on a memory store whose first outbox record is already integrated (the sequencer now lingers). */
async function lingering(lingerMs: number) {
  const store = new MemoryAuditStore();
  const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 5, lingerMs, checkpointIntervalMs: 3_600_000, appendTimeoutMs: 3000 });
  logs.push(log);
  await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(0))], false, producer.next()));
  for (let i = 0; i < 400 && log.size < 1; i++) await sleep(5);
  expect(log.size).toBe(1);
  return { store, log };
}

describe('sequencer linger', () => {
  /** Records 1..20 committed 5 ms apart on a lingering log; resolves with the rounds they took. */
  async function trickle(lingerMs: number) {
    const { store, log } = await lingering(lingerMs);
    const before = log.stats().batches;
    for (let i = 1; i <= 20; i++) {
      await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(i))], false, producer.next()));
      await sleep(5);
    }
    for (let i = 0; i < 600 && log.size < 21; i++) await sleep(5);
    expect(log.size).toBe(21);
    return { store, rounds: log.stats().batches - before };
  }

  it('outbox records committed while it lingers share one batch', async () => {
    const { store, rounds } = await trickle(1500);
    // Without the pause each record (5 ms apart, polled every 5 ms) would take a round of its own.
    expect(rounds).toBeLessThanOrEqual(2);
    const ids = (await store.read(0, 21)).map((e) => decodeEntry(e).id);
    expect(ids).toEqual(Array.from({ length: 21 }, (_, i) => sampleEvent(i).id));
  });

  it('with lingerMs 0 it looks again at once: records 5 ms apart take rounds of their own', async () => {
    expect((await trickle(0)).rounds).toBeGreaterThan(5);
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

  it('a writer of this process waiting behind a backlog is not left to a pause at every round', async () => {
    // One record per claim: each round is partial, and only the waiting writer keeps the
    // sequencer from pausing after it.
    const store = new OneAtATime();
    const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 5, lingerMs: 60_000, checkpointIntervalMs: 3_600_000, appendTimeoutMs: 3000 });
    logs.push(log);
    await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(0))], false, producer.next()));
    for (let i = 0; i < 400 && log.size < 1; i++) await sleep(5);
    for (let i = 1; i <= 5; i++) await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(i))], false, producer.next()));
    expect((await log.flush()).size).toBe(6);
  });

  it('a round that claimed a megabyte or more is full: a backlog of large records is not paused between rounds', async () => {
    const store = new OneAtATime();
    const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 5, lingerMs: 60_000, checkpointIntervalMs: 3_600_000 });
    logs.push(log);
    // Records of ~1.2 MB (4,000 entries each), one per claim: without the byte rule, every round
    // after the first would pause for a minute.
    const big = (r: number) => sealOutboxRecord(mac, Array.from({ length: 4000 }, (_, i) => encodeEntry(sampleEvent(r * 4000 + i))), false, producer.next());
    expect(big(0).bundle.length).toBeGreaterThan(1024 * 1024);
    for (let r = 0; r < 3; r++) await store.enqueue(big(r));
    for (let i = 0; i < 2000 && log.size < 12_000; i++) await sleep(5);
    expect(log.size).toBe(12_000);
  });

  it('after the pause, an empty look restarts the back-off at 1 ms (not at twice the pause)', async () => {
    // pollMs is large: only the restarted back-off takes a record committed just after the
    // first empty look within a few ms; doubling from the pause would look again after ~1 s.
    const store = new MemoryAuditStore();
    const log = await AuditLog.open({ store, signerKey: keys.signerKey, pollMs: 10_000, lingerMs: 500, checkpointIntervalMs: 3_600_000 });
    logs.push(log);
    await log.append(sampleEvent(0)); // wakes the sequencer; the next look waits for the poll
    await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(1))], false, producer.next()));
    await log.append(sampleEvent(2)); // a round that takes the record too: partial, so it pauses 500 ms
    expect(log.size).toBe(3);
    await sleep(560); // past the pause and its empty look
    const committed = Date.now();
    await store.enqueue(sealOutboxRecord(mac, [encodeEntry(sampleEvent(3))], false, producer.next()));
    while (log.size < 4 && Date.now() - committed < 5000) await sleep(2);
    expect(log.size).toBe(4);
    expect(Date.now() - committed).toBeLessThan(400);
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
