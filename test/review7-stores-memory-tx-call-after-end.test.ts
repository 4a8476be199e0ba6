/**
 * Review 7 (stores): MemoryKeyStore's transaction store kept working after the transaction ended,
 * outside the transaction and outside the store's lock.
 *
 * Was: `transaction(fn)` hands `fn` a view whose calls run inside the held lock and journal their
 * writes for a rollback. Nothing closed the view when `fn` settled. A call made on it afterwards —
 * a branch of a `Promise.all` still going after another branch rejected, a callback that kept the
 * `tx` — wrote straight into the store, into a journal nobody would read: after `fn` rejected and
 * the transaction was rolled back, a late `tx.shred(id, 'conversation')` shredded and closed the
 * conversation for good and resolved `{ shredded: [1], closed: true }`, and a late
 * `tx.insertNext` stored a rotation; both ran while other callers held the lock. The contract
 * (src/store/types.ts): "all its calls commit together when it resolves, or none of them when it
 * rejects"; PostgresKeyStore refuses such calls (test/review4-pg-tx-call-after-end.test.ts), and
 * the shared contract suite runs the memory store as the reference for the others.
 *
 * Where: src/store/memory.ts `transaction` / `#txView`.
 *
 * Now: the view closes the moment `fn` settles: every later call is refused with StoreError and
 * writes nothing.
 */
import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../src/store/memory.js';
import { StoreError } from '../src/errors.js';
import type { KeyStore } from '../src/store/types.js';
import { makeRecord } from './support/store-contract.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('MemoryKeyStore transaction: a call made after fn settled', () => {
  it('after a rollback: a late shred is refused and shreds nothing', async () => {
    const store = new MemoryKeyStore();
    await store.insertFirst(makeRecord('c1'));
    let late: Promise<unknown> | undefined;
    await expect(store.transaction(async (tx) => {
      late = (async () => {
        await tick(); // still going when the other branch has failed the transaction
        return tx.shred('c1', 'conversation', new Date());
      })();
      late.catch(() => undefined); // handled: asserted below
      return Promise.all([late, Promise.reject(new Error('abort'))]);
    })).rejects.toThrow('abort');
    await expect(late).rejects.toBeInstanceOf(StoreError);
    const rows = await store.listVersions('c1');
    expect(rows.map((r) => [r.version, r.state, r.shredScope])).toEqual([[1, 'active', null]]);
    expect(rows[0]!.wrappedKey.length).toBeGreaterThan(0);
  });

  it('after a commit: a late rotation through the kept tx is refused and stores nothing', async () => {
    const store = new MemoryKeyStore();
    await store.insertFirst(makeRecord('c2'));
    let kept: KeyStore | undefined;
    await store.transaction(async (tx) => {
      kept = tx;
      await tx.reserveMessages('c2', 1, 5, 100);
    });
    await expect(kept!.insertNext(makeRecord('c2', { version: 2 }), 1)).rejects.toBeInstanceOf(StoreError);
    await expect(kept!.getLatest('c2')).rejects.toBeInstanceOf(StoreError);
    const rows = await store.listVersions('c2');
    expect(rows.map((r) => [r.version, r.state, r.sealedReserved])).toEqual([[1, 'active', 5]]);
  });
});
