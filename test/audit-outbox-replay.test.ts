/**
 * Outbox replay (SECURITY.md, docs/AUDIT.md §4.3): someone who can write the audit store but
 * holds no log key copies a genuine, already integrated outbox record back into the outbox. The
 * sequencer must quarantine it, never sign its entries into the log a second time — on every
 * store — and its replay guard must hold against being forged, rolled back or removed.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { type OutboxId, OutboxProducer, openOutboxRecord, recordKeys, sealOutboxRecord } from '../src/audit/records.js';
import { MAX_RUNS_PER_PRODUCER, ReplayGuard } from '../src/audit/replay-guard.js';
import { type AuditStore, MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { type StoreEnv, copyRecord, storeEnvs } from './support/audit-replay.js';

const keys = generateNoteKey('keywarden.example/replay', new Uint8Array(32).fill(21));
const rk = recordKeys(keys.signerKey);
const WINDOW = 60_000;
/** A tree head for a guard to be bound to. */
const head = (size: number) => ({ size, root: new Uint8Array(32).fill(size % 256) });
const entry = (n: number) => encodeEntry(sampleEvent(n));
const copy = copyRecord;
/** The ids of the entries in the log as of a flush's receipt (the log's own view may trail it by a moment). */
const ids = async (store: AuditStore, flushed: Promise<{ size: number }>) => (await store.read(0, (await flushed).size)).map((e) => decodeEntry(e).id);

