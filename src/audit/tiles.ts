/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the Merkle tree as immutable tiles of 256
 * hashes, and the entries as bundles of 256. Portable: no Node-only APIs.
 *
 * - tile `(L, N)` holds the hashes of the tree nodes at height `8·L` with indices
 *   `[256·N, 256·N + W)`, `W = 256` for a full tile (8,192 bytes) and 1..255 for the partial tile
 *   on the right edge (tlog-tiles §"Merkle Tree", §"Partial Tiles");
 * - at tree size `s`, level `L` has `floor(s / 256^L)` complete nodes: `floor(…/256)` full
 *   tiles and a partial tile of width `floor(s / 256^L) mod 256` when that is not 0;
 * - paths are `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, `N` written in zero-padded
 *   3-digit groups, all but the last prefixed with `x` (`1234067` → `x001/x234/067`);
 * - an entry bundle is the entries, each prefixed by its length as a big-endian uint16
 *   (tlog-tiles §"Log entries").
 *
 * @example
 * ```ts
 * tilePath(0, 1234067);          // 'tile/0/x001/x234/067'
 * tilePath(1, 5, 17);            // 'tile/1/005.p/17'
 * tilePath('entries', 0, 3);     // 'tile/entries/000.p/3'
 * tileWidth(70_000, 1, 1);       // 17: the partial level-1 tile of a 70,000-entry tree
 * ```
 * @module
 */
import { sha256 } from '../util/digest.js';
import { InvalidInputError } from '../errors.js';
import { assertBytes, assertInt, isBytes } from '../util/validate.js';
import { HASH_SIZE } from './merkle.js';

/**
 * Hashes per full tile (tlog-tiles: tiles have height 8).
 *
 * @example
 * ```ts
 * const fullTiles = Math.floor(size / TILE_WIDTH);
 * ```
 */
export const TILE_WIDTH = 256;
/**
 * Tree levels per tile level: tile level `L` holds the nodes at tree height `TILE_HEIGHT · L`.
 *
 * @example
 * ```ts
 * const treeHeight = TILE_HEIGHT * tileLevel;
 * ```
 */
export const TILE_HEIGHT = 8;
/**
 * Largest entry an entry bundle can carry: its length is a big-endian uint16.
 *
 * @example
 * ```ts
 * if (entry.length > MAX_BUNDLE_ENTRY) throw new Error('too large for a tlog-tiles bundle');
 * ```
 */
export const MAX_BUNDLE_ENTRY = 0xffff;
/** tlog-tiles: `<L>` is between 0 and 63. */
const MAX_LEVEL = 63;

/**
 * One tile or entry bundle: its level (`'entries'` for a bundle), index and width (256 = full).
 *
 * @example
 * ```ts
 * const ref: TileRef = { level: 0, index: 4, width: 256 };
 * ```
 */
export interface TileRef {
  level: number | 'entries';
  index: number;
  width: number;
}

function checkIndex(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidInputError(name, `expected a non-negative safe integer, got ${String(n)}`);
}

/**
 * The path of a tile or entry bundle (tlog-tiles §"Merkle Tree", §"Log entries").
 *
 * @throws InvalidInputError naming `level`, `index` or `width` when out of range.
 * @example
 * ```ts
 * tilePath(2, 0, 1); // 'tile/2/000.p/1'
 * ```
 */
export function tilePath(level: number | 'entries', index: number, width: number = TILE_WIDTH): string {
  if (level !== 'entries' && (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL)) throw new InvalidInputError('level', 'expected an integer in [0, 63] or "entries"');
  checkIndex('index', index);
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) throw new InvalidInputError('width', 'expected an integer in [1, 256]');
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  const name = groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
  return `tile/${level}/${name}${width < TILE_WIDTH ? `.p/${width}` : ''}`;
}

const PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses a tile or bundle path strictly (one spelling per tile: no extra zeroes, no empty
 * `x000` group in front); undefined when it is not one.
 *
 * @example
 * ```ts
 * parseTilePath('tile/0/x001/x234/067.p/8'); // { level: 0, index: 1234067, width: 8 }
 * ```
 */
export function parseTilePath(path: string): TileRef | undefined {
  // Not a path: never `exec`'s own conversion (a Symbol or a null-prototype object: raw TypeError).
  if (typeof path !== 'string') return undefined;
  const m = PATH.exec(path);
  if (!m) return undefined;
  const groups = [...m[2]!.split('/').filter((g) => g.length > 0).map((g) => g.slice(1)), m[3]!];
  if (groups.length > 1 && groups[0] === '000') return undefined;
  let index = 0;
  for (const g of groups) index = index * 1000 + Number(g);
  if (!Number.isSafeInteger(index)) return undefined;
  const width = m[4] === undefined ? TILE_WIDTH : Number(m[4]);
  // A full tile has no `.p/` suffix; a partial one is narrower than a full one (tlog-tiles).
  if (m[4] !== undefined && width >= TILE_WIDTH) return undefined;
  const level = m[1] === 'entries' ? 'entries' : Number(m[1]);
  if (level !== 'entries' && level > MAX_LEVEL) return undefined;
  return { level, index, width };
}

/** 256^level, exactly (level <= 6 stays below 2^53). */
export function levelSpan(level: number): number {
  return TILE_WIDTH ** level;
}

/**
 * Width of tile `index` at `level` in a tree of `size` entries: 256 when full, 1..255 for the
 * partial tile, 0 when the tree has no such tile. Bundles use level 0.
 *
 * @throws InvalidInputError naming `size`, `level` or `index` when not an integer in range.
 * @example
 * ```ts
 * tileWidth(256, 1, 0); // 1 (tlog-tiles: a 256-entry tree has a partial level-1 tile of width 1)
 * ```
 */
export function tileWidth(size: number, level: number, index: number): number {
  // Not a NaN width for NaN or Infinity, nor a raw TypeError for a BigInt (outside review 6).
  assertInt('size', size, 0, Number.MAX_SAFE_INTEGER);
  assertInt('level', level, 0, MAX_LEVEL);
  assertInt('index', index, 0, Number.MAX_SAFE_INTEGER);
  const nodes = Math.floor(size / levelSpan(level));
  return Math.max(0, Math.min(TILE_WIDTH, nodes - index * TILE_WIDTH));
}

/**
 * The tiles the right edge of a tree of `size` entries needs: per level from 0 up, the index of
 * the last (partial) tile and its width; levels whose partial width is 0 are skipped.
 *
 * @throws InvalidInputError naming `size` when not an integer in [0, 2^53 - 1].
 * @example
 * ```ts
 * edgeTiles(70_000); // [{ level: 0, index: 273, width: 112 }, { level: 1, index: 1, width: 17 }, { level: 2, index: 0, width: 1 }]
 * ```
 */
export function edgeTiles(size: number): TileRef[] {
  assertInt('size', size, 0, Number.MAX_SAFE_INTEGER);
  const out: TileRef[] = [];
  for (let level = 0; Math.floor(size / levelSpan(level)) > 0; level++) {
    const nodes = Math.floor(size / levelSpan(level));
    const width = nodes % TILE_WIDTH;
    if (width > 0) out.push({ level, index: Math.floor(nodes / TILE_WIDTH), width });
  }
  return out;
}

const scratch = new Uint8Array(1 + 2 * HASH_SIZE);
scratch[0] = 0x01; // RFC 9162 §2.1.1: node hash prefix

/** `SHA-256(0x01 || left || right)` from two 32-byte views, into a fresh array. */
export function hashChildren(buf: Uint8Array, leftOff: number, rightBuf: Uint8Array, rightOff: number): Uint8Array {
  scratch.set(buf.subarray(leftOff, leftOff + HASH_SIZE), 1);
  scratch.set(rightBuf.subarray(rightOff, rightOff + HASH_SIZE), 1 + HASH_SIZE);
  return sha256(scratch);
}

/**
 * RFC 6962 Merkle tree hash of `count` consecutive hashes starting at hash `offset` of `hashes`,
 * where `count` is a power of two: the node `log2(count)` levels above them.
 */
export function perfectHash(hashes: Uint8Array, offset: number, count: number): Uint8Array {
  if (count === 1) return hashes.slice(offset * HASH_SIZE, (offset + 1) * HASH_SIZE);
  let level = hashes.slice(offset * HASH_SIZE, (offset + count) * HASH_SIZE);
  for (let n = count; n > 1; n /= 2) {
    const next = new Uint8Array((n / 2) * HASH_SIZE);
    for (let i = 0; i < n / 2; i++) next.set(hashChildren(level, 2 * i * HASH_SIZE, level, (2 * i + 1) * HASH_SIZE), i * HASH_SIZE);
    level = next;
  }
  return level;
}

/**
 * The hash a full tile contributes to the level above: the Merkle tree hash of its 256 hashes.
 *
 * @example
 * ```ts
 * const parent = tileHash(fullTileBytes); // hash number (N mod 256) of tile (L + 1, floor(N / 256))
 * ```
 */
export function tileHash(tile: Uint8Array): Uint8Array {
  assertBytes('tile', tile, TILE_WIDTH * HASH_SIZE); // a full tile of 8192 bytes (not a raw TypeError: outside review 5)
  return perfectHash(tile, 0, TILE_WIDTH);
}

/**
 * Encodes entries as a tlog-tiles entry bundle: each entry prefixed by its big-endian uint16
 * length.
 *
 * @throws InvalidInputError when an entry is longer than 65,535 bytes.
 * @example
 * ```ts
 * const bundle = encodeBundle([a, b]); // [len(a)] a [len(b)] b
 * ```
 */
export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(entries)) throw new InvalidInputError('entries', 'expected an array of Uint8Array');
  let total = 0;
  for (const e of entries) {
    if (!isBytes(e)) assertBytes('entries[]', e);
    if (e.length > MAX_BUNDLE_ENTRY) throw new InvalidInputError('entries', `an entry of ${e.length} bytes does not fit a bundle (at most ${MAX_BUNDLE_ENTRY})`);
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const e of entries) {
    out[off] = e.length >>> 8;
    out[off + 1] = e.length & 0xff;
    out.set(e, off + 2);
    off += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle; undefined when the bytes are not exactly a sequence of
 * length-prefixed entries (a truncated entry, or trailing bytes). The entries are copies.
 *
 * @example
 * ```ts
 * const entries = decodeBundle(bytes) ?? fail('not a bundle');
 * ```
 */
export function decodeBundle(bundle: Uint8Array): Uint8Array[] | undefined {
  if (!isBytes(bundle)) assertBytes('bundle', bundle);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < bundle.length) {
    if (off + 2 > bundle.length) return undefined;
    const len = (bundle[off]! << 8) | bundle[off + 1]!;
    if (off + 2 + len > bundle.length) return undefined;
    out.push(bundle.slice(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return out;
}
