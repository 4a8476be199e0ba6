/**
 * Contract tests for any KeyStore implementation (src/store/types.ts). Register them with
 *
 *   keyStoreContract('MemoryKeyStore', () => new MemoryKeyStore());
 *
 * A database-backed store passes a factory (and a cleanup) for its own connection. Every test
 * uses conversation ids unique to the test, so a store shared between tests also works.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { KeyRecord } from '../../src/keys/records.js';
import type { InsertResult, KeyStore } from '../../src/store/types.js';

let idCounter = 0;
/** A conversation id no other test (or fast-check run) uses. */
export function freshConversationId(label = 'conv'): string {
  idCounter++;
  return `${label}:${process.pid}:${Date.now().toString(36)}:${idCounter}`;
}

/** A KeyRecord fixture; `version` 1 active by default, dates derived from `t` (ms). */
export function makeRecord(conversationId: string, overrides: Partial<KeyRecord> = {}): KeyRecord {
  const version = overrides.version ?? 1;
  const t = 1_700_000_000_000 + version * 60_000;
  return {
    conversationId,
    version,
    masterKeyId: 'test:master-key',
    wrappedKey: Uint8Array.from({ length: 61 }, (_, i) => (i * 7 + version * 31) & 0xff),
    suite: 'AES-256-GCM',
    state: 'active',
    createdAt: new Date(t - 1000),
    activatedAt: new Date(t),
    supersededAt: null,
    sealedReserved: 0,
    shreddedAt: null,
    shredScope: null,
    ...overrides,
  };
}