describe('ReplayGuard', () => {
  const producers = [1, 2, 3, 4, 5, 6].map((n) => new Uint8Array(16).fill(n));
  /** Sealing time of counter c of producer p: never decreasing in c, as OutboxProducer makes it. */
  const timeOf = (p: number, c: number, step: number) => 1_000_000 + c * step + p;

  it('for all arrival orders, duplicates and drains: refuses exactly the records integrated before or sealed before the horizon', () => {
    const event = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('record' as const), p: fc.nat({ max: 5 }), c: fc.nat({ max: 60 }) }), weight: 8 },
      { arbitrary: fc.record({ kind: fc.constant('drain' as const), at: fc.nat({ max: 80 }) }), weight: 2 },
      { arbitrary: fc.constant({ kind: 'reseal' as const }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 30 }), (events, step, w) => {
        // A window of a few counters' time: drains forget producers and merge gaps often.
        const window = w * step;
        let guard = ReplayGuard.empty({ windowMs: window });
        const consumed = new Set<string>();
        let horizon = 0;
        let newest = 0;
        let size = 0;
        for (const e of events) {
          if (e.kind === 'drain') {
            // The sequencer's clock, in the same units as the sealing times; the horizon never
            // passes the newest record integrated minus the window, and never moves back.
            const at = 1_000_000 + e.at * step;
            horizon = Math.max(horizon, Math.min(at, newest) - window);
            guard.drained(at);
            continue;
          }
          if (e.kind === 'reseal') {
            // Stored and opened again: the same answers afterwards.
            const head = { size: ++size, root: new Uint8Array(32).fill(size % 256) };
            guard = ReplayGuard.open(rk.mac, guard.seal(rk.mac, head), head, { windowMs: window });
            continue;
          }
          const id: OutboxId = { producer: producers[e.p]!, counter: e.c, time: timeOf(e.p, e.c, step) };
          const key = `${e.p}/${e.c}`;
          // Safety: every record integrated before is refused. Liveness: one that was not, sealed
          // at or after the horizon, is taken. (One sealed before it may be either: the guard
          // still knows its producer, or has merged its gap, or has forgotten the producer.)
          const verdict = guard.check(id);
          if (consumed.has(key)) expect(verdict).toBeDefined();
          else if (id.time >= horizon) expect(verdict).toBeUndefined();
          if (verdict === undefined) {
            guard.consume(id);
            consumed.add(key);
            newest = Math.max(newest, id.time);
          }
        }
        // Small: at most one run per gap, and nothing of a producer whose records are all behind the horizon.
        const { producers: kept, runs } = guard.size;
        expect(kept).toBeLessThanOrEqual(6);
        expect(runs).toBeLessThanOrEqual(consumed.size);
      }),
      { numRuns: 500 },
    );
  });

  it('merges the gaps and forgets the producers that the horizon covers', () => {
    const guard = ReplayGuard.empty({ windowMs: 100 });
    const p = new Uint8Array(16).fill(7);
    // Another producer's record sealed later: the horizon may then follow the drains.
    guard.consume({ producer: new Uint8Array(16).fill(9), counter: 0, time: 5000 });
    // Counters 0..99 with every third missing (rolled back): 34 runs.
    for (let c = 0; c < 100; c++) if (c % 3 !== 1) guard.consume({ producer: p, counter: c, time: 1000 + c });
    expect(guard.size).toEqual({ producers: 2, runs: 35 });
    guard.drained(1000 + 50 + 100); // horizon at time 1050: the gaps below counter 50 go
    expect(guard.size.runs).toBe(19); // the 17 runs starting below counter 50 are one now
    expect(guard.check({ producer: p, counter: 1, time: 1001 })).toBe('replayed'); // a merged gap counts as integrated
    expect(guard.check({ producer: p, counter: 97, time: 1097 })).toBeUndefined();
    expect(guard.check({ producer: p, counter: 96, time: 1096 })).toBe('replayed');
    guard.drained(1000 + 200 + 100);
    expect(guard.size).toEqual({ producers: 1, runs: 1 }); // p is forgotten
    expect(guard.check({ producer: p, counter: 96, time: 1096 })).toBe('expired');
    // Stored and opened with a larger window (a restart with another replayWindowMs): the horizon
    // stays where it was, so what the guard forgot is still refused.
    const wider = ReplayGuard.open(rk.mac, guard.seal(rk.mac, head(1)), head(1), { windowMs: 10_000 });
    expect(wider.horizon).toBe(1200);
    wider.drained(1000 + 300);
    expect(wider.horizon).toBe(1200);
    expect(wider.check({ producer: p, counter: 96, time: 1096 })).toBe('expired');
  });

  it('a producer it forgot and learns again: its records from before are still refused (by the horizon)', () => {
    const g = ReplayGuard.empty({ windowMs: 10 });
    const p0 = new Uint8Array(16).fill(1);
    const p1 = new Uint8Array(16).fill(2);
    g.consume({ producer: p0, counter: 1, time: 1001 });
    g.consume({ producer: p1, counter: 60, time: 1060 });
    g.drained(1080); // horizon 1050: p0 is forgotten
    expect(g.size.producers).toBe(1);
    expect(g.check({ producer: p0, counter: 55, time: 1055 })).toBeUndefined();
    g.consume({ producer: p0, counter: 55, time: 1055 }); // p0 is back
    expect(g.check({ producer: p0, counter: 1, time: 1001 })).toBe('expired'); // its old record replayed
    expect(g.check({ producer: p0, counter: 56, time: 1056 })).toBeUndefined();
    expect(g.check({ producer: p0, counter: 54, time: 1054 })).toBeUndefined(); // below, but after the horizon
    g.consume({ producer: p0, counter: 54, time: 1054 });
    expect(g.check({ producer: p0, counter: 54, time: 1054 })).toBe('replayed');
  });

  it('keeps at most MAX_RUNS_PER_PRODUCER runs a producer: the oldest gap is closed first', () => {
    const guard = ReplayGuard.empty({ windowMs: WINDOW });
    const p = new Uint8Array(16).fill(8);
    // Every other counter (a rolled-back transaction between each two): one run each.
    for (let c = 0; c < 2 * (MAX_RUNS_PER_PRODUCER + 10); c += 2) guard.consume({ producer: p, counter: c, time: 1000 + c });
    expect(guard.size.runs).toBe(MAX_RUNS_PER_PRODUCER);
    expect(guard.check({ producer: p, counter: 1, time: 1001 })).toBe('replayed'); // the oldest gaps are closed
    expect(guard.check({ producer: p, counter: 2 * (MAX_RUNS_PER_PRODUCER + 10) - 3, time: 1000 })).toBeUndefined(); // the newest are open
    expect(guard.seal(rk.mac, head(1)).length).toBeLessThan(MAX_RUNS_PER_PRODUCER * 24 + 200);
  });

  it('a stored guard opens only with its key and exactly its tree head, whole', () => {
    const guard = ReplayGuard.empty({ windowMs: WINDOW });
    const id = { producer: new Uint8Array(16).fill(4), counter: 5, time: 77 };
    guard.consume(id);
    const sealed = guard.seal(rk.mac, head(10));
    const o = { windowMs: WINDOW };
    expect(ReplayGuard.open(rk.mac, sealed, head(10), o).check(id)).toBe('replayed');
    // Another head — smaller (a repair cut the log back and the old guard was put back), larger
    // (an older guard), or the same size with another root — is a rolled-back or replaced guard.
    for (const other of [head(7), head(11), { size: 10, root: new Uint8Array(32).fill(99) }]) {
      expect(() => ReplayGuard.open(rk.mac, sealed, other, o)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('another tree head') }));
    }
    expect(() => ReplayGuard.open(recordKeys(generateNoteKey('keywarden.example/replay', new Uint8Array(32).fill(22)).signerKey).mac, sealed, head(10), o))
      .toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
    expect(() => ReplayGuard.open(rk.mac, undefined, head(1), o)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('missing') }));
    expect(ReplayGuard.open(rk.mac, undefined, head(0), o).size).toEqual({ producers: 0, runs: 0 });
    fc.assert(
      fc.property(fc.nat({ max: sealed.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const bad = sealed.slice();
        bad[at]! ^= flip;
        expect(() => ReplayGuard.open(rk.mac, bad, head(10), o)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
      }),
    );
    for (const len of [0, 1, 20, sealed.length - 1]) expect(() => ReplayGuard.open(rk.mac, sealed.subarray(0, len), head(0), o)).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
    // A repair back to the guard's own head keeps it; to any other head (a guard of a later
    // head cannot be told from one of an earlier history), or with a guard lost or not the log's
    // own, it is reset: everything sealed before the repair is refused.
    expect(ReplayGuard.afterRepair(rk.mac, sealed, head(10), 5000, 0, o).check(id)).toBe('replayed');
    for (const [stored, at] of [[sealed, head(7)], [sealed, head(12)], [undefined, head(7)], [sealed.map((b) => b ^ 1), head(7)]] as const) {
      const reset = ReplayGuard.afterRepair(rk.mac, stored, at, 5000, 0, o);
      expect(reset.horizon).toBe(5000);
      expect(reset.check({ ...id, counter: 6, time: 4999 })).toBe('expired');
      expect(reset.check({ ...id, counter: 6, time: 5000 })).toBeUndefined();
    }
    // Whatever this host's clock says, the reset horizon passes what the guard knew was sealed, and the caller's floor.
    expect(ReplayGuard.afterRepair(rk.mac, sealed, head(7), 10, 0, o).horizon).toBe(78);
    expect(ReplayGuard.afterRepair(rk.mac, undefined, head(7), 10, 9000, o).horizon).toBe(9000);
  });

  it('an outbox record binds its id: changing any id byte fails the MAC', () => {
    const rec = sealOutboxRecord(rk.mac, [entry(1)], false, new OutboxProducer().next());
    expect(openOutboxRecord(rk.mac, rec.bundle, rec.flags, rec.mac)?.entries.length).toBe(1);
    for (let i = 0; i < 32; i++) {
      const bad = rec.bundle.slice();
      bad[i]! ^= 1;
      expect(openOutboxRecord(rk.mac, bad, rec.flags, rec.mac)).toBeUndefined();
    }
  });

  it('a producer\'s sealing times never go back, whatever the clock does', () => {
    const p = new OutboxProducer();
    expect([p.next(5000), p.next(4000), p.next(6000)].map((id) => [id.counter, id.time])).toEqual([[0, 5000], [1, 5000], [2, 6000]]);
  });
});

