/**
 * the drain clock's cap (the horizon moves at most 2x the monotonic clock from where the
 * stored guard left it) starts from the wall clock at open when the stored horizon is 0 — a new
 * log, one migrated from 0.1, or one whose records so far all came through the sequencer's own
 * process (no drained claim ever). A sequencer (re)started while its clock is ahead pushes the
 * horizon past records sealed with correct clocks at its first drained claim: they are
 * quarantined (lost), and the stored horizon never moves back.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack2-clock', new Uint8Array(32).fill(72));
const rk = recordKeys(keys.signerKey);
const entry = (n: number) => encodeEntry(sampleEvent(n));
const T0 = Date.UTC(2027, 0, 1);
const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
});

describe('drain clock cap vs. a reset or new guard', () => {
  it('a sequencer started (new log / guard never drained) while its clock is 3 days ahead must not lose records sealed with correct clocks', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const store = new MemoryAuditStore();
    // A log whose appends so far all came through the sequencer's own process: its stored guard
    // never saw a drained claim (horizon 0).
    let log = await AuditLog.open({ store, signerKey: keys.signerKey });
    await log.append(sampleEvent(1));
    await log.close();
    vi.setSystemTime(T0 + 3 * DAY); // restart with a bad RTC
    log = await AuditLog.open({ store, signerKey: keys.signerKey });
    const P = new OutboxProducer(); // another instance, correct clock
    await store.enqueue(sealOutboxRecord(rk.mac, [entry(2)], false, P.next(T0 + 1000)));
    await log.flush();
    vi.setSystemTime(T0 + 2000); // corrected
    for (const n of [3, 4]) await store.enqueue(sealOutboxRecord(rk.mac, [entry(n)], false, P.next()));
    const size = (await log.flush()).size;
    const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
    const q = log.stats().quarantined;
    await log.close();
    expect(q, `log: ${ids.join(',')}`).toBe(0);
    for (const n of [2, 3, 4]) expect(ids).toContain(sampleEvent(n).id);
  });
});
