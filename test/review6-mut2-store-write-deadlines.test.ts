/**
 * Review 6, mutation round 2 — guarantee (SECURITY.md): "no call waits forever: deadlines on
 * every KMS and store call, a fresh start after them".
 *
 * Surviving mutation: in src/keys/key-path.ts `storeCall`, the store deadline applied to reads
 * only (`if (op !== 'read') return await fn();` before `withDeadline`). The named tests
 * (kms-deadline, ci/faults-kms) hang a store *read* (`getLatest`) and KMS calls, never a store
 * write, so a first-key insert, a rotation's insert, a message-count reservation or a shred that
 * never answered would have frozen the caller (and every waiter on the same single-flight load)
 * for ever.
 *
 * Now: for each store write keywarden makes (insertFirst on a first encrypt, insertNext on
 * rotate, reserveMessages on an AES-GCM encrypt past the cached grant, shred), a store whose
 * call never answers makes the public call reject with ERR_STORE_FAILED, retryable; once the
 * store answers again the same call succeeds. `within` only keeps the test from hanging on the
 * code under test; no duration is asserted.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore, isKeywardenError } from '../src/node.js';
import type { KeyStore } from '../src/store/types.js';
import { wrapStore } from './support/fixtures.js';

const HUNG = Symbol('hung');
const within = <T>(p: Promise<T>, ms = 4000) => Promise.race([p.then((v) => v, (e: unknown) => e), new Promise<typeof HUNG>((r) => setTimeout(() => r(HUNG), ms))]);
// A call that never answers — until the test drops it (a lost connection), so that a
// transaction it holds rolls back and releases the store's lock.
const held: ((e: Error) => void)[] = [];
const never = () => new Promise<never>((_, reject) => void held.push(reject));
const dropHeld = () => held.splice(0).forEach((r) => r(new Error('connection lost')));
const text = new Uint8Array([1, 2, 3]);

type Op = 'insertFirst' | 'insertNext' | 'reserveMessages' | 'shred';

/** A memory store whose `op` never answers while `hang.on` (until dropped). */
function hanging(op: Op): { store: KeyStore; hang: { on: boolean } } {
  const inner = new MemoryKeyStore();
  const hang = { on: false };
  const store = wrapStore(inner, {
    insertFirst: (r) => (hang.on && op === 'insertFirst' ? never() : inner.insertFirst(r)),
    insertNext: (r, e, o) => (hang.on && op === 'insertNext' ? never() : inner.insertNext(r, e, o)),
    reserveMessages: (c, v, n, l) => (hang.on && op === 'reserveMessages' ? never() : inner.reserveMessages(c, v, n, l)),
    shred: (c, t, at) => (hang.on && op === 'shred' ? never() : inner.shred(c, t, at)),
    transaction: (fn) => inner.transaction((tx) => fn(wrapStore(tx, {
      insertFirst: (r) => (hang.on && op === 'insertFirst' ? never() : tx.insertFirst(r)),
      insertNext: (r, e, o) => (hang.on && op === 'insertNext' ? never() : tx.insertNext(r, e, o)),
      shred: (c, t, at) => (hang.on && op === 'shred' ? never() : tx.shred(c, t, at)),
    }))),
  });
  return { store, hang };
}

const expectRetryableStoreFailure = (e: unknown, op: string) => {
  expect(e, op).not.toBe(HUNG);
  expect(isKeywardenError(e, 'ERR_STORE_FAILED') && e.retryable, `${op}: ${String(e)}`).toBe(true);
};

describe('deadlines on key store writes', () => {
  const make = (store: KeyStore) => new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store, timeouts: { storeMs: 50 } });

  it('insertFirst never answers: the first encrypt fails retryably at the deadline; the next starts afresh', async () => {
    const { store, hang } = hanging('insertFirst');
    const kw = make(store);
    hang.on = true;
    expectRetryableStoreFailure(await within(kw.encrypt('c', text)), 'insertFirst');
    hang.on = false;
    dropHeld();
    expect(await within(kw.encrypt('c', text))).toBeInstanceOf(Uint8Array);
    kw.close();
  });

  it('insertNext never answers: rotate fails retryably at the deadline; the next starts afresh', async () => {
    const { store, hang } = hanging('insertNext');
    const kw = make(store);
    await kw.encrypt('c', text);
    hang.on = true;
    expectRetryableStoreFailure(await within(kw.rotate('c')), 'insertNext');
    hang.on = false;
    dropHeld();
    expect(await within(kw.rotate('c'))).toMatchObject({ version: 2 });
    kw.close();
  });

  it('reserveMessages never answers: an AES-GCM encrypt needing a grant fails retryably; the next starts afresh', async () => {
    const { store, hang } = hanging('reserveMessages');
    const kw = make(store);
    hang.on = true; // the first encrypt creates the key, then reserves its first block of messages
    const first = await within(kw.encrypt('c', text));
    if (first instanceof Uint8Array) {
      // This store granted nothing yet on creation: drain until a reservation is needed.
      let e: unknown = first;
      for (let i = 0; i < 100_000 && e instanceof Uint8Array; i++) e = await within(kw.encrypt('c', text));
      expectRetryableStoreFailure(e, 'reserveMessages');
    } else {
      expectRetryableStoreFailure(first, 'reserveMessages');
    }
    hang.on = false;
    dropHeld();
    expect(await within(kw.encrypt('c', text))).toBeInstanceOf(Uint8Array);
    kw.close();
  });

  it('shred never answers: shred fails retryably at the deadline; the next starts afresh', async () => {
    const { store, hang } = hanging('shred');
    const kw = make(store);
    await kw.encrypt('c', text);
    hang.on = true;
    expectRetryableStoreFailure(await within(kw.shred('c')), 'shred');
    hang.on = false;
    dropHeld();
    const report = await within(kw.shred('c'));
    expect(report).not.toBe(HUNG);
    expect(isKeywardenError(report)).toBe(false);
    expect(isKeywardenError(await within(kw.encrypt('c', text)), 'ERR_KEY_SHREDDED')).toBe(true);
    kw.close();
  });
});
