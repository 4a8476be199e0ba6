import { describe, expect, it } from 'vitest';
import { MemoryKeyStore } from '../src/store/memory.js';
import { StoreError } from '../src/errors.js';
import { freshConversationId, keyStoreContract, makeRecord } from './support/store-contract.js';
import { keyStoreLifecycleContract } from './support/store-lifecycle-contract.js';

keyStoreContract('MemoryKeyStore', () => new MemoryKeyStore());
keyStoreLifecycleContract('MemoryKeyStore', () => new MemoryKeyStore());

describe('MemoryKeyStore specifics', () => {
  it('size counts conversations with at least one key, and a rolled-back insert does not count', async () => {
    const s = new MemoryKeyStore();
    expect(s.size).toBe(0);
    await s.insertFirst(makeRecord('a'));
    await s.insertFirst(makeRecord('a'));
    await s.insertNext(makeRecord('a', { version: 2 }), 1);
    await s.insertFirst(makeRecord('b'));
    expect(s.size).toBe(2);
    await expect(s.transaction(async (tx) => {
      await tx.insertFirst(makeRecord('c'));
      expect(s.size).toBe(3);
      throw new Error('rollback');
    })).rejects.toThrow('rollback');
    expect(s.size).toBe(2);
  });

  it('insertFirst refuses a record that is not an active version 1, storing nothing', async () => {
    const s = new MemoryKeyStore();
    const c = freshConversationId();
    await expect(s.insertFirst(makeRecord(c, { version: 2 }))).rejects.toBeInstanceOf(StoreError);
    await expect(s.insertFirst(makeRecord(c, { state: 'superseded' }))).rejects.toMatchObject({ code: 'ERR_STORE_FAILED' });
    expect(await s.listVersions(c)).toEqual([]);
    expect(s.size).toBe(0);
  });

  it('insertNext refuses a conversation without a key and a version that does not follow the active one', async () => {
    const s = new MemoryKeyStore();
    const c = freshConversationId();
    await expect(s.insertNext(makeRecord(c, { version: 2 }), 1)).rejects.toBeInstanceOf(StoreError);
    await s.insertFirst(makeRecord(c));
    await expect(s.insertNext(makeRecord(c, { version: 3 }), 1)).rejects.toMatchObject({ code: 'ERR_STORE_FAILED' });
    const rows = await s.listVersions(c);
    expect(rows).toEqual([makeRecord(c)]);
  });

  it('a StoreError thrown inside a transaction rolls back the writes before it', async () => {
    const s = new MemoryKeyStore();
    const c = freshConversationId();
    await expect(s.transaction(async (tx) => {
      await tx.insertFirst(makeRecord(c));
      await tx.insertNext(makeRecord(c, { version: 5 }), 1); // throws
    })).rejects.toBeInstanceOf(StoreError);
    expect(await s.listVersions(c)).toEqual([]);
  });

  it('serialises calls: a call issued while a transaction runs completes after it, seeing its result', async () => {
    const s = new MemoryKeyStore();
    const c = freshConversationId();
    const order: string[] = [];
    let inserted!: () => void;
    const signal = new Promise<void>((r) => (inserted = r));
    const tx = s.transaction(async (t) => {
      await t.insertFirst(makeRecord(c));
      inserted();
      await new Promise((r) => setTimeout(r, 10));
      order.push('tx-end');
    });
    await signal;
    const read = s.getLatest(c).then((r) => {
      order.push('read');
      return r;
    });
    await Promise.all([tx, read]);
    expect(order).toEqual(['tx-end', 'read']);
    expect((await read)?.version).toBe(1);
  });

  it('keeps working after a call throws (the lock is released)', async () => {
    const s = new MemoryKeyStore();
    await expect(s.insertFirst(makeRecord('x', { version: 3 }))).rejects.toBeInstanceOf(StoreError);
    expect((await s.insertFirst(makeRecord('x'))).inserted).toBe(true);
  });
});
