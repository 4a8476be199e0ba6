/**
 * The right edge of a tiled Merkle tree (C2SP tlog-tiles): the partial tile of every level and,
 * optionally, the partial entry bundle. It is everything a sequencer needs in memory to append
 * and to compute the root — at most 255 hashes per level (a few KiB at any size) — and it
 * emits the tiles each append completes or changes, to be written in the same durable step as
 * the entries (docs/AUDIT.md §4).
 *
 * The root is computed from the partial tiles alone: at size `s`, level `L`'s partial tile holds
 * `floor(s / 256^L) mod 256` complete subtrees of `256^L` leaves, and together, from the top
 * level down, they are exactly the tree's leaves (RFC 9162 §2.1.1 splits them into perfect
 * subtrees by the binary digits of each width).
 *
 * @example
 * ```ts
 * const edge = TileEdge.empty(true);
 * for (const e of entries) edge.append(leafHash(e), e);
 * const writes = edge.take();   // full tiles and bundles completed, and the new partial ones
 * const root = edge.root();     // equals new MerkleTree(entries.map(leafHash)).root()
 * ```
 * @module
 */
import { AuditCorruptError, InvalidInputError } from '../errors.js';
import { HASH_SIZE, emptyRoot, nodeHash } from './merkle.js';
import { MAX_BUNDLE_ENTRY, TILE_WIDTH, encodeBundle, levelSpan, perfectHash, tileHash, tilePath } from './tiles.js';
import { assertBytes, assertBytesMax, isBytes } from '../util/validate.js';

/**
 * A tile or entry bundle to store: `data` is the hashes (`width · 32` bytes) or the bundle.
 *
 * @example
 * ```ts
 * const w: TileWrite = { level: 0, index: 3, width: 17, data: hashes };
 * ```
 */
export interface TileWrite {
  level: number | 'entries';
  index: number;
  width: number;
  data: Uint8Array;
}

/**
 * The partial tiles (and bundle) of a tree, growing by appends.
 *
 * @example
 * ```ts
 * const edge = TileEdge.fromPartials(size, partials); // partial tile hashes read from storage
 * edge.append(leafHash(entry));
 * ```
 */
export class TileEdge {
  #size: number;
  /** Per level: a 256-hash buffer whose first `#widths[L]` hashes are the partial tile. */
  readonly #levels: Uint8Array[];
  readonly #widths: number[];
  /** Entries of the partial bundle, when bundles are tracked. */
  readonly #bundle: Uint8Array[] | undefined;
  #bundleDirty = false;
  readonly #dirty = new Set<number>();
  #completed: TileWrite[] = [];

  private constructor(size: number, levels: Uint8Array[], widths: number[], bundle: Uint8Array[] | undefined) {
    this.#size = size;
    this.#levels = levels;
    this.#widths = widths;
    this.#bundle = bundle;
  }

  /** The edge of the empty tree; `withBundles` also keeps the partial entry bundle. */
  static empty(withBundles: boolean): TileEdge {
    return new TileEdge(0, [], [], withBundles ? [] : undefined);
  }

