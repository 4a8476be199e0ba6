/**
 * Roots and proofs served from C2SP tlog-tiles, reading only the tiles a proof needs (at most a
 * few per level) through a bounded cache — the tree itself is never held in memory.
 *
 * Every hash a proof needs is the Merkle tree hash of a range `[start, start + n)` of the tree
 * (RFC 9162 §2.1.3.1 PATH and §2.1.4.1 SUBPROOF), and the ranges that occur are aligned: a range
 * splits into perfect subtrees by the binary digits of `n`, largest first, and its hash is their
 * right fold. A perfect subtree of height `h` is `2^(h mod 8)` consecutive hashes of one tile at
 * level `floor(h / 8)`. So a proof is planned (which tiles), the tiles are fetched together, and
 * the hashes are computed from them.
 *
 * @example
 * ```ts
 * const tree = new TileTree((level, index, width) => store.readTile(level, index, width));
 * const proof = await tree.inclusionProof(7, size);
 * verifyInclusion(leafHash(entry7), 7, size, proof, checkpointRoot); // true
 * ```
 * @module
 */
import { AuditCorruptError, InvalidInputError } from '../errors.js';
import { HASH_SIZE, emptyRoot, nodeHash } from './merkle.js';
import { TILE_HEIGHT, TILE_WIDTH, hashChildren, tilePath, tileWidth } from './tiles.js';
import { isBytes } from '../util/validate.js';

/**
 * The hashes inside a tile, by height above its own (index 0: the tile's hashes; h: the nodes
 * `h` levels up, as many as complete subtrees fit its width), computed once per tile held: a
 * proof needs a subtree hash from each height of a tile, and an upper tile serves many proofs.
 */
const insideTiles = new WeakMap<Uint8Array, Uint8Array[]>();

/** The hash of the perfect subtree of `count` (a power of two) hashes at `offset` of `tile`. */
function subtreeHash(tile: Uint8Array, offset: number, count: number): Uint8Array {
  if (count === 1) return tile.slice(offset * HASH_SIZE, (offset + 1) * HASH_SIZE);
  let heights = insideTiles.get(tile);
  if (heights === undefined) insideTiles.set(tile, (heights = [tile]));
  const height = 31 - Math.clz32(count);
  for (let h = heights.length; h <= height; h++) {
    const below = heights[h - 1]!;
    const n = Math.floor(below.length / HASH_SIZE / 2);
    const nodes = new Uint8Array(n * HASH_SIZE);
    for (let i = 0; i < n; i++) nodes.set(hashChildren(below, 2 * i * HASH_SIZE, below, (2 * i + 1) * HASH_SIZE), i * HASH_SIZE);
    heights.push(nodes);
  }
  const at = (offset / count) * HASH_SIZE;
  return heights[height]!.slice(at, at + HASH_SIZE);
}

/**
 * Reads tile `(level, index)` with at least `width` hashes (a wider version of the same tile is
 * fine: tiles only grow), or undefined when it is not stored.
 *
 * @example
 * ```ts
 * const read: TileReader = (level, index, width) => store.readTile(level, index, width);
 * ```
 */
export type TileReader = (level: number, index: number, width: number) => Promise<Uint8Array | undefined>;

/** A tile wanted by a {@link TileBatchReader}: (level, index) with at least `width` hashes. */
export interface TileWant {
  readonly level: number;
  readonly index: number;
  readonly width: number;
}

/**
 * Reads several tiles in one go (one database round trip), each like a {@link TileReader}:
 * the answer at position i is for `wants[i]`.
 */
export type TileBatchReader = (wants: readonly TileWant[]) => Promise<(Uint8Array | undefined)[]>;

/** A perfect subtree: its height and its index among the subtrees of that height. */
interface Perfect {
  height: number;
  index: number;
}

/** k of RFC 9162 §2.1.1: the largest power of two smaller than n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n >= 1 && split(n + 1) === n;
}

function log2(powerOfTwo: number): number {
  let h = 0;
  for (let p = 1; p < powerOfTwo; p *= 2) h++;
  return h;
}

/** The perfect subtrees of the aligned range [start, start + n), largest first. */
function decompose(start: number, n: number, out: Perfect[]): void {
  if (isPowerOfTwo(n)) {
    out.push({ height: log2(n), index: start / n });
    return;
  }
  const k = split(n);
  decompose(start, k, out);
  decompose(start + k, n - k, out);
}

