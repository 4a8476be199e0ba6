/**
 * Review 7 (mutation review). Guarantee (src/audit/group-commit.ts, used by the file outbox and
 * the PostgreSQL outbox for every `AuditLog.record` that is not integrated in place): "Resolves
 * with the item's result once the group holding it was flushed" — each caller gets the ticket of
 * its OWN outbox record — in "calls of `flush` (one at a time, at most `max` items each)".
 *
 * Survived: `GroupCommit.#drain` resolving every caller of a group with the first result
 * (`w.resolve(results[i]!)` → `w.resolve(results[0]!)`), and taking the whole queue into one group
 * (`splice(0, this.#max)` → `splice(0)`). No test imports group-commit.ts; the outbox tests
 * (test/audit-file-store.test.ts, test/audit-outbox-replay.test.ts, test/keywarden-audit.test.ts,
 * test/audit-receipt-forged.test.ts) still passed with the first: their concurrent writers never
 * wait on their tickets, so a writer waiting for its receipt (break-glass, `flush`) would have
 * waited on another record's ticket.
 *
 * Now asserted: callers that arrive while a flush is in flight are flushed together in the next
 * call, in groups of at most `max`, one flush at a time; each resolves with the result for its own
 * item; a failed flush rejects exactly the callers of that group; `idle()` waits for all of it.
 */
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/audit/group-commit.js';

describe('GroupCommit', () => {
  it('resolves each caller with its own result, in groups of at most max, one flush at a time', async () => {
    const calls: number[][] = [];
    let inFlight = 0;
    let release!: () => void;
    let gate: Promise<void> = new Promise<void>((r) => (release = r));
    const group = new GroupCommit<number, string>(async (items) => {
      inFlight++;
      expect(inFlight).toBe(1);
      calls.push([...items]);
      if (calls.length === 1) await gate;
      inFlight--;
      if (items.includes(13)) throw new Error('flush failed');
      return items.map((i) => `ticket-${i}`);
    }, 4);
    const first = group.submit(0); // flushed alone, held at the gate
    const rest = Array.from({ length: 14 }, (_, i) => group.submit(i + 1).then((r) => r, (e: Error) => `rejected: ${e.message}`));
    await Promise.resolve();
    expect(calls).toEqual([[0]]);
    release();
    expect(await first).toBe('ticket-0');
    const results = await Promise.all(rest);
    expect(calls).toEqual([[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14]]);
    expect(results).toEqual([...Array.from({ length: 12 }, (_, i) => `ticket-${i + 1}`), 'rejected: flush failed', 'rejected: flush failed']);
    gate = Promise.resolve();
    expect(await group.submit(99)).toBe('ticket-99');
    await group.idle();
  });
});
