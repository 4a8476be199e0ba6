/**
 * Group commit: callers that arrive while a durable write is in flight are written together by
 * the next one — one write (and one fsync or one transaction) for the whole group — so the cost
 * of durability is shared instead of paid per record.
 *
 * @example
 * ```ts
 * const group = new GroupCommit<Row, number>((rows) => insertAll(rows)); // resolves with one id per row
 * const id = await group.submit(row);
 * ```
 * @module
 */

interface Waiting<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

/** Batches concurrent submissions into calls of `flush` (one at a time, at most `max` items each). */
export class GroupCommit<I, R> {
  readonly #flush: (items: I[]) => Promise<R[]>;
  readonly #max: number;
  #waiting: Waiting<I, R>[] = [];
  #running: Promise<void> | undefined;

  constructor(flush: (items: I[]) => Promise<R[]>, max = 1000) {
    this.#flush = flush;
    this.#max = max;
  }

  /** Resolves with the item's result once the group holding it was flushed. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#running ??= this.#drain();
    });
  }

  /** Resolves when nothing is queued or being flushed. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const group = this.#waiting.splice(0, this.#max);
        try {
          const results = await this.#flush(group.map((w) => w.item));
          group.forEach((w, i) => w.resolve(results[i]!));
        } catch (err) {
          for (const w of group) w.reject(err);
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
