/**
 * a repair that resets the replay guard sets its horizon to the repairing host's
 * Date.now(). If that clock is a little behind the clock the producers sealed with (it went back
 * a bit — an NTP step — or another host's clock is a second ahead), records integrated just
 * before the repair carry sealing times after the new horizon and are admitted again: the same
 * event twice in the log, although the repair "refuses every record sealed before the repair".
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { type OutboxRecord, OutboxProducer, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/attack2-repair-clock', new Uint8Array(32).fill(75));
const rk = recordKeys(keys.signerKey);
const copy = (r: OutboxRecord): OutboxRecord => ({ bundle: r.bundle.slice(), flags: r.flags, mac: r.mac.slice() });
const T0 = Date.UTC(2027, 0, 1);

afterEach(() => {
  vi.useRealTimers();
});

describe('the reset horizon vs. a clock a little behind', () => {
  it('a record integrated before a resetting repair is refused afterwards, even if the clock stepped back 2 s', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const store = new MemoryAuditStore();
    let log = await AuditLog.open({ store, signerKey: keys.signerKey });
    vi.setSystemTime(T0 + 5000);
    // The event is made and sealed at T0+5 s by the producer's clock (its time is in the entry).
    const r = sealOutboxRecord(rk.mac, [encodeEntry({ ...sampleEvent(1), time: new Date(T0 + 5000).toISOString() })], false, new OutboxProducer().next()); // sealed at T0+5 s
    await store.enqueue(copy(r));
    await log.flush(); // integrated
    await log.close();
    vi.setSystemTime(T0 + 3000); // the clock steps back 2 s
    store.storedGuard = new Uint8Array(200); // the attacker damages the guard: the operator repairs (reset)
    log = await AuditLog.open({ store, signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    await store.enqueue(copy(r)); // the attacker replays r, sealed (by the producer's clock) before the repair
    const size = (await log.flush()).size;
    const ids = (await store.read(0, size)).map((e) => decodeEntry(e).id);
    await log.close();
    expect(ids.filter((id) => id === sampleEvent(1).id), ids.join(',')).toHaveLength(1);
  });
});
