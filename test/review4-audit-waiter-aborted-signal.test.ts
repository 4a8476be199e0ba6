/**
 * TicketWaiters: a wait started with a signal that is already aborted never settled.
 *
 * What was wrong: `wait()` registered the waiter and listened for 'abort' — an event an already
 * aborted signal never fires again. AuditLog's `flush()` and `checkpoint()` on an instance that
 * is not the sequencer reach it exactly that way when the outbox insert is slower than
 * `appendTimeoutMs`: the deadline aborts the signal while `enqueue` runs, the caller gets its
 * ERR_AUDIT_UNAVAILABLE, and then `wait()` is called with the aborted signal. The waiter stayed
 * in the map (a promise nobody settles) and kept the poller reading the store every `pollMs` —
 * forever if its receipt never shows up (no sequencer running, or the file store's receipt list
 * rolled past it) — and kept this process's sequencer from lingering (`waiting` stayed true).
 *
 * Now: a wait whose signal is already aborted rejects at once with the signal's reason and
 * registers nothing.
 */
import { describe, expect, it } from 'vitest';
import { AuditUnavailableError } from '../src/errors.js';
import { generateNoteKey, newNoteVerifier } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { TicketWaiters } from '../src/audit/waiters.js';

const keys = generateNoteKey('keywarden.example/review4-waiters', new Uint8Array(32).fill(46));

describe('TicketWaiters.wait with an already aborted signal', () => {
  it('rejects with the signal reason and leaves nothing waiting (no poller, no lingering sequencer held back)', async () => {
    const store = new MemoryAuditStore();
    let receiptReads = 0;
    const counting = new Proxy(store, {
      get(target, prop) {
        if (prop === 'receipt') return (t: string) => (receiptReads++, target.receipt(t));
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const waiters = new TicketWaiters(counting, newNoteVerifier(keys.verifierKey), 'keywarden.example/review4-waiters', 1, { receiptKey: new Uint8Array(32) });
    const deadline = new AbortController();
    const reason = new AuditUnavailableError('audit append did not complete within 50 ms');
    deadline.abort(reason); // the deadline passed while the outbox insert was in flight

    const p = waiters.wait('1', new Uint8Array(32), deadline.signal);
    const settled = p.then(() => 'resolved', (err: unknown) => err);
    expect(waiters.waiting).toBe(false);
    waiters.rejectAll(new Error('left waiting')); // settles it on the old code, so the test ends
    expect(await settled).toBe(reason);
    expect(receiptReads).toBe(0);
  });
});