// PATH(m, D[start:start+n]) (RFC 9162 §2.1.3.1): the ranges whose hashes form the proof, bottom-up.
function pathRanges(m: number, start: number, n: number, out: [number, number][]): void {
  if (n === 1) return;
  const k = split(n);
  if (m < k) {
    pathRanges(m, start, k, out);
    out.push([start + k, n - k]);
  } else {
    pathRanges(m - k, start + k, n - k, out);
    out.push([start, k]);
  }
}

// SUBPROOF(m, D[start:start+n], b) (RFC 9162 §2.1.4.1).
function subproofRanges(m: number, start: number, n: number, b: boolean, out: [number, number][]): void {
  if (m === n) {
    if (!b) out.push([start, n]);
    return;
  }
  const k = split(n);
  if (m <= k) {
    subproofRanges(m, start, k, b, out);
    out.push([start + k, n - k]);
  } else {
    subproofRanges(m - k, start + k, n - k, false, out);
    out.push([start, k]);
  }
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new InvalidInputError(name, `expected an integer in [${min}, ${max}], got ${String(value)}`);
}

/**
 * Roots and RFC 9162 proofs for any tree size, from tiles. Keeps at most `cacheTiles` tiles in
 * memory, with the hashes inside each: the least recently used level-0 tile goes first, an upper
 * tile only when no level-0 tile is left — a random proof reads a level-0 tile it will rarely
 * need again, and one of a few upper tiles that every proof needs (at 10^7 entries, 153 tiles at
 * level 1 and one at level 2).
 *
 * @example
 * ```ts
 * const tree = new TileTree(read, { cacheTiles: 64 });
 * const root = await tree.root(size);
 * const consistency = await tree.consistencyProof(oldSize, size);
 * ```
 */
export class TileTree {
  readonly #read: TileReader;
  readonly #readMany: TileBatchReader | undefined;
  readonly #capacity: number;
  /** Level-0 tiles, and upper tiles: each least recently used first. */
  readonly #low = new Map<string, Uint8Array>();
  readonly #high = new Map<string, Uint8Array>();

  /**
   * `options.readMany`, when given, fetches the tiles one proof needs that are not cached in one
   * call (for PostgreSQL: one query, so one pooled connection, instead of one per tile).
   */
  constructor(read: TileReader, options: { cacheTiles?: number; readMany?: TileBatchReader } = {}) {
    // Coded errors, not the engine's TypeError later (outside review 5).
    if (typeof read !== 'function') throw new InvalidInputError('read', 'expected a function (level, index, width) => tile');
    if (options === null || typeof options !== 'object') throw new InvalidInputError('options', 'expected an object');
    if (options.readMany !== undefined && typeof options.readMany !== 'function') throw new InvalidInputError('options.readMany', 'expected a function');
    if (options.cacheTiles !== undefined) checkRange('options.cacheTiles', options.cacheTiles, 0, Number.MAX_SAFE_INTEGER);
    this.#read = read;
    this.#readMany = options.readMany;
    this.#capacity = options.cacheTiles ?? 128;
  }

  /** Tiles held in the cache now (diagnostic). */
  get cachedTiles(): number {
    return this.#low.size + this.#high.size;
  }

  /** Forgets every cached tile (e.g. after storage was repaired). */
  clear(): void {
    this.#low.clear();
    this.#high.clear();
  }

  /** Tree head MTH(D[0:size]); the empty tree's root for 0. */
  async root(size: number): Promise<Uint8Array> {
    checkRange('size', size, 0, Number.MAX_SAFE_INTEGER);
    if (size === 0) return emptyRoot();
    return (await this.rangeHashes([[0, size]], size))[0]!;
  }

