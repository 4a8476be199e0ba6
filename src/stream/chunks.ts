/** Chunks shorter than this are copied into a buffer of the queue's own when coalescing. */
const SMALL = 4096;
/**
 * Size of each buffer of the queue's own (small chunks and own()'s copies are appended to it):
 * one allocation per several chunks, not one per chunk (a fresh 64 KiB buffer per chunk halved
 * the decrypt stream's throughput).
 */
const OWN_BUFFER = 256 * 1024;

/**
 * A FIFO of byte chunks from which exact lengths are taken as views. The stream machinery keeps
 * the caller's chunks here until it knows where segment boundaries fall and whether a segment is
 * the last one (which needs one byte of lookahead, docs/FORMAT.md §9.3), so it holds at most one
 * segment plus the chunk that arrived last. Portable.
 *
 * Chunks are kept by reference, except that a queue made with `coalesce` copies chunks under
 * 4 KiB into buffers of its own: the decryptor's input is untrusted, and a segment trickled one
 * byte per chunk would otherwise cost a view object (~110 bytes of heap) per byte received, with
 * the segment's size, up to 16 MiB, declared by the unauthenticated header. Copied bytes are
 * appended, never rewritten, so views already taken stay valid; bytes appended right after the
 * view that ends where they go grow that view, so a run of copies is one view.
 */
export class ChunkQueue {
  #chunks: Uint8Array[] = [];
  #head = 0;
  /** Offset into the head chunk of the first byte not yet taken. */
  #offset = 0;
  /** Bytes held. */
  length = 0;
  readonly #coalesce: boolean;
  /** The buffer copies are appended to, and how much of it is used. */
  #buf: Uint8Array | undefined;
  #bufUsed = 0;
  /** Backing stores of the buffers above: a chunk over one of them is the queue's own. */
  readonly #mine = new WeakSet<ArrayBufferLike>();
  /** Chunks below this index are the queue's own or were copied (see own()). */
  #ownedTo = 0;

  constructor(options?: { coalesce?: boolean }) {
    this.#coalesce = options?.coalesce === true;
  }

  /** Appends a chunk (kept by reference unless copied: the caller must not change it afterwards). */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    this.length += n;
    if (this.#coalesce && n < SMALL) this.#append(chunk);
    else this.#chunks.push(chunk);
  }

  /**
   * Copies `bytes` to the end of the queue, into the buffer of its own. When the last chunk is
   * the view that ends exactly where they are copied, that view grows (its start, and so #offset,
   * stay): a run of copies costs one view, not one per call — per call was ~110 bytes of heap per
   * byte of a trickled stream (outside review, 2026-12-02).
   */
  #append(bytes: Uint8Array): void {
    const n = bytes.length;
    let b = this.#buf;
    if (b === undefined || this.#bufUsed + n > b.length) {
      b = this.#buf = new Uint8Array(Math.max(OWN_BUFFER, n));
      this.#bufUsed = 0;
      this.#mine.add(b.buffer);
    }
    b.set(bytes, this.#bufUsed);
    const end = this.#bufUsed + n;
    const chunks = this.#chunks;
    const last = chunks.length - 1;
    const v = chunks[last];
    if (last >= this.#head && v !== undefined && v.buffer === b.buffer && v.byteOffset + v.length === b.byteOffset + this.#bufUsed) {
      chunks[last] = b.subarray(v.byteOffset - b.byteOffset, end);
    } else {
      chunks.push(b.subarray(this.#bufUsed, end));
    }
    this.#bufUsed = end;
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
   * Copies the chunks pushed since the last call that are still the caller's buffers into the
   * queue's own, so that the caller may reuse its buffers at once — what a stream's writer
   * expects once its write is done (outside review, 2026-12-02). Each byte is copied at most
   * once (chunks already the queue's own are left as they are), only bytes still held (at most
   * about one segment) are, and consecutive copies share one view.
   */
  own(): void {
    const chunks = this.#chunks;
    const from = Math.max(this.#head, this.#ownedTo);
    if (from >= chunks.length) return;
    const rest = chunks.splice(from);
    for (let i = 0; i < rest.length; i++) {
      const c = rest[i]!;
      if (this.#mine.has(c.buffer)) {
        chunks.push(c);
      } else if (from + i === this.#head && this.#offset > 0) {
        this.#append(c.subarray(this.#offset)); // the head, partly taken: only what is left
        this.#offset = 0;
      } else {
        this.#append(c);
      }
    }
    this.#ownedTo = chunks.length;
  }

  /** Drops everything held. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.length = 0;
    this.#buf = undefined;
    this.#bufUsed = 0;
    this.#ownedTo = 0;
  }
}

const EMPTY = new Uint8Array(0);
const TMP: Uint8Array[] = [];
