/**
 * The key-lifecycle half of the KeyStore contract (issue #12, docs/KEYS.md): shredding and its
 * tombstones, creating after a shred, the scans retention and re-wrap use, re-wrap's
 * compare-and-set, job state, summary and change notifications. Run against every store next to
 * store-contract.ts. Stores may be shared with other tests: scans filter to this test's rows.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KeyChange, KeyStore, ScanRow } from '../../src/store/types.js';
import { freshConversationId, makeRecord } from './store-contract.js';

const T = (iso: string) => new Date(iso);

/** Versions 1..n; version v activated at base + v hours (superseded at the next activation). */
async function seed(store: KeyStore, c: string, n: number, baseMs = Date.parse('1995-01-01T00:00:00Z'), masterKeyId = 'test:master-key') {
  const at = (v: number) => new Date(baseMs + v * 3_600_000);
  expect((await store.insertFirst(makeRecord(c, { activatedAt: at(1), createdAt: at(1), masterKeyId }))).inserted).toBe(true);
  for (let v = 2; v <= n; v++) {
    expect((await store.insertNext(makeRecord(c, { version: v, activatedAt: at(v), createdAt: at(v), masterKeyId }), v - 1)).inserted).toBe(true);
  }
}

/** Every row of a scan, page by page, keeping this test's conversations only. */
async function scanAll(store: KeyStore, q: { by: 'superseded' | 'activated'; before: Date }, mine: Set<string>, limit: number): Promise<ScanRow[]> {
  const out: ScanRow[] = [];
  let after: ScanRow | undefined;
  for (let page = 0; page < 10_000; page++) {
    const rows = await store.scanKeys!({ ...q, after, limit });
    expect(rows.length).toBeLessThanOrEqual(limit);
    out.push(...rows.filter((r) => mine.has(r.conversationId)));
    if (rows.length < limit) return out;
    after = rows[rows.length - 1];
  }
  throw new Error('scan did not end');
}

