/**
 * Storage for unwrapped data keys: fixed 32-byte slots in 64 KiB chunks, outside the JS heap.
 * One slab holds a million keys in 32 MB with no per-key object, which is what keeps the cache
 * near 200 bytes per key (bench/memory). Released slots are zeroed at once and reused.
 */
const KEY = 32;
const SLOTS_PER_CHUNK = 2048; // 2048 * 32 = 64 KiB
const SHIFT = 11;
const MASK = SLOTS_PER_CHUNK - 1;

/** Size of the direct-mapped table of reusable views (bounded: at most ~100 KB of views). */
const VIEWS = 1024;

export class KeySlab {
  readonly #chunks: Uint8Array[] = [];
  readonly #free: number[] = [];
  #next = 0;
  // A view of a slot is a window on fixed memory, valid for whichever key occupies the slot,
  // so views can be reused across keys: busy keys then cost no allocation per message.
  readonly #viewSlot = new Int32Array(VIEWS).fill(-1);
  readonly #views: Uint8Array[] = new Array(VIEWS);

  /** Copies a 32-byte key into a free slot and returns the slot number. */
  alloc(key: Uint8Array): number {
    const slot = this.#free.length > 0 ? this.#free.pop()! : this.#next++;
    const chunk = slot >>> SHIFT;
    if (chunk === this.#chunks.length) this.#chunks.push(new Uint8Array(SLOTS_PER_CHUNK * KEY));
    this.#chunks[chunk]!.set(key, (slot & MASK) * KEY);
    return slot;
  }

  /** A view of the key in `slot`, valid until the slot is released. */
  view(slot: number): Uint8Array {
    const i = slot & (VIEWS - 1);
    if (this.#viewSlot[i] === slot) return this.#views[i]!;
    const off = (slot & MASK) * KEY;
    const v = this.#chunks[slot >>> SHIFT]!.subarray(off, off + KEY);
    this.#viewSlot[i] = slot;
    this.#views[i] = v;
    return v;
  }

  /** Zeroes the slot and makes it reusable. */
  release(slot: number): void {
    const off = (slot & MASK) * KEY;
    this.#chunks[slot >>> SHIFT]!.fill(0, off, off + KEY);
    this.#free.push(slot);
  }

  /** Slots in use. */
  get used(): number {
    return this.#next - this.#free.length;
  }
}