/** The attack on one store kind; `rollback` puts an older stored guard back as the attacker would. */
function replaySuite(name: string, make: () => Promise<Omit<StoreEnv, 'forgeHead'>>) {
  describe(`outbox replay on ${name}`, () => {
    it('a genuine record copied back into the outbox after it was integrated is quarantined, not signed in twice', async () => {
      const env = await make();
      try {
        const store = await env.open();
        const log = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: WINDOW });
        const producer = new OutboxProducer();
        const first = sealOutboxRecord(rk.mac, [entry(1), entry(2)], false, producer.next());
        const waiting = sealOutboxRecord(rk.mac, [entry(3)], true, producer.next());
        await store.enqueue(copy(first));
        await store.enqueue(copy(waiting));
        expect(await ids(store, log.flush())).toEqual([1, 2, 3].map((n) => sampleEvent(n).id));
        // The replays: both records again, byte for byte, and once more in one claim with a new one.
        await store.enqueue(copy(first));
        await store.enqueue(copy(waiting));
        await log.flush();
        await store.enqueue(copy(first));
        await store.enqueue(sealOutboxRecord(rk.mac, [entry(4)], false, producer.next()));
        await store.enqueue(copy(first));
        expect(await ids(store, log.flush())).toEqual([1, 2, 3, 4].map((n) => sampleEvent(n).id));
        await vi.waitFor(() => expect(log.stats().quarantined).toBe(4));
        expect(log.stats().replayGuard).toEqual({ producers: 2, runs: 2 }); // this producer and the log's own (its flushes)
        await log.close();
        // A new sequencer (reopened from the store) remembers them.
        const store2 = await env.open();
        const again = await AuditLog.open({ store: store2, signerKey: keys.signerKey, replayWindowMs: WINDOW });
        await again.flush(); // moves the horizon forward first
        await store2.enqueue(copy(first));
        expect(await ids(store2, again.flush())).toEqual([1, 2, 3, 4].map((n) => sampleEvent(n).id));
        await vi.waitFor(() => expect(again.stats().quarantined).toBe(1));
        const report = verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store2.read(0, (await again.flush()).size), checkpoints: await store2.checkpoints(), head: (await store2.state()).head! });
        expect(report.ok).toBe(true);
        await again.close();
      } finally {
        await env.cleanup();
      }
    });

    it('a record sealed before the replay window is quarantined: its counter may be one the guard forgot', async () => {
      const env = await make();
      try {
        const store = await env.open();
        const log = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: WINDOW });
        await log.flush(); // a drained claim: the horizon is now - WINDOW
        const producer = new OutboxProducer();
        await store.enqueue(sealOutboxRecord(rk.mac, [entry(5)], false, producer.next(Date.now() - 2 * WINDOW)));
        await store.enqueue(sealOutboxRecord(rk.mac, [entry(6)], false, producer.next()));
        expect(await ids(store, log.flush())).toEqual([sampleEvent(6).id]);
        await vi.waitFor(() => expect(log.stats().quarantined).toBe(1));
        await log.close();
      } finally {
        await env.cleanup();
      }
    });

    it('an older guard put back (to re-admit a record), a forged one or none at all stops the sequencer: the log is refused', async () => {
      const env = await make();
      try {
        const store = await env.open();
        const log = await AuditLog.open({ store, signerKey: keys.signerKey, replayWindowMs: WINDOW });
        const producer = new OutboxProducer();
        const first = sealOutboxRecord(rk.mac, [entry(7)], false, producer.next());
        await store.enqueue(copy(first));
        await log.flush();
        const old = await env.getGuard();
        expect(old).toBeDefined();
        await store.enqueue(sealOutboxRecord(rk.mac, [entry(8)], false, producer.next()));
        await log.flush();
        await log.close();
        const forged = (await env.getGuard())!.slice();
        forged[forged.length - 1]! ^= 1;
        for (const [what, guard] of [['rolled back', old], ['forged', forged], ['removed', undefined]] as const) {
          await env.setGuard(guard);
          await expect(AuditLog.open({ store: await env.open(), signerKey: keys.signerKey, replayWindowMs: WINDOW }), what).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
        }
      } finally {
        await env.cleanup();
      }
    });
  });
}

replaySuite('MemoryAuditStore', async () => {
  const store = new MemoryAuditStore();
  return {
    open: async () => store,
    cleanup: async () => {},
    getGuard: async () => (await store.state()).guard,
    setGuard: async (g) => {
      store.storedGuard = g;
    },
  };
});

const envs = storeEnvs('replay');
replaySuite('FileAuditStore', envs.file);
replaySuite('PostgresAuditStore', envs.pg);