export function keyStoreLifecycleContract(name: string, makeStore: () => Promise<KeyStore> | KeyStore, options: { notifications?: boolean } = {}): void {
  describe(`${name}: key lifecycle`, () => {
    it('shreds a whole conversation: tombstones with empty keys, the highest marks it closed; idempotent', async () => {
      const store = await makeStore();
      const c = freshConversationId();
      await seed(store, c, 3);
      const at = T('2026-11-29T12:00:00.000Z');
      expect(await store.shred(c, 'conversation', at)).toEqual({ shredded: [1, 2, 3], alreadyShredded: [], closed: true });
      const rows = await store.listVersions(c);
      expect(rows.map((r) => [r.version, r.state, r.wrappedKey.length, r.shreddedAt?.toISOString()])).toEqual([1, 2, 3].map((v) => [v, 'shredded', 0, at.toISOString()]));
      expect(rows.map((r) => r.shredScope)).toEqual(['version', 'version', 'conversation']);
      // History stays: when each version was active.
      expect(rows[0]!.supersededAt).toEqual(rows[1]!.activatedAt);
      expect(await store.getLatest(c)).toMatchObject({ version: 3, state: 'shredded', shredScope: 'conversation' });
      expect(await store.shred(c, 'conversation', at)).toEqual({ shredded: [], alreadyShredded: [1, 2, 3], closed: false });
      expect(await store.reserveMessages(c, 3, 10, 1000)).toBe(0);
    });

    it('a closed conversation refuses insertFirst and insertNext; reopen continues the numbering', async () => {
      const store = await makeStore();
      const c = freshConversationId();
      await seed(store, c, 2);
      await store.shred(c, 'conversation', new Date());
      const first = await store.insertFirst(makeRecord(c));
      expect(first).toMatchObject({ inserted: false, record: { version: 2, state: 'shredded' } });
      expect(await store.insertNext(makeRecord(c, { version: 3 }), 2)).toMatchObject({ inserted: false, record: { version: 2, state: 'shredded' } });
      const reopened = await store.insertNext(makeRecord(c, { version: 3 }), 2, { reopen: true });
      expect(reopened).toMatchObject({ inserted: true, record: { version: 3, state: 'active' } });
      expect((await store.listVersions(c)).map((r) => r.state)).toEqual(['shredded', 'shredded', 'active']);
    });

    it('shreds chosen versions (active included); the conversation goes on from its highest version', async () => {
      const store = await makeStore();
      const c = freshConversationId();
      await seed(store, c, 3);
      expect(await store.shred(c, [1, 3, 9], new Date())).toEqual({ shredded: [1, 3], alreadyShredded: [], closed: false });
      expect((await store.listVersions(c)).map((r) => r.state)).toEqual(['shredded', 'superseded', 'shredded']);
      expect(await store.shred(c, [1, 2], new Date())).toEqual({ shredded: [2], alreadyShredded: [1], closed: false });
      // No active version, not closed: the next version may follow the highest tombstone.
      expect(await store.insertNext(makeRecord(c, { version: 5 }), 4)).toMatchObject({ inserted: false, record: { version: 3 } });
      expect(await store.insertNext(makeRecord(c, { version: 4 }), 3)).toMatchObject({ inserted: true, record: { version: 4, state: 'active' } });
      expect(await store.shred(freshConversationId(), 'conversation', new Date())).toEqual({ shredded: [], alreadyShredded: [], closed: false });
    });

    it('concurrent rotations and a whole-conversation shred: nothing active survives the shred (property)', async () => {
      const store = await makeStore();
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 6 }), async (start, rotators) => {
          const c = freshConversationId();
          await seed(store, c, start);
          const rotations = Array.from({ length: rotators }, () => store.insertNext(makeRecord(c, { version: start + 1 }), start).catch((e) => e));
          const shred = store.shred(c, 'conversation', new Date());
          const results = await Promise.all([...rotations, shred]);
          const rows = await store.listVersions(c);
          // At most one rotation won, and whatever it added was shredded with the rest.
          expect(rows.length).toBeLessThanOrEqual(start + 1);
          expect(rows.every((r) => r.state === 'shredded' && r.wrappedKey.length === 0)).toBe(true);
          expect(rows.at(-1)!.shredScope).toBe('conversation');
          expect((results.at(-1) as { shredded: number[] }).shredded).toEqual(rows.map((r) => r.version));
        }),
        { numRuns: 15 },
      );
    });

    it('scanKeys pages through versions superseded or activated before a time, each row once', async () => {
      const store = await makeStore();
      const base = Date.parse('1996-03-01T00:00:00Z') + Math.floor(Math.random() * 1e9);
      const mine = new Set<string>();
      for (let i = 0; i < 7; i++) {
        const c = freshConversationId();
        mine.add(c);
        await seed(store, c, 1 + (i % 3), base + i * 60_000);
      }
      const cut = new Date(base + 2.5 * 3_600_000); // versions superseded at +2h qualify, +3h do not
      for (const limit of [1, 2, 1000]) {
        const sup = await scanAll(store, { by: 'superseded', before: cut }, mine, limit);
        // Every superseded version of ours before the cut, exactly once, in time order.
        const all = (await Promise.all([...mine].map((c) => store.listVersions(c)))).flat();
        const want = all.filter((r) => r.state === 'superseded' && r.supersededAt!.getTime() < cut.getTime());
        expect(sup.map((r) => `${r.conversationId}#${r.version}`).sort()).toEqual(want.map((r) => `${r.conversationId}#${r.version}`).sort());
        // Each row once (the set comparison above has the count); the order is the store's own.
        expect(new Set(sup.map((r) => `${r.conversationId}#${r.version}`)).size).toBe(sup.length);
        const act = await scanAll(store, { by: 'activated', before: new Date(base + 1.5 * 3_600_000 + 7 * 60_000) }, mine, limit);
        const wantActive = all.filter((r) => r.state !== 'shredded' && r.activatedAt.getTime() < base + 1.5 * 3_600_000 + 7 * 60_000);
        // The activation pass's order is the store's own (PostgreSQL: primary-key order, no time
        // index); each row comes once, which the set comparison below checks with the count.
        expect(new Set(act.map((r) => `${r.conversationId}#${r.version}`)).size).toBe(act.length);
        for (const r of act) {
          const rec = all.find((x) => x.conversationId === r.conversationId && x.version === r.version)!;
          expect([r.state, r.supersededAt?.getTime() ?? null]).toEqual([rec.state, rec.supersededAt?.getTime() ?? null]);
        }
        expect(act.map((r) => `${r.conversationId}#${r.version}`).sort()).toEqual(wantActive.map((r) => `${r.conversationId}#${r.version}`).sort());
        expect(wantActive.length).toBeGreaterThan(0);
        expect(want.length).toBeGreaterThan(0);
      }
      // Shredded versions leave the scan.
      const [c0] = [...mine];
      await store.shred(c0!, 'conversation', new Date());
      const after = await scanAll(store, { by: 'superseded', before: new Date(base + 1e10) }, mine, 1000);
      expect((await scanAll(store, { by: 'activated', before: new Date(base + 1e10) }, mine, 1000)).some((r) => r.conversationId === c0)).toBe(false);
      expect(after.some((r) => r.conversationId === c0)).toBe(false);
    });

    it('scanWrapped lists unshredded keys under other master keys; updateWrappings is compare-and-set', async () => {
      const store = await makeStore();
      const tag = Math.random().toString(36).slice(2);
      const [oldId, newId] = [`old-${tag}`, `new-${tag}`];
      const mine = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const c = freshConversationId();
        mine.add(c);
        await seed(store, c, 2, undefined, oldId);
      }
      const [shredMe] = [...mine];
      await store.shred(shredMe!, [1], new Date());
      const pending: Awaited<ReturnType<NonNullable<KeyStore['scanWrapped']>>> = [];
      let after: { conversationId: string; version: number } | undefined;
      for (;;) {
        const page = await store.scanWrapped!({ notMasterKeyId: newId, after, limit: 3 });
        pending.push(...page.filter((r) => mine.has(r.conversationId)));
        if (page.length < 3) break;
        after = page[page.length - 1];
      }
      expect(pending.length).toBe(9); // 10 versions, one shredded
      expect(pending.every((r) => r.masterKeyId === oldId && r.state !== 'shredded')).toBe(true);
      const next = (r: { wrappedKey: Uint8Array }) => ({ masterKeyId: newId, wrappedKey: Uint8Array.from(r.wrappedKey, (b) => b ^ 0xff) });
      const stale = { ...pending[0]!, wrappedKey: Uint8Array.from(pending[0]!.wrappedKey, (b) => b ^ 1) };
      const done = await store.updateWrappings!([
        ...pending.map((r) => ({ conversationId: r.conversationId, version: r.version, expected: { masterKeyId: r.masterKeyId, wrappedKey: r.wrappedKey }, next: next(r) })),
        { conversationId: stale.conversationId, version: stale.version, expected: { masterKeyId: oldId, wrappedKey: stale.wrappedKey }, next: next(stale) },
        { conversationId: shredMe!, version: 1, expected: { masterKeyId: oldId, wrappedKey: new Uint8Array(0) }, next: next({ wrappedKey: new Uint8Array(0) }) },
      ]);
      expect(done).toEqual([...pending.map(() => true), false, false]);
      for (const r of pending) expect(await store.getVersion(r.conversationId, r.version)).toMatchObject({ masterKeyId: newId, wrappedKey: next(r).wrappedKey, state: r.state });
      expect((await store.getVersion(shredMe!, 1))!.wrappedKey.length).toBe(0);
      const again = await store.scanWrapped!({ notMasterKeyId: newId, limit: 100_000 });
      expect(again.some((r) => mine.has(r.conversationId))).toBe(false);
      // A second application of the same updates changes nothing (their expectation is stale).
      expect(await store.updateWrappings!(pending.slice(0, 2).map((r) => ({ conversationId: r.conversationId, version: r.version, expected: { masterKeyId: oldId, wrappedKey: r.wrappedKey }, next: next(r) })))).toEqual([false, false]);
    });

    it('keeps job state, and summarises the store', async () => {
      const store = await makeStore();
      const job = `job-${Math.random()}`;
      expect(await store.getJob!(job)).toBeUndefined();
      await store.putJob!(job, { cursor: { conversationId: 'a\u0000b', version: 3 }, done: 10 });
      await store.putJob!(job, { cursor: { conversationId: 'a\u0000b', version: 4 }, done: 11 });
      expect(await store.getJob!(job)).toEqual({ cursor: { conversationId: 'a\u0000b', version: 4 }, done: 11 });
      const before = await store.summary!();
      const c = freshConversationId();
      const tag = `sum-${Math.random()}`;
      await seed(store, c, 3, undefined, tag);
      await store.shred(c, [1], new Date());
      const after = await store.summary!();
      expect(after.conversations - before.conversations).toBe(1);
      expect(after.versions.active - before.versions.active).toBe(1);
      expect(after.versions.superseded - before.versions.superseded).toBe(1);
      expect(after.versions.shredded - before.versions.shredded).toBe(1);
      expect(after.byMasterKey[tag]).toBe(2);
    });

    it.runIf(options.notifications !== false)('notifies rotations and shreds with their kind', async () => {
      const store = await makeStore();
      const seen: [string, KeyChange][] = [];
      const stop = await store.subscribe!((c, change) => seen.push([c, change]));
      try {
        const c = freshConversationId();
        await seed(store, c, 2);
        await store.shred(c, [1], new Date());
        await store.shred(c, 'conversation', new Date());
        for (let i = 0; i < 100 && seen.filter(([x]) => x === c).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
        expect(seen.filter(([x]) => x === c).map(([, k]) => k)).toEqual(['rotated', 'shredded', 'shredded']);
      } finally {
        await stop();
      }
    });
  });
}
