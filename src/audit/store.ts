/**
 * Audit storage. A store keeps the log's entries in order and the signed checkpoints issued
 * over them; it is append-only by contract (nothing in this interface rewrites or deletes).
 * `append` resolves only when the entries are durable. Implementations: MemoryAuditStore
 * (here), FileAuditStore (./file-store.ts) and PostgresAuditStore (./postgres-store.ts).
 */

import { AuditCorruptError, InvalidInputError } from '../errors.js';

/** Tree size on a checkpoint note's second line (C2SP tlog-checkpoint), or undefined. */
export function checkpointSize(note: string): number | undefined {
  const line = note.split('\n')[1];
  return line !== undefined && /^(0|[1-9][0-9]*)$/.test(line) && Number.isSafeInteger(Number(line)) ? Number(line) : undefined;
}

/** Checks a truncation request: never below the latest stored checkpoint, never beyond the end. */
export function assertTruncation(size: number, current: number, checkpoints: readonly string[]): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > current) throw new InvalidInputError('size', `expected an integer in [0, ${current}]`);
  const last = checkpoints.length === 0 ? 0 : (checkpointSize(checkpoints[checkpoints.length - 1]!) ?? 0);
  if (size < last) throw new AuditCorruptError(`refusing to remove checkpointed entries (the latest checkpoint covers ${last})`, size);
}

/**
 * What a sequenced append finds under the head lock before it appends: the tree it extends and the
 * latest checkpoint stored. The signer refuses to sign unless that checkpoint covers exactly
 * that tree — otherwise entries were written past the last checkpoint without the log key.
 */
export interface SequencedHead {
  size: number;
  root: Uint8Array;
  checkpoint: string | undefined;
}

export interface AuditStore {
  /** Number of entries stored. */
  size(): Promise<number>;
  /** Appends entries durably and returns the index of the first. Appends are serialised. */
  append(entries: readonly Uint8Array[]): Promise<number>;
  /** Entries [start, end). */
  read(start: number, end: number): Promise<Uint8Array[]>;
  /** Records a signed checkpoint note (durably). */
  appendCheckpoint(note: string): Promise<void>;
  /** Every checkpoint note stored, oldest first. */
  checkpoints(): Promise<string[]>;
  /** Releases files or connections. */
  close(): Promise<void>;
  /**
   * Optional: removes the entries at and after index `size` (and any bytes of a write that did
   * not complete). The one exception to append-only, used only by AuditLog to undo an append
   * that was never acknowledged (it failed, or timed out, before its checkpoint was durable) and
   * for the operator's explicit repair of an unsigned tail. Never removes a checkpointed entry:
   * implementations refuse a `size` below the latest checkpoint's.
   */
  truncate?(size: number): Promise<void>;
  /**
   * Optional, for stores shared by several processes (PostgreSQL): appends `entries` and the
   * checkpoint over the resulting tree as ONE transaction that holds the log head, so appends
   * from many instances are serialised into one consistent tree. The store keeps the tree's
   * right edge (a CompactRange) with the head, appends the entries' leaf hashes to it, and
   * calls `sign(size, root, previous)` for the checkpoint note to store; `previous` is the head
   * it found (see {@link SequencedHead}), which `sign` checks before signing anything. With `options.tx`, it runs
   * inside that caller transaction instead of its own (e.g. the token ledger's). Zero entries
   * makes a fresh checkpoint of the current tree. With `options.signal`, a store running its own
   * transaction rolls it back instead of committing once the signal is aborted (the caller's
   * deadline passed: it has reported the append as failed).
   */
  appendSequenced?(
    entries: readonly Uint8Array[],
    sign: (size: number, root: Uint8Array, previous: SequencedHead) => string,
    options?: { tx?: unknown; signal?: AbortSignal },
  ): Promise<{ index: number; size: number; checkpoint: string }>;
  /**
   * Optional, for shared stores: the number of entries and the latest checkpoint note, read
   * together from one consistent snapshot (other processes may be appending), so that a reader
   * can tell "covered by a checkpoint" from "an unsigned tail".
   */
  head?(): Promise<{ size: number; checkpoint: string | undefined }>;
}

/**
 * An {@link AuditStore} in memory: for tests and for processes that ship their log elsewhere.
 *
 * @example
 * ```ts
 * const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey, origin: 'example.com/keywarden' });
 * ```
 */
export class MemoryAuditStore implements AuditStore {
  readonly #entries: Uint8Array[] = [];
  readonly #checkpoints: string[] = [];

  async size(): Promise<number> {
    return this.#entries.length;
  }
  async append(entries: readonly Uint8Array[]): Promise<number> {
    const first = this.#entries.length;
    for (const e of entries) this.#entries.push(Uint8Array.from(e));
    return first;
  }
  async read(start: number, end: number): Promise<Uint8Array[]> {
    return this.#entries.slice(start, end).map((e) => Uint8Array.from(e));
  }
  async appendCheckpoint(note: string): Promise<void> {
    this.#checkpoints.push(note);
  }
  async checkpoints(): Promise<string[]> {
    return [...this.#checkpoints];
  }
  async truncate(size: number): Promise<void> {
    assertTruncation(size, this.#entries.length, this.#checkpoints);
    this.#entries.length = size;
  }
  async close(): Promise<void> {}
}
