/**
 * Review 7 (stores): DynamoDbKeyStore's transaction store answered calls made after the
 * transaction ended as if they had been stored.
 *
 * Was: `transaction(fn)` buffers the writes of `fn`'s calls and stores them once `fn` resolves.
 * Nothing closed the view when `fn` settled, so a call made on it afterwards (a branch of a
 * `Promise.all` still going after another branch rejected, a kept `tx`) changed only the buffer
 * of a transaction that was already over and resolved with its result: a late
 * `tx.shred(id, 'conversation')` reported `{ shredded: [1], closed: true }` while the key stayed
 * stored and active — a crypto-shred reported done that never happened. A call still running when
 * `fn` resolved (not awaited) was lost the same way, or landed in the buffer between two
 * conversations' writes. The contract (src/store/types.ts): "all its calls commit together when it
 * resolves, or none of them when it rejects"; PostgresKeyStore refuses such calls with StoreError
 * and fails a transaction whose `fn` resolved with a call still running
 * (test/review4-pg-tx-call-after-end.test.ts).
 *
 * Where: src/store/dynamodb/store.ts `#transactionRun`.
 *
 * Now: the view closes the moment `fn` settles: later calls, and calls still running then, are
 * refused with StoreError; a transaction whose `fn` resolved with a call still running stores
 * nothing and rejects with StoreError.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { StoreError } from '../src/errors.js';
import type { KeyStore } from '../src/store/types.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});
const store = () => new DynamoDbKeyStore(dyn.client, { table: dyn.table });
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('DynamoDbKeyStore transaction: a call made after fn settled', () => {
  it('after fn rejected: a late shred is refused, and the key stays', async () => {
    const s = store();
    const c = freshConversationId();
    await s.insertFirst(makeRecord(c));
    let late: Promise<unknown> | undefined;
    await expect(s.transaction(async (tx) => {
      late = (async () => {
        await tick();
        return tx.shred(c, 'conversation', new Date());
      })();
      late.catch(() => undefined); // handled: asserted below
      return Promise.all([late, Promise.reject(new Error('abort'))]);
    })).rejects.toThrow('abort');
    await expect(late).rejects.toBeInstanceOf(StoreError);
    expect((await s.listVersions(c)).map((r) => [r.version, r.state])).toEqual([[1, 'active']]);
  });

  it('after fn resolved: a late call through the kept tx is refused', async () => {
    const s = store();
    const c = freshConversationId();
    await s.insertFirst(makeRecord(c));
    let kept: KeyStore | undefined;
    await s.transaction(async (tx) => {
      kept = tx;
      await tx.reserveMessages(c, 1, 5, 100);
    });
    await expect(kept!.shred(c, [1], new Date())).rejects.toBeInstanceOf(StoreError);
    expect((await s.listVersions(c)).map((r) => [r.version, r.state, r.sealedReserved])).toEqual([[1, 'active', 5]]);
  });

  it('fn resolving while a call is still running: nothing is stored and the transaction rejects', async () => {
    const s = store();
    const c = freshConversationId();
    const other = freshConversationId();
    await s.insertFirst(makeRecord(c));
    await s.insertFirst(makeRecord(other));
    let shred: Promise<unknown> | undefined;
    const run = s.transaction(async (tx) => {
      await tx.reserveMessages(other, 1, 5, 100);
      shred = tx.shred(c, 'conversation', new Date()); // not awaited: still reading when fn resolves
      shred.catch(() => undefined); // handled: asserted below
    });
    await expect(run).rejects.toBeInstanceOf(StoreError);
    await expect(shred).rejects.toBeInstanceOf(StoreError);
    expect((await s.listVersions(c)).map((r) => r.state)).toEqual(['active']);
    expect((await s.listVersions(other)).map((r) => r.sealedReserved)).toEqual([0]);
  });
});
