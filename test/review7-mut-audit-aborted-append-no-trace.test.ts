/**
 * Review 7 (mutation review). Guarantee (SECURITY.md: "audit appends are atomic: a failed or
 * timed-out append leaves no trace"; `AuditLog.record` with `options.signal`).
 *
 * Survived: in src/audit/sequencer.ts `#round`, the check that drops a queued local append whose
 * signal was aborted (`if (item.signal.aborted) {` → `if (false) {`). An append cancelled by its
 * caller — or by `appendTimeoutMs`, which aborts the same signal — while it waited behind a batch
 * in flight was rejected to its caller and then integrated and signed into the log anyway: the
 * caller was told "not recorded" for an entry the log holds. The named tests still passed: none
 * aborts an append while it is queued on the sequencer (only before it starts, which
 * `#withTimeout` refuses up front).
 *
 * Now asserted: with a batch held in the store's `integrate`, an append queued behind it whose
 * signal is then aborted rejects with ERR_ABORTED, and after the held batch and a later append
 * land, the log holds those two entries and not the aborted one.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { type IntegrateBatch, MemoryAuditStore } from '../src/audit/store.js';
import { sampleEvent } from './support/audit-fixtures.js';

const logKeys = generateNoteKey('keywarden.example/review7-abort', new Uint8Array(32).fill(73));

/** Holds `integrate` at a gate once `hold()` was called. */
class HeldStore extends MemoryAuditStore {
  #gate: Promise<void> | undefined;
  #entered: (() => void) | undefined;
  hold(): { entered: Promise<void>; release: () => void } {
    let release!: () => void;
    this.#gate = new Promise<void>((r) => (release = r));
    const entered = new Promise<void>((r) => (this.#entered = r));
    return { entered, release: () => { this.#gate = undefined; release(); } };
  }
  override async integrate(batch: IntegrateBatch): Promise<void> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.#entered?.();
      await gate;
    }
    return super.integrate(batch);
  }
}

describe('an append aborted while it waits for the sequencer', () => {
  it('is rejected and never integrated', async () => {
    const store = new HeldStore();
    const log = await AuditLog.open({ store, signerKey: logKeys.signerKey, appendTimeoutMs: 10_000, lingerMs: 0 });
    expect(log.isSequencer).toBe(true);
    const base = await store.size();
    const held = store.hold();
    const first = log.record(sampleEvent(1));
    await held.entered; // the first batch is in flight
    const ac = new AbortController();
    const aborted = log.record(sampleEvent(2), { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    held.release();
    await first;
    await log.record(sampleEvent(3));
    const entries = (await store.read(base, await store.size())).map((e) => decodeEntry(e).id);
    expect(entries).toEqual([sampleEvent(1).id, sampleEvent(3).id]);
    expect((await store.read(0, await store.size())).some((e) => Buffer.from(e).equals(Buffer.from(encodeEntry(sampleEvent(2)))))).toBe(false);
    await log.close();
  });
});
