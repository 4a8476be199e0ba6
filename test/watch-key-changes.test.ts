/**
 * watchKeyChanges survives the loss of its subscription (issue #11, defect 3): it re-subscribes
 * with backoff, drops every cached active version when it does (notifications were missed
 * meanwhile), and shows its state in stats(). A store stub stands in for the database here: it
 * lets the test cut the subscription; the real PostgreSQL LISTEN session is killed in
 * test/store-postgres.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import type { KeyChange, KeyStore } from '../src/store/types.js';
import { wrapStore } from './support/fixtures.js';

/** A MemoryKeyStore whose subscriptions the test can cut, and whose subscribe can be made to fail. */
function flakyStore() {
  const inner = new MemoryKeyStore();
  const subs: { onChange: (c: string, change: KeyChange) => void; onLost?: (err: unknown) => void; live: boolean }[] = [];
  let failNext = 0;
  const store: KeyStore = wrapStore(inner, {
    async subscribe(onChange: (c: string, change: KeyChange) => void, onLost?: (err: unknown) => void) {
      if (failNext > 0) {
        failNext--;
        throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      }
      const sub = { onChange, live: true, ...(onLost ? { onLost } : {}) };
      subs.push(sub);
      return async () => void (sub.live = false);
    },
  });
  return {
    store,
    inner,
    subs,
    failNext: (n: number) => (failNext = n),
    /** The connection under the live subscription dies. */
    cut: () => {
      for (const s of subs) {
        if (!s.live) continue;
        s.live = false;
        s.onLost?.(new Error('Connection terminated unexpectedly'));
      }
    },
  };
}
const until = async (cond: () => boolean, ms = 3000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('watchKeyChanges across a lost subscription', () => {
  it('re-subscribes, drops cached active versions (missed notifications), and reports its state', async () => {
    const f = flakyStore();
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore: f.store, watchKeyChanges: true });
    const other = new Keywarden({ masterKey, keyStore: f.inner }); // another instance, no notifications reach `a` from it
    await a.ready();
    expect(a.stats().watch).toMatchObject({ state: 'listening', reconnects: 0 });
    const v1 = await a.encryptString('conv', 'one');
    expect(v1[5]).toBe(1);

    // The subscription dies; meanwhile another instance rotates (the notification is lost).
    f.failNext(2); // the first re-subscribe attempts fail too: backoff, then success
    f.cut();
    expect(a.stats().watch.state).not.toBe('listening');
    await other.rotate('conv');
    await until(() => a.stats().watch.state === 'listening');
    expect(a.stats().watch.reconnects).toBe(1);
    expect(a.stats().watch.failures).toBeGreaterThanOrEqual(2);
    expect(f.subs.filter((s) => s.live)).toHaveLength(1);
    // Without any notification, `a` seals with the new version: it dropped its active versions.
    const after = await a.encryptString('conv', 'two');
    expect(after[5]).toBe(2);
    a.close();
    other.close();
    expect(f.subs.filter((s) => s.live)).toHaveLength(0);
    expect(a.stats().watch.state).toBe('off');
  });

  it('close() while re-subscribing stops retrying', async () => {
    const f = flakyStore();
    const a = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: f.store, watchKeyChanges: true });
    await a.ready();
    f.failNext(1000);
    f.cut();
    a.close();
    const n = f.subs.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(f.subs.length).toBe(n);
    expect(a.stats().watch.state).toBe('off');
  });
});
