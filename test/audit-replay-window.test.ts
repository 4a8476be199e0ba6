/**
 * The replay horizon vs clocks and configuration (outside-style attack on the replay guard,
 * 2026-11-30): a larger replayWindowMs after a restart must not re-admit a record the guard
 * forgot under a smaller one; one round of a sequencer whose clock jumped ahead must not push the
 * horizon past records sealed with correct clocks.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { type OutboxRecord, OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/replay-window', new Uint8Array(32).fill(44));
const rk = recordKeys(keys.signerKey);
const entry = (n: number) => encodeEntry(sampleEvent(n));
const copy = (r: OutboxRecord): OutboxRecord => ({ bundle: r.bundle.slice(), flags: r.flags, mac: r.mac.slice() });
const T0 = Date.UTC(2027, 0, 1);

afterEach(() => {
  vi.useRealTimers();
});

describe('replay guard vs. a changed replayWindowMs', () => {
  it('a record forgotten under a 60 s window must not be re-admitted by a sequencer with a 24 h window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const store = new MemoryAuditStore();
    const a = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: 60_000 });
    const P = new OutboxProducer();
    const r = sealOutboxRecord(rk.mac, [entry(1)], false, P.next()); // sealed at T0
    await store.enqueue(copy(r));
    await a.flush();
    vi.setSystemTime(T0 + 5 * 60_000); // 5 minutes later: a drained round forgets P
    await store.enqueue(sealOutboxRecord(rk.mac, [entry(2)], false, new OutboxProducer().next()));
    await a.flush();
    await a.close();

    // The operator raises the window (config change); the attacker replays r (sealed 5 min ago).
    const b = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: 86_400_000 });
    await store.enqueue(copy(r));
    const size = (await b.flush()).size;
    const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
    await b.close();
    expect(ids.filter((id) => id === sampleEvent(1).id)).toHaveLength(1);
  });
});

describe('genuine records vs. a sequencer clock that jumped forward once', () => {
  it('after one round at a wrong (future) time, records sealed with correct clocks are still integrated', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const store = new MemoryAuditStore();
    const seq = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: 86_400_000 });
    await store.enqueue(sealOutboxRecord(rk.mac, [entry(1)], false, new OutboxProducer().next()));
    vi.setSystemTime(T0 + 3 * 86_400_000); // the sequencer host's clock jumps 3 days ahead (bad RTC / NTP step)…
    await seq.flush();
    vi.setSystemTime(T0 + 1000); // …and is corrected a moment later
    // Producers with correct clocks keep recording: every acknowledged record must be integrated.
    const P = new OutboxProducer();
    for (const n of [2, 3, 4]) await store.enqueue(sealOutboxRecord(rk.mac, [entry(n)], false, P.next()));
    const size = (await seq.flush()).size;
    const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
    const q = seq.stats().quarantined;
    await seq.close();
    expect(q).toBe(0);
    expect(ids).toEqual([1, 2, 3, 4].map((n) => sampleEvent(n).id));
  });
});