  /** Inclusion proof PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), bottom-up. */
  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    checkRange('size', size, 1, Number.MAX_SAFE_INTEGER);
    checkRange('index', index, 0, size - 1);
    const ranges: [number, number][] = [];
    pathRanges(index, 0, size, ranges);
    return this.rangeHashes(ranges, size);
  }

  /** Consistency proof PROOF(oldSize, D[0:size]) (RFC 9162 §2.1.4.1); empty for 0 or equal sizes. */
  async consistencyProof(oldSize: number, size: number): Promise<Uint8Array[]> {
    checkRange('size', size, 0, Number.MAX_SAFE_INTEGER);
    checkRange('oldSize', oldSize, 0, size);
    const ranges: [number, number][] = [];
    if (oldSize > 0 && oldSize < size) subproofRanges(oldSize, 0, size, true, ranges);
    return this.rangeHashes(ranges, size);
  }

  /**
   * The hashes of aligned ranges `[start, start + n)` of the tree of `size` entries: fetches the
   * tiles they need (once each, together), then computes. Aligned: `n >= 1` and `start` a
   * multiple of the largest power of two `<= n`, so that each perfect subtree of the range is a
   * node of the tree (every range of a root or an RFC 9162 proof is; a range need not be
   * tile-aligned).
   *
   * @throws InvalidInputError naming `size` or `ranges[i]` for any other range, or one past `size`.
   */
  async rangeHashes(ranges: readonly [number, number][], size: number): Promise<Uint8Array[]> {
    // Not a stack overflow for an empty or fractional range, nor a hash that is no node of the
    // tree for an unaligned one (outside review 6).
    checkRange('size', size, 0, Number.MAX_SAFE_INTEGER);
    if (!Array.isArray(ranges)) throw new InvalidInputError('ranges', 'expected an array of [start, n] pairs');
    const plans: Perfect[][] = [];
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i];
      if (!Array.isArray(r) || r.length !== 2) throw new InvalidInputError(`ranges[${i}]`, 'expected a [start, n] pair');
      const [start, n] = r as [number, number];
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(n) || start < 0 || n < 1 || start > size - n || start % split(n + 1) !== 0) {
        throw new InvalidInputError(`ranges[${i}]`, `expected an aligned range of the ${size}-entry tree`);
      }
      const parts: Perfect[] = [];
      decompose(start, n, parts);
      plans.push(parts);
    }
    const tiles = new Map<string, { level: number; index: number; width: number }>();
    for (const p of plans.flat()) {
      const level = Math.floor(p.height / TILE_HEIGHT);
      const first = p.index * 2 ** (p.height - level * TILE_HEIGHT);
      const index = Math.floor(first / TILE_WIDTH);
      tiles.set(`${level}/${index}`, { level, index, width: tileWidth(size, level, index) });
    }
    const data = new Map<string, Uint8Array>();
    const missing: [string, TileWant][] = [];
    for (const [key, t] of tiles) {
      const hit = this.#cached(key, t.width);
      if (hit !== undefined) data.set(key, hit);
      else missing.push([key, t]);
    }
    if (missing.length > 1 && this.#readMany !== undefined) {
      const got: unknown = await this.#readMany(missing.map(([, t]) => t));
      if (!Array.isArray(got)) throw new AuditCorruptError(`the batch read of ${missing.length} tiles did not answer an array`);
      missing.forEach(([key, t], i) => data.set(key, this.#keep(key, t, got[i])));
    } else {
      await Promise.all(missing.map(async ([key, t]) => data.set(key, this.#keep(key, t, await this.#read(t.level, t.index, t.width)))));
    }
    return plans.map((parts) => {
      const hashes = parts.map((p) => {
        const level = Math.floor(p.height / TILE_HEIGHT);
        const count = 2 ** (p.height - level * TILE_HEIGHT);
        const first = p.index * count;
        return subtreeHash(data.get(`${level}/${Math.floor(first / TILE_WIDTH)}`)!, first % TILE_WIDTH, count);
      });
      let acc = hashes[hashes.length - 1]!;
      for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc);
      return acc;
    });
  }

  /** The cached tile `key` when it has at least `width` hashes (and marks it recently used). */
  #cached(key: string, width: number): Uint8Array | undefined {
    const map = key.startsWith('0/') ? this.#low : this.#high;
    const cached = map.get(key);
    if (cached === undefined || cached.length < width * HASH_SIZE) return undefined;
    map.delete(key);
    map.set(key, cached);
    return cached;
  }

  /** Checks a tile read from storage and caches it. */
  #keep(key: string, { level, index, width }: TileWant, got: unknown): Uint8Array {
    // Bytes, not whatever has a `length` (a string, an array, null: outside review 6); O(1).
    if (!isBytes(got) || got.length < width * HASH_SIZE || got.length % HASH_SIZE !== 0 || got.length > TILE_WIDTH * HASH_SIZE) {
      throw new AuditCorruptError(`tile ${tilePath(level, index, width)} is missing or has the wrong length`);
    }
    if (this.#capacity > 0) {
      const map = level === 0 ? this.#low : this.#high;
      map.delete(key);
      map.set(key, got);
      while (this.#low.size + this.#high.size > this.#capacity) {
        const from = this.#low.size > 0 ? this.#low : this.#high;
        from.delete(from.keys().next().value!);
      }
    }
    return got;
  }
}
