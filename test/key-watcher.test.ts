/**
 * KeyWatcher (src/keys/watch.ts) on its own, on fake timers: the backoff schedule (50 ms doubling
 * to 30 s, jitter in [50 %, 100 %)), its reset after a success, what stats() reports (state,
 * reconnects only after a loss, failures, the code of the last error), when onMissed runs, and
 * that close() stops everything, including a subscribe that completes after it.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyWatcher } from '../src/keys/watch.js';
import { MemoryKeyStore } from '../src/store/memory.js';
import type { KeyChange, KeyStore } from '../src/store/types.js';
import { wrapStore } from './support/fixtures.js';

type Sub = { onChange: (c: string, change: KeyChange) => void; onLost: (err: unknown) => void; stopped: boolean };

/** A store whose subscribe the test scripts: each call takes the next outcome (an error to throw, or success). */
function scriptedStore() {
  const outcomes: unknown[] = [];
  const subs: Sub[] = [];
  const attempts: number[] = [];
  let gate: Promise<void> | undefined;
  const store: KeyStore = wrapStore(new MemoryKeyStore(), {
    async subscribe(onChange, onLost) {
      attempts.push(Date.now());
      if (gate) await gate;
      if (outcomes.length > 0) {
        const next = outcomes.shift();
        if (next !== 'ok') throw next;
      }
      const sub: Sub = { onChange, onLost: onLost!, stopped: false };
      subs.push(sub);
      return async () => void (sub.stopped = true);
    },
  });
  return {
    store, subs, attempts,
    fail: (...errors: unknown[]) => outcomes.push(...errors),
    hold: () => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('KeyWatcher', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('retries after 50, 100, 200, ... ms (times [0.5, 1) jitter), capped at 30 s; a success resets the schedule', async () => {
    for (const [random, factor] of [[0, 0.5], [0.999_999, 1]] as const) {
      vi.spyOn(Math, 'random').mockReturnValue(random);
      const s = scriptedStore();
      const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
      s.fail(...Array<unknown>(12).fill(refused));
      const start = Date.now();
      const w = new KeyWatcher(s.store, () => undefined, () => undefined);
      await vi.runAllTimersAsync();
      expect(w.stats()).toMatchObject({ state: 'listening', failures: 12, reconnects: 0, lastError: 'ECONNREFUSED' });
      const gaps = s.attempts.slice(1).map((t, i) => t - s.attempts[i]!);
      const want = [50, 100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000].map((d) => d * factor);
      expect(s.attempts[0]).toBe(start);
      for (const [i, g] of gaps.entries()) expect(Math.abs(g - want[i]!), `gap ${i}: ${g} ms`).toBeLessThanOrEqual(1);

      // Lost after a success: the schedule starts again at 50 ms.
      s.fail(refused);
      const before = s.attempts.length;
      const lostAt = Date.now();
      s.subs.at(-1)!.onLost(new Error('gone'));
      await vi.runAllTimersAsync();
      expect(s.attempts.length).toBe(before + 2);
      expect(Math.abs(s.attempts[before]! - lostAt - 50 * factor)).toBeLessThanOrEqual(1);
      expect(Math.abs(s.attempts[before + 1]! - s.attempts[before]! - 100 * factor)).toBeLessThanOrEqual(1);
      await w.close();
      vi.restoreAllMocks();
    }
  });

  it('counts reconnects only after a loss; onMissed runs on every loss and every (re)subscribe', async () => {
    const s = scriptedStore();
    let missed = 0;
    const changes: string[] = [];
    s.fail(new Error('first attempt fails'));
    const w = new KeyWatcher(s.store, (c, change) => changes.push(`${c}:${change}`), () => missed++);
    expect(w.stats()).toEqual({ state: 'connecting', reconnects: 0, failures: 0 });
    await w.ready;
    expect(w.stats()).toEqual({ state: 'retrying', reconnects: 0, failures: 1, lastError: 'connection lost' });
    expect(missed).toBe(0);
    await vi.runAllTimersAsync();
    expect(w.stats()).toEqual({ state: 'listening', reconnects: 0, failures: 1, lastError: 'connection lost' });
    expect(missed).toBe(1);
    s.subs[0]!.onChange('conv-a', 'rotated');
    s.subs[0]!.onChange('conv-b', 'shredded');
    expect(changes).toEqual(['conv-a:rotated', 'conv-b:shredded']);

    s.subs[0]!.onLost(Object.assign(new Error('terminating connection'), { code: '57P01' }));
    expect(w.stats()).toEqual({ state: 'retrying', reconnects: 0, failures: 1, lastError: 'SQLSTATE 57P01' });
    expect(missed).toBe(2); // the loss itself
    await vi.runAllTimersAsync();
    expect(w.stats()).toEqual({ state: 'listening', reconnects: 1, failures: 1, lastError: 'SQLSTATE 57P01' });
    expect(missed).toBe(3); // listening again

    s.subs[1]!.onLost(Object.assign(new Error('x'), { code: 'econnreset' }));
    await vi.runAllTimersAsync();
    expect(w.stats()).toMatchObject({ state: 'listening', reconnects: 2, lastError: 'econnreset' });
    s.subs[2]!.onLost(Object.assign(new Error('x'), { code: 42 }));
    await vi.runAllTimersAsync();
    expect(w.stats()).toMatchObject({ state: 'listening', reconnects: 3, lastError: 'connection lost' });
    s.subs[3]!.onLost(null);
    await vi.runAllTimersAsync();
    expect(w.stats()).toMatchObject({ state: 'listening', reconnects: 4, lastError: 'connection lost' });
    await w.close();
    expect(w.stats().state).toBe('off');
    expect(s.subs.map((x) => x.stopped)).toEqual([false, false, false, false, true]);
  });

  it('stats() is a copy', async () => {
    const s = scriptedStore();
    const w = new KeyWatcher(s.store, () => undefined, () => undefined);
    await w.ready;
    const st = w.stats();
    st.state = 'off';
    st.reconnects = 99;
    expect(w.stats()).toMatchObject({ state: 'listening', reconnects: 0 });
    await w.close();
  });

  it('close() stops retrying, ignores a later loss, and stops a subscription that completes after it', async () => {
    const s = scriptedStore();
    let missed = 0;
    s.fail(new Error('down'));
    const w = new KeyWatcher(s.store, () => undefined, () => missed++);
    await w.ready;
    await w.close();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(s.attempts).toHaveLength(1);
    expect(w.stats().state).toBe('off');

    // Closed while a subscribe is in flight: the subscription it returns is stopped at once.
    const s2 = scriptedStore();
    const release = s2.hold();
    const w2 = new KeyWatcher(s2.store, () => undefined, () => missed++);
    await flush();
    const closing = w2.close();
    release();
    await w2.ready;
    await closing;
    await flush();
    expect(s2.subs).toHaveLength(1);
    expect(s2.subs[0]!.stopped).toBe(true);
    expect(w2.stats().state).toBe('off');

    // Closed while a subscribe is in flight that then fails: no retry, the state stays off.
    const s4 = scriptedStore();
    s4.fail(new Error('refused'));
    const release4 = s4.hold();
    const w4 = new KeyWatcher(s4.store, () => undefined, () => missed++);
    await flush();
    await w4.close();
    release4();
    await w4.ready;
    await vi.advanceTimersByTimeAsync(120_000);
    expect(s4.attempts).toHaveLength(1);
    expect(w4.stats()).toMatchObject({ state: 'off', reconnects: 0 });

    // A loss reported after close changes nothing and schedules nothing.
    const s3 = scriptedStore();
    const w3 = new KeyWatcher(s3.store, () => undefined, () => missed++);
    await w3.ready;
    const before = missed;
    await w3.close();
    s3.subs[0]!.onLost(new Error('late'));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(missed).toBe(before);
    expect(s3.attempts).toHaveLength(1);
    expect(w3.stats()).toEqual({ state: 'off', reconnects: 0, failures: 0 });
  });

  it('a stop function that rejects does not make close() reject', async () => {
    const store = wrapStore(new MemoryKeyStore(), { subscribe: async () => async () => Promise.reject(new Error('already gone')) });
    const w = new KeyWatcher(store, () => undefined, () => undefined);
    await w.ready;
    await expect(w.close()).resolves.toBeUndefined();
  });
});
