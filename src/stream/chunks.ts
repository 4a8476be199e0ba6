/**
 * A FIFO of byte chunks from which exact lengths are taken as views — never copied. The stream
 * machinery keeps the caller's chunks here until it knows where segment boundaries fall and
 * whether a segment is the last one (which needs one byte of lookahead, docs/FORMAT.md §9.3), so
 * it holds at most one segment plus the chunk that arrived last. Portable.
 */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  /** Offset into the head chunk of the first byte not yet taken. */
  #offset = 0;
  /** Bytes held. */
  length = 0;

  /** Appends a chunk (kept by reference: the caller must not change it afterwards). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.length += chunk.length;
  }

  /**
   * Removes the first `n` bytes (n ≤ length) and puts them in `out` as views, replacing its
   * contents. The views stay valid as long as the chunks they view do.
   */
  take(n: number, out: Uint8Array[]): Uint8Array[] {
    out.length = 0;
    this.length -= n;
    while (n > 0) {
      const c = this.#chunks[this.#head]!;
      const avail = c.length - this.#offset;
      if (avail <= n) {
        out.push(this.#offset === 0 ? c : c.subarray(this.#offset));
        n -= avail;
        this.#chunks[this.#head++] = EMPTY; // drop the reference at once
        this.#offset = 0;
      } else {
        out.push(c.subarray(this.#offset, this.#offset + n));
        this.#offset += n;
        n = 0;
      }
    }
    if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    return out;
  }

  /** Removes the first `n` bytes into `scratch` (n ≤ length, n ≤ scratch.length) and returns that view of it. */
  takeCopy(n: number, scratch: Uint8Array): Uint8Array {
    const parts = this.take(n, TMP);
    let at = 0;
    for (const p of parts) {
      scratch.set(p, at);
      at += p.length;
    }
    TMP.length = 0;
    return n === scratch.length ? scratch : scratch.subarray(0, n);
  }

  /** Drops everything held. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.length = 0;
  }
}

const EMPTY = new Uint8Array(0);
const TMP: Uint8Array[] = [];