/** Distinct wrapped-key bytes per tag, to tell concurrent writers apart. */
function taggedKey(tag: number): Uint8Array {
  const b = new Uint8Array(61);
  b[0] = 1;
  b[1] = tag >>> 8;
  b[2] = tag & 0xff;
  for (let i = 3; i < b.length; i++) b[i] = (tag * 13 + i) & 0xff;
  return b;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Sentinel extends Error {}

/** Inserts versions 1..n of a conversation (each superseding the previous). */
async function seedVersions(store: KeyStore, conversationId: string, n: number, sealedReserved = 0): Promise<KeyRecord[]> {
  const first = await store.insertFirst(makeRecord(conversationId, { sealedReserved }));
  expect(first.inserted).toBe(true);
  for (let v = 2; v <= n; v++) {
    const res = await store.insertNext(makeRecord(conversationId, { version: v, sealedReserved }), v - 1);
    expect(res.inserted).toBe(true);
  }
  return store.listVersions(conversationId);
}

export function keyStoreContract(
  name: string,
  makeStore: () => Promise<KeyStore> | KeyStore,
  cleanup?: (s: KeyStore) => Promise<void>,
): void {
  describe(name, () => {
    let store: KeyStore;

    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      if (cleanup) await cleanup(store);
    });

    describe('reads of an unknown conversation', () => {
      it('getLatest/getVersion return undefined and listVersions returns []', async () => {
        const c = freshConversationId();
        expect(await store.getLatest(c)).toBeUndefined();
        expect(await store.getVersion(c, 1)).toBeUndefined();
        expect(await store.listVersions(c)).toEqual([]);
      });
    });

    describe('insertFirst', () => {
      it('stores version 1 and returns it; reads return an equal record', async () => {
        const c = freshConversationId();
        const rec = makeRecord(c, { sealedReserved: 17 });
        const res = await store.insertFirst(rec);
        expect(res.inserted).toBe(true);
        expect(res.record).toEqual(rec);
        expect(await store.getLatest(c)).toEqual(rec);
        expect(await store.getVersion(c, 1)).toEqual(rec);
        expect(await store.getVersion(c, 2)).toBeUndefined();
        expect(await store.listVersions(c)).toEqual([rec]);
      });

      it('is insert-if-absent: a second call stores nothing and returns the existing record', async () => {
        const c = freshConversationId();
        const first = makeRecord(c, { wrappedKey: taggedKey(1) });
        await store.insertFirst(first);
        const second = await store.insertFirst(makeRecord(c, { wrappedKey: taggedKey(2), masterKeyId: 'other' }));
        expect(second.inserted).toBe(false);
        expect(second.record).toEqual(first);
        expect(await store.listVersions(c)).toEqual([first]);
      });

      it('returns the active version when the conversation already has several', async () => {
        const c = freshConversationId();
        const rows = await seedVersions(store, c, 3);
        const res = await store.insertFirst(makeRecord(c, { wrappedKey: taggedKey(99) }));
        expect(res.inserted).toBe(false);
        expect(res.record).toEqual(rows[2]);
        expect(res.record.state).toBe('active');
        expect(await store.listVersions(c)).toEqual(rows);
      });

      it('100 concurrent calls for one conversation: exactly one inserts, all return the winner', async () => {
        const c = freshConversationId();
        const results = await Promise.all(
          Array.from({ length: 100 }, (_, i) => store.insertFirst(makeRecord(c, { wrappedKey: taggedKey(i + 1) }))),
        );
        const winners = results.filter((r) => r.inserted);
        expect(winners).toHaveLength(1);
        const winnerKey = winners[0]!.record.wrappedKey;
        // The winner's record is the one it submitted.
        const winnerIndex = results.indexOf(winners[0]!);
        expect(winnerKey).toEqual(taggedKey(winnerIndex + 1));
        for (const r of results) expect(r.record.wrappedKey).toEqual(winnerKey);
        const rows = await store.listVersions(c);
        expect(rows).toHaveLength(1);
        expect(rows[0]!.wrappedKey).toEqual(winnerKey);
        expect((await store.getLatest(c))!.wrappedKey).toEqual(winnerKey);
      });

      it('keeps conversations apart, including ids that are prefixes of one another', async () => {
        const base = freshConversationId();
        const ids = [base, `${base}#1`, `${base}:`, `${base}\u0000`, `${base}é`];
        for (const [i, id] of ids.entries()) await store.insertFirst(makeRecord(id, { wrappedKey: taggedKey(i + 1) }));
        for (const [i, id] of ids.entries()) {
          const rows = await store.listVersions(id);
          expect(rows).toHaveLength(1);
          expect(rows[0]!.conversationId).toBe(id);
          expect(rows[0]!.wrappedKey).toEqual(taggedKey(i + 1));
        }
      });
    });

    describe('returned records are copies', () => {
      function mutate(r: KeyRecord): void {
        r.wrappedKey.fill(0xee);
        r.createdAt.setTime(0);
        r.activatedAt.setTime(0);
        r.supersededAt?.setTime(0);
        r.state = r.state === 'active' ? 'superseded' : 'active';
        r.sealedReserved += 1000;
        r.masterKeyId = 'mutated';
        r.version += 10;
        r.conversationId = 'mutated';
      }

      it('mutating the record passed to insertFirst/insertNext afterwards changes nothing stored', async () => {
        const c = freshConversationId();
        const r1 = makeRecord(c);
        const expected1 = makeRecord(c);
        await store.insertFirst(r1);
        mutate(r1);
        const r2 = makeRecord(c, { version: 2 });
        const expected2 = makeRecord(c, { version: 2 });
        await store.insertNext(r2, 1);
        mutate(r2);
        const rows = await store.listVersions(c);
        expect(rows[0]).toEqual({ ...expected1, state: 'superseded', supersededAt: expected2.activatedAt });
        expect(rows[1]).toEqual(expected2);
      });

      it('mutating records returned by every method changes nothing stored', async () => {
        const c = freshConversationId();
        await seedVersions(store, c, 2, 5);
        const before = await store.listVersions(c);
        const returned: KeyRecord[] = [
          (await store.getLatest(c))!,
          (await store.getVersion(c, 1))!,
          (await store.getVersion(c, 2))!,
          ...(await store.listVersions(c)),
          (await store.insertFirst(makeRecord(c))).record,
          (await store.insertNext(makeRecord(c, { version: 3 }), 1)).record, // stale: returns active
        ];
        for (const r of returned) mutate(r);
        expect(await store.listVersions(c)).toEqual(before);
        expect(await store.getLatest(c)).toEqual(before[1]);
        expect(await store.getVersion(c, 1)).toEqual(before[0]);
      });

      it('the record returned by a successful insert is a copy too', async () => {
        const c = freshConversationId();
        const res1 = await store.insertFirst(makeRecord(c));
        mutate(res1.record);
        const res2 = await store.insertNext(makeRecord(c, { version: 2 }), 1);
        mutate(res2.record);
        const rows = await store.listVersions(c);
        expect(rows.map((r) => [r.version, r.state, r.conversationId])).toEqual([
          [1, 'superseded', c],
          [2, 'active', c],
        ]);
        expect(rows[1]).toEqual(makeRecord(c, { version: 2 }));
      });
    });

    describe('insertNext (compare-and-set)', () => {
      it('with the right expected version: supersedes the old one at the new activatedAt, stores the new one active', async () => {
        const c = freshConversationId();
        const v1 = makeRecord(c, { sealedReserved: 9 });
        await store.insertFirst(v1);
        const v2 = makeRecord(c, { version: 2, activatedAt: new Date(1_800_000_000_123) });
        const res = await store.insertNext(v2, 1);
        expect(res).toEqual({ inserted: true, record: v2 } satisfies InsertResult);
        const old = await store.getVersion(c, 1);
        expect(old).toEqual({ ...v1, state: 'superseded', supersededAt: new Date(1_800_000_000_123) });
        expect(await store.getLatest(c)).toEqual(v2);
        expect(await store.getVersion(c, 2)).toEqual(v2);
      });

      it('listVersions is oldest first; only the newest is active; each supersededAt is the next activatedAt', async () => {
        const c = freshConversationId();
        const rows = await seedVersions(store, c, 4);
        expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4]);
        expect(rows.map((r) => r.state)).toEqual(['superseded', 'superseded', 'superseded', 'active']);
        for (let i = 0; i < 3; i++) expect(rows[i]!.supersededAt).toEqual(rows[i + 1]!.activatedAt);
        expect(rows[3]!.supersededAt).toBeNull();
      });

      it('with a stale expected version: stores nothing and returns the current active record', async () => {
        const c = freshConversationId();
        const before = await seedVersions(store, c, 2);
        const stale = await store.insertNext(makeRecord(c, { version: 2, wrappedKey: taggedKey(7) }), 1);
        expect(stale.inserted).toBe(false);
        expect(stale.record).toEqual(before[1]);
        expect(await store.listVersions(c)).toEqual(before);
      });

      it('with an expected version ahead of the active one: stores nothing and returns the active record', async () => {
        const c = freshConversationId();
        const before = await seedVersions(store, c, 2);
        const ahead = await store.insertNext(makeRecord(c, { version: 4 }), 3);
        expect(ahead.inserted).toBe(false);
        expect(ahead.record).toEqual(before[1]);
        expect(await store.listVersions(c)).toEqual(before);
      });

      it('20 concurrent calls from the same expected version: exactly one wins, the others get the winner', async () => {
        const c = freshConversationId();
        await store.insertFirst(makeRecord(c));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.insertNext(makeRecord(c, { version: 2, wrappedKey: taggedKey(i + 1) }), 1)),
        );
        const winners = results.filter((r) => r.inserted);
        expect(winners).toHaveLength(1);
        const winnerKey = taggedKey(results.indexOf(winners[0]!) + 1);
        for (const r of results) {
          expect(r.record.version).toBe(2);
          expect(r.record.state).toBe('active');
          expect(r.record.wrappedKey).toEqual(winnerKey);
        }
        const rows = await store.listVersions(c);
        expect(rows.map((r) => [r.version, r.state])).toEqual([
          [1, 'superseded'],
          [2, 'active'],
        ]);
        expect(rows[1]!.wrappedKey).toEqual(winnerKey);
      });
    });

    describe('reserveMessages', () => {
      it('grants the full count below the limit and accumulates', async () => {
        const c = freshConversationId();
        await store.insertFirst(makeRecord(c, { sealedReserved: 10 }));
        expect(await store.reserveMessages(c, 1, 25, 1000)).toBe(25);
        expect(await store.reserveMessages(c, 1, 5, 1000)).toBe(5);
        expect((await store.getLatest(c))!.sealedReserved).toBe(40);
      });

      it('grants partially near the limit, then 0 once exhausted', async () => {
        const c = freshConversationId();
        await store.insertFirst(makeRecord(c, { sealedReserved: 95 }));
        expect(await store.reserveMessages(c, 1, 10, 100)).toBe(5);
        expect((await store.getLatest(c))!.sealedReserved).toBe(100);
        expect(await store.reserveMessages(c, 1, 1, 100)).toBe(0);
        expect((await store.getLatest(c))!.sealedReserved).toBe(100);
      });

      it('returns 0 and changes nothing for a superseded version, a missing version or a missing conversation', async () => {
        const c = freshConversationId();
        const before = await seedVersions(store, c, 2, 3);
        expect(await store.reserveMessages(c, 1, 10, 1000)).toBe(0);
        expect(await store.reserveMessages(c, 3, 10, 1000)).toBe(0);
        expect(await store.reserveMessages(freshConversationId(), 1, 10, 1000)).toBe(0);
        expect(await store.listVersions(c)).toEqual(before);
        // The active version still reserves.
        expect(await store.reserveMessages(c, 2, 10, 1000)).toBe(10);
      });

      it('concurrent reservations never exceed the limit and the grants add up (property)', async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 1, max: 300 }),
            fc.integer({ min: 0, max: 300 }),
            fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 40 }),
            async (limit, initialRaw, counts) => {
              const initial = Math.min(initialRaw, limit);
              const c = freshConversationId('reserve');
              await store.insertFirst(makeRecord(c, { sealedReserved: initial }));
              const grants = await Promise.all(counts.map((n) => store.reserveMessages(c, 1, n, limit)));
              const final = (await store.getLatest(c))!.sealedReserved;
              grants.forEach((g, i) => {
                expect(Number.isInteger(g)).toBe(true);
                expect(g).toBeGreaterThanOrEqual(0);
                expect(g).toBeLessThanOrEqual(counts[i]!);
              });
              expect(final).toBeLessThanOrEqual(limit);
              expect(grants.reduce((a, b) => a + b, 0)).toBe(final - initial);
              // Bounded, not lossy: the whole demand is served up to the limit.
              expect(final).toBe(Math.min(limit, initial + counts.reduce((a, b) => a + b, 0)));
            },
          ),
          { numRuns: 40 },
        );
      });
    });

    describe('transaction', () => {
      it('commits every write when fn resolves and returns its value', async () => {
        const a = freshConversationId();
        const b = freshConversationId();
        await store.insertFirst(makeRecord(b, { sealedReserved: 1 }));
        const out = await store.transaction(async (tx) => {
          expect((await tx.insertFirst(makeRecord(a))).inserted).toBe(true);
          expect(await tx.reserveMessages(a, 1, 7, 100)).toBe(7);
          expect((await tx.insertNext(makeRecord(b, { version: 2 }), 1)).inserted).toBe(true);
          expect(await tx.reserveMessages(b, 2, 4, 100)).toBe(4);
          return 'done';
        });
        expect(out).toBe('done');
        expect(await store.listVersions(a)).toEqual([makeRecord(a, { sealedReserved: 7 })]);
        const rowsB = await store.listVersions(b);
        expect(rowsB.map((r) => [r.version, r.state, r.sealedReserved])).toEqual([
          [1, 'superseded', 1],
          [2, 'active', 4],
        ]);
      });

      it('reads inside the transaction see its own uncommitted writes', async () => {
        const c = freshConversationId();
        await store.transaction(async (tx) => {
          await tx.insertFirst(makeRecord(c));
          expect((await tx.getLatest(c))?.version).toBe(1);
          await tx.insertNext(makeRecord(c, { version: 2 }), 1);
          expect((await tx.getLatest(c))?.version).toBe(2);
          expect((await tx.getVersion(c, 1))?.state).toBe('superseded');
          expect((await tx.listVersions(c)).map((r) => r.version)).toEqual([1, 2]);
        });
      });

      it('rolls back inserts, a supersede and reservations when fn rejects, and rethrows the same error', async () => {
        const fresh = freshConversationId();
        const existing = freshConversationId();
        const before = await seedVersions(store, existing, 1, 11);
        const sentinel = new Sentinel('boom');
        const p = store.transaction(async (tx) => {
          await tx.insertFirst(makeRecord(fresh));
          expect(await tx.reserveMessages(fresh, 1, 5, 100)).toBe(5);
          expect((await tx.insertNext(makeRecord(existing, { version: 2 }), 1)).inserted).toBe(true);
          expect(await tx.reserveMessages(existing, 2, 6, 100)).toBe(6);
          throw sentinel;
        });
        await expect(p).rejects.toBe(sentinel);
        expect(await store.listVersions(fresh)).toEqual([]);
        expect(await store.getLatest(fresh)).toBeUndefined();
        expect(await store.listVersions(existing)).toEqual(before);
        expect(await store.getLatest(existing)).toEqual(before[0]);
      });

      it('rolls back a reservation on a version that the same transaction then supersedes', async () => {
        const c = freshConversationId();
        const before = await seedVersions(store, c, 1, 5);
        const sentinel = new Sentinel('boom');
        const p = store.transaction(async (tx) => {
          expect(await tx.reserveMessages(c, 1, 10, 100)).toBe(10);
          expect((await tx.insertNext(makeRecord(c, { version: 2 }), 1)).inserted).toBe(true);
          throw sentinel;
        });
        await expect(p).rejects.toBe(sentinel);
        expect(await store.listVersions(c)).toEqual(before);
      });

      type Op =
        | { kind: 'first'; conv: number; tag: number }
        | { kind: 'next'; conv: number; stale: boolean; tag: number }
        | { kind: 'reserve'; conv: number; version: number; count: number; limit: number };
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        fc.record({ kind: fc.constant('first' as const), conv: fc.integer({ min: 0, max: 2 }), tag: fc.integer({ min: 1, max: 999 }) }),
        fc.record({ kind: fc.constant('next' as const), conv: fc.integer({ min: 0, max: 2 }), stale: fc.boolean(), tag: fc.integer({ min: 1, max: 999 }) }),
        fc.record({
          kind: fc.constant('reserve' as const), conv: fc.integer({ min: 0, max: 2 }), version: fc.integer({ min: 1, max: 4 }),
          count: fc.integer({ min: 1, max: 30 }), limit: fc.integer({ min: 1, max: 120 }),
        }),
      );

      /** Applies ops to `s` for conversations `ids` (a missing conversation has no active key: 'next' is skipped). */
      async function apply(s: KeyStore, ids: string[], ops: Op[]): Promise<unknown[]> {
        const out: unknown[] = [];
        for (const op of ops) {
          const c = ids[op.conv]!;
          if (op.kind === 'first') {
            const r = await s.insertFirst(makeRecord(c, { wrappedKey: taggedKey(op.tag) }));
            out.push([r.inserted, r.record.version]);
          } else if (op.kind === 'next') {
            const active = await s.getLatest(c);
            if (!active) {
              out.push('skip');
              continue;
            }
            const expected = op.stale && active.version > 1 ? active.version - 1 : active.version;
            const r = await s.insertNext(makeRecord(c, { version: expected + 1, wrappedKey: taggedKey(op.tag) }), expected);
            out.push([r.inserted, r.record.version]);
          } else {
            out.push(await s.reserveMessages(c, op.version, op.count, op.limit));
          }
        }
        return out;
      }

      async function setup(): Promise<string[]> {
        const ids = [freshConversationId('tx'), freshConversationId('tx'), freshConversationId('tx')];
        await seedVersions(store, ids[0]!, 1, 3); // one active version
        await seedVersions(store, ids[1]!, 2, 50); // superseded v1, active v2
        return ids; // ids[2] has no key
      }
      const snapshot = (ids: string[]) => Promise.all(ids.map((c) => store.listVersions(c)));

      it('any sequence of writes is undone entirely when fn rejects (property)', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (ops) => {
            const ids = await setup();
            const before = await snapshot(ids);
            const sentinel = new Sentinel('rollback');
            await expect(store.transaction(async (tx) => {
              await apply(tx, ids, ops);
              throw sentinel;
            })).rejects.toBe(sentinel);
            expect(await snapshot(ids)).toEqual(before);
          }),
          { numRuns: 60 },
        );
      });

      it('a committed sequence of writes equals the same calls made without a transaction (property)', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (ops) => {
            const inTx = await setup();
            const direct = await setup();
            const outTx = await store.transaction((tx) => apply(tx, inTx, ops));
            const outDirect = await apply(store, direct, ops);
            expect(outTx).toEqual(outDirect);
            const strip = (rows: KeyRecord[][]) => rows.map((rs) => rs.map(({ conversationId: _c, ...rest }) => rest));
            expect(strip(await snapshot(inTx))).toEqual(strip(await snapshot(direct)));
          }),
          { numRuns: 60 },
        );
      });

      it('a call made outside a committing transaction sees either nothing or the committed row', async () => {
        const c = freshConversationId();
        const committed = makeRecord(c, { sealedReserved: 42 });
        let inserted!: () => void;
        const insertedSignal = new Promise<void>((r) => (inserted = r));
        const tx = store.transaction(async (t) => {
          await t.insertFirst(makeRecord(c));
          await t.reserveMessages(c, 1, 42, 100);
          inserted();
          await sleep(25);
        });
        await insertedSignal;
        const outside = store.getLatest(c);
        await tx;
        const seen = await outside;
        if (seen !== undefined) expect(seen).toEqual(committed);
        expect(await store.getLatest(c)).toEqual(committed);
      });

      it('a call made outside a transaction that rolls back never sees its rows', async () => {
        const c = freshConversationId();
        const existing = freshConversationId();
        const before = await seedVersions(store, existing, 1, 2);
        let inserted!: () => void;
        const insertedSignal = new Promise<void>((r) => (inserted = r));
        const sentinel = new Sentinel('rollback');
        const tx = store.transaction(async (t) => {
          await t.insertFirst(makeRecord(c));
          await t.insertNext(makeRecord(existing, { version: 2 }), 1);
          await t.reserveMessages(existing, 2, 9, 100);
          inserted();
          await sleep(25);
          throw sentinel;
        });
        await insertedSignal;
        const outside = Promise.all([store.getLatest(c), store.listVersions(c), store.getLatest(existing), store.listVersions(existing)]);
        await expect(tx).rejects.toBe(sentinel);
        const [activeC, listC, activeExisting, listExisting] = await outside;
        expect(activeC).toBeUndefined();
        expect(listC).toEqual([]);
        expect(activeExisting).toEqual(before[0]);
        expect(listExisting).toEqual(before);
      });

      it('a nested transaction joins the outer one: its writes commit with it', async () => {
        const c = freshConversationId();
        const inner = await store.transaction(async (tx) => {
          await tx.insertFirst(makeRecord(c));
          return tx.transaction(async (tx2) => {
            expect((await tx2.getLatest(c))?.version).toBe(1); // sees the outer's uncommitted write
            await tx2.insertNext(makeRecord(c, { version: 2 }), 1);
            return 'inner';
          });
        });
        expect(inner).toBe('inner');
        expect((await store.listVersions(c)).map((r) => [r.version, r.state])).toEqual([
          [1, 'superseded'],
          [2, 'active'],
        ]);
      });

      it('a nested transaction joins the outer one: its writes roll back with it', async () => {
        const c = freshConversationId();
        const sentinel = new Sentinel('outer');
        await expect(store.transaction(async (tx) => {
          await tx.insertFirst(makeRecord(c));
          await tx.transaction(async (tx2) => {
            await tx2.insertNext(makeRecord(c, { version: 2 }), 1);
            await tx2.reserveMessages(c, 2, 3, 10);
          });
          throw sentinel;
        })).rejects.toBe(sentinel);
        expect(await store.listVersions(c)).toEqual([]);
      });

      it('a rejecting nested transaction rejects the outer one with the same error and rolls everything back', async () => {
        const c = freshConversationId();
        const sentinel = new Sentinel('inner');
        await expect(store.transaction(async (tx) => {
          await tx.insertFirst(makeRecord(c));
          await tx.transaction(async (tx2) => {
            await tx2.insertNext(makeRecord(c, { version: 2 }), 1);
            throw sentinel;
          });
        })).rejects.toBe(sentinel);
        expect(await store.listVersions(c)).toEqual([]);
      });

      it('the store stays usable after a rolled-back transaction', async () => {
        const c = freshConversationId();
        await expect(store.transaction(async (tx) => {
          await tx.insertFirst(makeRecord(c, { wrappedKey: taggedKey(1) }));
          throw new Sentinel('x');
        })).rejects.toBeInstanceOf(Sentinel);
        const res = await store.insertFirst(makeRecord(c, { wrappedKey: taggedKey(2) }));
        expect(res.inserted).toBe(true);
        expect((await store.getLatest(c))!.wrappedKey).toEqual(taggedKey(2));
      });
    });
  });
}
