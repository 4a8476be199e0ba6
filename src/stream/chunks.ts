/** Chunks shorter than this are copied into a shared buffer when coalescing. */
const SMALL = 4096;
/** Size of each buffer that small chunks are copied into. */
const COALESCE = 64 * 1024;
/**
 * Size of each buffer own() copies into: one allocation per several chunks, not one per chunk
 * (a fresh 64 KiB buffer per chunk halved the decrypt stream's throughput).
 */
const OWN_BUFFER = 256 * 1024;

/**
 * A FIFO of byte chunks from which exact lengths are taken as views. The stream machinery keeps
 * the caller's chunks here until it knows where segment boundaries fall and whether a segment is
 * the last one (which needs one byte of lookahead, docs/FORMAT.md §9.3), so it holds at most one
 * segment plus the chunk that arrived last. Portable.
 *
 * Chunks are kept by reference, except that a queue made with `coalesce` copies chunks under
 * 4 KiB into 64 KiB buffers of its own: the decryptor's input is untrusted, and a segment
 * trickled one byte per chunk would otherwise cost a view object (~110 bytes of heap) per byte
 * received, with the segment's size, up to 16 MiB, declared by the unauthenticated header.
 * Copied bytes are appended, never rewritten, so views already taken stay valid.
 */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  /** Offset into the head chunk of the first byte not yet taken. */
  #offset = 0;
  /** Bytes held. */
  length = 0;
  readonly #coalesce: boolean;
  /** The buffer small chunks are copied into, how much of it is used, and the index in #chunks of the view that ends there (-1: none). */
  #tail: Uint8Array | undefined;
  #tailUsed = 0;
  #tailIndex = -1;
  /** Chunks below this index are buffers of the queue's own (see own()). */
  #ownedTo = 0;
  /** The buffer own() appends to, and how much of it is used. */
  #own: Uint8Array | undefined;
  #ownUsed = 0;

  constructor(options?: { coalesce?: boolean }) {
    this.#coalesce = options?.coalesce === true;
  }

  /** Appends a chunk (kept by reference unless copied: the caller must not change it afterwards). */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    this.length += n;
    if (!this.#coalesce || n >= SMALL) {
      this.#chunks.push(chunk);
      this.#tailIndex = -1;
      return;
    }
    let t = this.#tail;
    if (t === undefined || this.#tailUsed + n > t.length) {
      t = this.#tail = new Uint8Array(COALESCE);
      this.#tailUsed = 0;
      this.#tailIndex = -1;
    }
    t.set(chunk, this.#tailUsed);
    const end = this.#tailUsed + n;
    const last = this.#chunks.length - 1;
    if (this.#tailIndex === last && last >= this.#head) {
      // Grow the view that ends where this chunk was copied (its start, and so #offset, stay).
      const v = this.#chunks[last]!;
      this.#chunks[last] = t.subarray(v.byteOffset - t.byteOffset, end);
    } else {
      this.#chunks.push(t.subarray(this.#tailUsed, end));
      this.#tailIndex = this.#chunks.length - 1;
    }
    this.#tailUsed = end;
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
      if (this.#tailIndex >= 0) this.#tailIndex = this.#tailIndex >= this.#head ? this.#tailIndex - this.#head : -1;
      this.#ownedTo = Math.max(0, this.#ownedTo - this.#head);
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

  /**
   * Copies the bytes pushed since the last call (still the caller's buffers) into one buffer of
   * the queue's own, so that the caller may reuse its buffers at once — what a stream's writer
   * expects once its write is done (outside review, 2026-12-02). Each byte is copied at most
   * once, and only bytes still held (at most about one segment) are.
   */
  own(): void {
    const chunks = this.#chunks;
    const from = Math.max(this.#head, this.#ownedTo);
    if (from >= chunks.length) return;
    let n = 0;
    for (let i = from; i < chunks.length; i++) n += chunks[i]!.length - (i === this.#head ? this.#offset : 0);
    // Appended to the current buffer of our own (views into its earlier part stay valid: nothing
    // there is rewritten), or to a new one when it is full.
    if (this.#own === undefined || this.#ownUsed + n > this.#own.length) {
      this.#own = new Uint8Array(Math.max(OWN_BUFFER, n));
      this.#ownUsed = 0;
    }
    const copy = this.#own.subarray(this.#ownUsed, this.#ownUsed + n);
    this.#ownUsed += n;
    let at = 0;
    for (let i = from; i < chunks.length; i++) {
      const c = i === this.#head && this.#offset > 0 ? chunks[i]!.subarray(this.#offset) : chunks[i]!;
      copy.set(c, at);
      at += c.length;
    }
    chunks.length = from;
    chunks.push(copy);
    if (from === this.#head) this.#offset = 0;
    this.#ownedTo = chunks.length;
    // Small chunks go to a new coalescing buffer from now on (the copy is not appended to).
    this.#tail = undefined;
    this.#tailUsed = 0;
    this.#tailIndex = -1;
  }

  /** Drops everything held. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.length = 0;
    this.#tail = undefined;
    this.#tailUsed = 0;
    this.#tailIndex = -1;
    this.#ownedTo = 0;
    this.#own = undefined;
    this.#ownUsed = 0;
  }
}

const EMPTY = new Uint8Array(0);
const TMP: Uint8Array[] = [];