  /**
   * The edge of a tree of `size` entries from its partial tiles: `partials[L]` holds at least the
   * `floor(size / 256^L) mod 256` hashes of level `L`'s partial tile (more — a wider version of
   * the same tile — are ignored); `bundle`, when given, the entries of the partial bundle.
   *
   * @throws AuditCorruptError when a partial tile or the bundle is missing or too short;
   * InvalidInputError naming `partials`, `partials[L]`, `bundle` or `bundle[i]` when not bytes (an
   * entry: of at most 65,535 bytes).
   */
  static fromPartials(size: number, partials: readonly (Uint8Array | undefined)[], bundle?: readonly Uint8Array[]): TileEdge {
    if (!Number.isSafeInteger(size) || size < 0) throw new InvalidInputError('size', 'expected a non-negative safe integer');
    // Coded errors, not a raw TypeError, and no entry that fails only in a later `take()` (outside review 6).
    if (!Array.isArray(partials)) throw new InvalidInputError('partials', 'expected an array of partial tiles');
    const levels: Uint8Array[] = [];
    const widths: number[] = [];
    for (let level = 0; Math.floor(size / levelSpan(level)) > 0; level++) {
      const width = Math.floor(size / levelSpan(level)) % TILE_WIDTH;
      const buf = new Uint8Array(TILE_WIDTH * HASH_SIZE);
      if (width > 0) {
        const p = partials[level];
        if (p !== undefined && !isBytes(p)) assertBytes(`partials[${level}]`, p);
        if (p === undefined || p.length < width * HASH_SIZE) {
          throw new AuditCorruptError(`tile ${tilePath(level, Math.floor(size / levelSpan(level + 1)), width)} is missing or too short`);
        }
        buf.set(p.subarray(0, width * HASH_SIZE));
      }
      levels.push(buf);
      widths.push(width);
    }
    let entries: Uint8Array[] | undefined;
    if (bundle !== undefined) {
      if (!Array.isArray(bundle)) throw new InvalidInputError('bundle', 'expected an array of entries');
      if (bundle.length < size % TILE_WIDTH) throw new AuditCorruptError(`entry bundle ${tilePath('entries', Math.floor(size / TILE_WIDTH), size % TILE_WIDTH)} is missing or too short`);
      entries = [];
      for (let i = 0; i < size % TILE_WIDTH; i++) {
        const e = bundle[i];
        assertBytesMax(`bundle[${i}]`, e, MAX_BUNDLE_ENTRY); // holes too, which `map` would keep as holes
        entries.push(e.slice());
      }
    }
    return new TileEdge(size, levels, widths, entries);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** Whether the partial entry bundle is tracked. */
  get tracksBundles(): boolean {
    return this.#bundle !== undefined;
  }

  /** A copy that can be appended to without changing this edge (a batch that may fail). */
  clone(): TileEdge {
    const copy = new TileEdge(this.#size, this.#levels.map((l) => l.slice()), [...this.#widths], this.#bundle?.slice());
    copy.#bundleDirty = this.#bundleDirty;
    for (const d of this.#dirty) copy.#dirty.add(d);
    copy.#completed = [...this.#completed];
    return copy;
  }

  /** Appends a leaf hash (and its entry, when bundles are tracked). */
  append(leaf: Uint8Array, entry?: Uint8Array): void {
    assertBytes('leafHash', leaf, HASH_SIZE);
    if (this.#bundle !== undefined) {
      if (entry === undefined) throw new InvalidInputError('entry', 'expected the entry: this edge keeps entry bundles');
      // Before the leaf is counted, not in the append that completes the bundle (outside review 6); O(1).
      if (!isBytes(entry) || entry.length > MAX_BUNDLE_ENTRY) assertBytesMax('entry', entry, MAX_BUNDLE_ENTRY);
      this.#bundle.push(entry);
      this.#bundleDirty = true;
      if (this.#bundle.length === TILE_WIDTH) {
        this.#completed.push({ level: 'entries', index: Math.floor(this.#size / TILE_WIDTH), width: TILE_WIDTH, data: encodeBundle(this.#bundle) });
        this.#bundle.length = 0;
      }
    }
    this.#size++;
    let hash = leaf;
    for (let level = 0; ; level++) {
      if (this.#levels.length === level) {
        this.#levels.push(new Uint8Array(TILE_WIDTH * HASH_SIZE));
        this.#widths.push(0);
      }
      const buf = this.#levels[level]!;
      const w = this.#widths[level]!;
      buf.set(hash, w * HASH_SIZE);
      this.#dirty.add(level);
      if (w + 1 < TILE_WIDTH) {
        this.#widths[level] = w + 1;
        return;
      }
      // The tile is full: store it, and its hash becomes the next node one tile level up.
      const index = Math.floor((Math.floor(this.#size / levelSpan(level)) - 1) / TILE_WIDTH);
      this.#completed.push({ level, index, width: TILE_WIDTH, data: buf.slice() });
      this.#widths[level] = 0;
      hash = tileHash(buf);
    }
  }

  /**
   * The tiles and bundles to store since the last call: every full one completed, and the
   * current partial one of every level that changed (none for a level whose partial width is 0).
   */
  take(): TileWrite[] {
    const out = this.#completed;
    this.#completed = [];
    for (const level of [...this.#dirty].sort((a, b) => a - b)) {
      const w = this.#widths[level]!;
      if (w > 0) out.push({ level, index: Math.floor(this.#size / levelSpan(level + 1)), width: w, data: this.#levels[level]!.slice(0, w * HASH_SIZE) });
    }
    this.#dirty.clear();
    if (this.#bundle !== undefined && this.#bundleDirty && this.#bundle.length > 0) {
      out.push({ level: 'entries', index: Math.floor(this.#size / TILE_WIDTH), width: this.#bundle.length, data: encodeBundle(this.#bundle) });
    }
    this.#bundleDirty = false;
    return out;
  }

  /** Only the full tiles and bundles completed since the last call (a streaming verifier's check). */
  takeCompleted(): TileWrite[] {
    const out = this.#completed;
    this.#completed = [];
    return out;
  }

  /** The partial tile hashes of `level` (a copy; empty when its width is 0). */
  partial(level: number): Uint8Array {
    const w = this.#widths[level] ?? 0;
    return w === 0 ? new Uint8Array(0) : this.#levels[level]!.slice(0, w * HASH_SIZE);
  }

  /** The entries of the partial bundle (copies), when tracked. */
  bundleEntries(): Uint8Array[] | undefined {
    return this.#bundle?.map((e) => e.slice());
  }

  /** Root of the tree (RFC 9162 §2.1.1) from the partial tiles, top level first. */
  root(): Uint8Array {
    const subtrees: Uint8Array[] = [];
    for (let level = this.#levels.length - 1; level >= 0; level--) {
      const w = this.#widths[level]!;
      let offset = 0;
      for (let bit = TILE_WIDTH / 2; bit >= 1; bit /= 2) {
        if ((w & bit) === 0) continue;
        subtrees.push(perfectHash(this.#levels[level]!, offset, bit));
        offset += bit;
      }
    }
    if (subtrees.length === 0) return emptyRoot();
    let acc = subtrees[subtrees.length - 1]!;
    for (let i = subtrees.length - 2; i >= 0; i--) acc = nodeHash(subtrees[i]!, acc);
    return acc;
  }
}
