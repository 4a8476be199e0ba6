/**
 * Change detection without LISTEN (issue #15): the polling fallback on the change sequence, the
 * automatic choice between it and LISTEN/NOTIFY, and what each guarantees.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { InvalidInputError } from '../src/errors.js';
import { Keywarden } from '../src/node.js';
import { LocalMasterKey } from '../src/kms/local.js';
import type { KeyChange } from '../src/store/types.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { keyStoreLifecycleContract } from './support/store-lifecycle-contract.js';
import { migratedTestPool } from './support/pg-suite.js';
import { startPgProxy } from './support/pg-proxy.js';

const db = migratedTestPool();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  for (const deadline = Date.now() + ms; !cond() && Date.now() < deadline; ) await sleep(10);
}

// Polling borrows the connection per poll only: the notification half runs on PGlite too.
keyStoreLifecycleContract('PostgresKeyStore (changes: poll)', () => new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'poll', pollIntervalMs: 20 }), { notifications: true });

describe('change detection', () => {
  it('refuses bad options, naming them', () => {
    expect(() => new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'notify' as never })).toThrow(InvalidInputError);
    expect(() => new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'notify' as never })).toThrow(/options\.changes/);
    for (const bad of [9, 60_001, 1.5, Number.NaN, '100']) {
      expect(() => new PostgresKeyStore(db.pool, { schema: db.schema, pollIntervalMs: bad as never })).toThrow(/options\.pollIntervalMs/);
    }
  });

  it('auto chooses LISTEN where notifications arrive', async () => {
    const store = new PostgresKeyStore(db.pool, { schema: db.schema });
    expect(store.changeDetection).toBeUndefined();
    const stop = await store.subscribe(() => {});
    expect(store.changeDetection).toBe('listen');
    await stop();
  });

  it('polling delivers rotations and shreds of this kind of keys only, with escaped ids', async () => {
    const conv = new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'poll', pollIntervalMs: 20 });
    const branches = new PostgresKeyStore(db.pool, { schema: db.schema, keys: 'branches', changes: 'poll', pollIntervalMs: 20 });
    const seen: [string, KeyChange][] = [];
    const seenBranches: string[] = [];
    const stop = await conv.subscribe((c, k) => seen.push([c, k]));
    const stopB = await branches.subscribe((c) => seenBranches.push(c));
    expect(conv.changeDetection).toBe('poll');
    try {
      const c = `${freshConversationId()}\\with\u0000nul`;
      const b = freshConversationId('branch');
      await conv.insertFirst(makeRecord(c));
      await conv.insertNext(makeRecord(c, { version: 2 }), 1);
      await branches.insertFirst(makeRecord(b));
      await branches.insertNext(makeRecord(b, { version: 2 }), 1);
      await conv.shred(c, 'conversation', new Date());
      await until(() => seen.length >= 2 && seenBranches.length >= 1);
      await sleep(100); // nothing more arrives
      expect(seen).toEqual([[c, 'rotated'], [c, 'shredded']]);
      expect(seenBranches).toEqual([b]);
    } finally {
      await stop();
      await stopB();
    }
  });

  it('a rolled-back rotation is never reported by polling, and a stopped poller reports nothing', async () => {
    const store = new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'poll', pollIntervalMs: 20 });
    const seen: string[] = [];
    const stop = await store.subscribe((c) => seen.push(c));
    const c = freshConversationId();
    await store.insertFirst(makeRecord(c));
    await expect(store.transaction(async (tx) => {
      await tx.insertNext(makeRecord(c, { version: 2 }), 1);
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    await store.insertNext(makeRecord(c, { version: 2 }), 1);
    await until(() => seen.length >= 1);
    await sleep(100);
    expect(seen).toEqual([c]);
    await stop();
    await store.insertNext(makeRecord(c, { version: 3 }), 2);
    await sleep(100);
    expect(seen).toEqual([c]);
  });

  it('polling reports a change whose transaction commits after a later-numbered one (a gap in the sequence)', async (ctx) => {
    if (db.kind !== 'postgres') ctx.skip(); // two transactions at once need two connections
    const store = new PostgresKeyStore(db.pool, { schema: db.schema, changes: 'poll', pollIntervalMs: 20 });
    const seen: string[] = [];
    const stop = await store.subscribe((c) => seen.push(c));
    try {
      const slow = freshConversationId('slow');
      const fast = freshConversationId('fast');
      await store.insertFirst(makeRecord(slow));
      await store.insertFirst(makeRecord(fast));
      let numbered!: () => void;
      const slowNumbered = new Promise<void>((r) => (numbered = r));
      let release!: () => void;
      const hold = new Promise<void>((r) => (release = r));
      const slowTx = store.transaction(async (tx) => {
        await tx.insertNext(makeRecord(slow, { version: 2 }), 1); // takes the lower sequence number
        numbered();
        await hold;
      });
      await slowNumbered;
      await store.insertNext(makeRecord(fast, { version: 2 }), 1); // higher number, visible first
      await until(() => seen.includes(fast));
      expect(seen).toEqual([fast]);
      release();
      await slowTx;
      await until(() => seen.includes(slow));
      expect(seen).toEqual([fast, slow]);
    } finally {
      await stop();
    }
  });

  for (const mode of ['drop-notifications', 'refuse-listen'] as const) {
    const what = mode === 'drop-notifications' ? 'behind a pooler that loses notifications (transaction mode)' : 'on an engine that refuses LISTEN (SQLSTATE 0A000)';
    it(`auto polls ${what}, and watchKeyChanges sees other instances' rotations`, async (ctx) => {
      if (db.kind !== 'postgres') ctx.skip(); // the proxy needs a second connection to the server
      const proxy = await startPgProxy(db.url, mode);
      const viaProxy = new pg.Pool({ connectionString: proxy.url, max: 4 });
      viaProxy.on('error', () => {});
      try {
        const store = new PostgresKeyStore(viaProxy, { schema: db.schema, pollIntervalMs: 20 });
        const stop = await store.subscribe(() => {});
        expect(store.changeDetection).toBe('poll');
        await stop();

        const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
        const a = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(db.pool, { schema: db.schema }) });
        const b = new Keywarden({ masterKey, keyStore: new PostgresKeyStore(viaProxy, { schema: db.schema, pollIntervalMs: 20 }), watchKeyChanges: true, reservationSize: 1000 });
        await b.ready();
        expect(b.stats().watch.state).toBe('listening');
        const conv = freshConversationId();
        const version = async () => (await b.encrypt(conv, new Uint8Array(1)))[5];
        expect(await version()).toBe(1);
        await a.rotate(conv);
        let v = await version();
        for (let i = 0; i < 100 && v !== 2; i++) {
          await sleep(20);
          v = await version();
        }
        expect(v).toBe(2); // long before the 1000 seals reserved under version 1 run out
        b.close();
        a.close();
      } finally {
        await viaProxy.end();
        await proxy.close();
      }
    });
  }
});
