/**
 * Review 2026-12-02 (second; suspected by the KMS/stores review, read from the code, then
 * reproduced here): a subscription lost before its `subscribe` call resolved was kept.
 *
 * Was: when a store reported the loss (`onLost`) while `subscribe` was still settling — the
 * connection dropped right after LISTEN, before the call returned — KeyWatcher scheduled a retry
 * and then, on the resolution, took the dead subscription as live: state `listening` over a lost
 * connection, and the retry then opened a second subscription and dropped the first one's `stop`
 * without calling it (its resources held for ever).
 *
 * Now: a subscription lost before it was ready is stopped at once and never counted as
 * listening; the retry opens the one that stays, and exactly one subscription is left open.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyWatcher } from '../src/keys/watch.js';
import { MemoryKeyStore } from '../src/store/memory.js';
import type { KeyStore } from '../src/store/types.js';
import { wrapStore } from './support/fixtures.js';

describe('KeyWatcher: a subscription lost before subscribe() resolved', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is stopped, not taken as listening; the retry leaves exactly one subscription open', async () => {
    let open = 0;
    let calls = 0;
    const store: KeyStore = wrapStore(new MemoryKeyStore(), {
      async subscribe(_onChange, onLost) {
        calls++;
        open++;
        let stopped = false;
        const stop = async () => {
          if (!stopped) open--;
          stopped = true;
        };
        // The first subscription's connection drops while the call is still returning.
        if (calls === 1) onLost!(Object.assign(new Error('terminated'), { code: 'ECONNRESET' }));
        return stop;
      },
    });
    let missed = 0;
    const w = new KeyWatcher(store, () => {}, () => void missed++);
    await w.ready;
    expect(w.stats().state).toBe('retrying'); // not 'listening' on a dead connection
    expect(open).toBe(0); // the dead one was stopped
    await vi.advanceTimersByTimeAsync(200);
    expect(calls).toBe(2);
    expect(w.stats()).toMatchObject({ state: 'listening', reconnects: 1 });
    expect(open).toBe(1);
    expect(missed).toBeGreaterThanOrEqual(2); // on the loss, and once listening again
    await w.close();
    expect(open).toBe(0);
  });
});
