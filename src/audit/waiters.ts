/**
 * Writers waiting for their outbox records to be integrated under a checkpoint (break-glass).
 * When this process is the sequencer it settles them as its batches commit; otherwise a poller
 * asks the store for the records' receipts and then for a checkpoint covering them — only while
 * someone waits, backing off from 2 ms to `pollMs`.
 * @module
 */
import { AbortedError, AuditCorruptError, KeywardenError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { openCheckpoint } from './checkpoint.js';
import type { NoteVerifier } from './note.js';
import { receiptMac } from './records.js';
import type { AuditStore, ReceiptRow } from './store.js';

/** Where a record landed, and a checkpoint that covers it. */
export interface AuditReceipt {
  /** Index of the (first) appended entry. */
  index: number;
  /** Tree size of `checkpoint`. */
  size: number;
  /** Signed checkpoint note over a tree including the entries. */
  checkpoint: string;
}

interface Waiter {
  resolve: (r: AuditReceipt) => void;
  reject: (err: unknown) => void;
  /** The entries the writer recorded: a receipt read from the store must show exactly these under the checkpoint. */
  entries: readonly Uint8Array[];
  /** The MAC of the writer's outbox record: a receipt read from the store must carry the sequencer's MAC over it. */
  recordMac: Uint8Array;
  /** Set once the receipt is known: the index and the count of its entries. */
  at?: { index: number; count: number };
}

/**
 * Whether `entries` are the log's entries `index`, `index + 1`, … in the tree of `size` entries
 * whose root is `root` (a signed checkpoint's): inclusion proofs from the store's tiles.
 */
export type IncludedCheck = (index: number, entries: readonly Uint8Array[], size: number, root: Uint8Array) => Promise<boolean>;

/** The tickets this AuditLog waits for. */
export class TicketWaiters {
  readonly #store: AuditStore;
  readonly #receiptKey: Uint8Array;
  readonly #verifier: NoteVerifier;
  readonly #origin: string;
  readonly #pollMs: number;
  readonly #waiters = new Map<string, Waiter[]>();
  readonly #nudge: () => void;
  readonly #included: IncludedCheck;
  #polling = false;

  /**
   * @param hooks.receiptKey the outbox MAC key, which the sequencer's receipt MACs are made with (records.ts `receiptMac`).
   * @param hooks.nudge called on every wait: this process's sequencer, if any, stops lingering.
   * @param hooks.included checks a receipt read from the store against a checkpoint (see {@link IncludedCheck}).
   */
  constructor(store: AuditStore, verifier: NoteVerifier, origin: string, pollMs: number, hooks: { receiptKey: Uint8Array; nudge?: () => void; included?: IncludedCheck }) {
    this.#receiptKey = hooks.receiptKey;
    this.#nudge = hooks.nudge ?? (() => undefined);
    this.#included = hooks.included ?? (async () => false);
    this.#store = store;
    this.#verifier = verifier;
    this.#origin = origin;
    this.#pollMs = pollMs;
  }

  /** Whether anyone waits (then this process's sequencer does not linger). */
  get waiting(): boolean {
    return this.#waiters.size > 0;
  }

  /**
   * Resolves once `ticket`'s entries (`entries`, what the writer recorded; empty for a flush or a
   * checkpoint request) are integrated and a checkpoint covers them. `recordMac` is the MAC of
   * the outbox record the writer enqueued under `ticket`.
   */
  wait(ticket: string, recordMac: Uint8Array, signal?: AbortSignal, entries: readonly Uint8Array[] = []): Promise<AuditReceipt> {
    // Already aborted (the deadline passed while the record was enqueued): 'abort' will not fire
    // again, so a waiter registered now would never settle and keep the poller going.
    if (signal?.aborted === true) return Promise.reject(signal.reason instanceof KeywardenError ? signal.reason : new AbortedError(signal.reason));
    return new Promise<AuditReceipt>((resolve, reject) => {
      const w: Waiter = { resolve, reject, entries, recordMac };
      const list = this.#waiters.get(ticket) ?? [];
      list.push(w);
      this.#waiters.set(ticket, list);
      signal?.addEventListener('abort', () => {
        this.#remove(ticket, w);
        reject(signal.reason instanceof KeywardenError ? signal.reason : new AbortedError(signal.reason));
      }, { once: true });
      this.#nudge();
      if (!this.#polling) void this.#poll();
    });
  }

  /** The local sequencer integrated these records, with `checkpoint` (size `size`) in the same step. */
  settle(receipts: readonly { ticket: string; index: number; count: number }[], checkpoint: string | undefined, size: number): void {
    for (const r of receipts) {
      const list = this.#waiters.get(r.ticket);
      if (list === undefined) continue;
      for (const w of list) w.at = { index: r.index, count: r.count };
      if (checkpoint !== undefined && size >= r.index + r.count) {
        this.#waiters.delete(r.ticket);
        for (const w of list) w.resolve({ index: r.index, size, checkpoint });
      }
    }
  }

  /** Fails every waiter (the log is closing). */
  rejectAll(err: unknown): void {
    for (const list of this.#waiters.values()) for (const w of list) w.reject(err);
    this.#waiters.clear();
  }

  #remove(ticket: string, w: Waiter): void {
    const list = this.#waiters.get(ticket);
    if (list === undefined) return;
    const rest = list.filter((x) => x !== w);
    if (rest.length === 0) this.#waiters.delete(ticket);
    else this.#waiters.set(ticket, rest);
  }

  async #poll(): Promise<void> {
    this.#polling = true;
    let delay = 2;
    try {
      while (this.#waiters.size > 0) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(this.#pollMs, delay * 2);
        let checkpoint: { note: string; size: number; root: Uint8Array } | undefined;
        for (const [ticket, list] of [...this.#waiters]) {
          try {
            let at = list[0]?.at;
            if (at === undefined) {
              const row = await this.#store.receipt(ticket);
              if (row === undefined) continue;
              // Only the sequencer can MAC a receipt (records.ts receiptMac); a record without
              // entries has nothing else to check, and one with entries is checked again below.
              if (!this.#authentic(row, list[0]!.recordMac)) {
                throw new AuditCorruptError(`the stored receipt for outbox record ${ticket} does not carry the sequencer's MAC: it was not written by the log's sequencer`, row.index);
              }
              at = { index: row.index, count: row.count };
              for (const w of list) w.at = at;
            }
            checkpoint ??= await this.#latest();
            if (checkpoint === undefined || checkpoint.size < at.index + at.count) continue;
            // A receipt read from the store is only where the store says the entries landed:
            // someone who can write the store could forge one for a record never integrated
            // (and then delete the record), and break-glass would release on it. The entries
            // must be there, under the signed checkpoint (inclusion proofs against its root).
            const bad = list.find((w) => w.entries.length > 0);
            if (bad !== undefined && (at.count !== bad.entries.length || !(await this.#included(at.index, bad.entries, checkpoint.size, checkpoint.root)))) {
              throw new AuditCorruptError(`the stored receipt for outbox record ${ticket} does not match the log: its entries are not at index ${at.index} under the latest checkpoint`, at.index);
            }
            this.#waiters.delete(ticket);
            for (const w of list) w.resolve({ index: at.index, size: checkpoint.size, checkpoint: checkpoint.note });
          } catch (err) {
            // A store failure is retried at the next poll; a checkpoint that does not verify is not.
            if (err instanceof AuditCorruptError) {
              this.#waiters.delete(ticket);
              for (const w of list) w.reject(err);
            }
          }
        }
      }
    } finally {
      this.#polling = false;
    }
  }

  #authentic(row: ReceiptRow, recordMac: Uint8Array): boolean {
    return row.mac !== undefined && equalBytes(receiptMac(this.#receiptKey, row.index, row.count, recordMac), row.mac);
  }

  async #latest(): Promise<{ note: string; size: number; root: Uint8Array } | undefined> {
    const { checkpoint } = await this.#store.state();
    if (checkpoint === undefined) return undefined;
    try {
      const cp = openCheckpoint(checkpoint, this.#verifier, this.#origin).checkpoint;
      return { note: checkpoint, size: cp.size, root: cp.rootHash };
    } catch (cause) {
      throw new AuditCorruptError(`latest stored checkpoint does not verify under this log's key: ${(cause as Error).message}`);
    }
  }
}
