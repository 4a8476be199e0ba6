/**
 * Outside review 6 (parsers, `keywarden/tlog` tiles): public tile functions that threw the
 * engine's errors or returned a wrong value for hostile input (reproduced first as `it.fails`).
 *
 * - TileTree (tile-tree.ts): `#keep` checked a tile's `length` only, so a TileReader (or
 *   readMany) answering a string, an array or `{ length }` of the right length, or `null`, was a
 *   raw TypeError ("Invalid value used as weak map key", "buf.subarray is not a function",
 *   "Cannot read properties of null"), not ERR_AUDIT_CORRUPT; readMany answering `null` too.
 * - TileTree.rangeHashes (public): a range of 0 or 1.5 entries recursed until "Maximum call stack
 *   size exceeded" (RangeError); an unaligned range [3, 7) returned a hash that is no node of the
 *   tree, silently; `rangeHashes(null)` was a TypeError.
 * - parseTilePath, tileWidth, edgeTiles (tiles.ts): a Symbol, a BigInt or an object without a
 *   primitive value was a raw TypeError; `edgeTiles(Infinity)` / `tileWidth(NaN, 0, 0)` returned
 *   NaN widths and indices rather than refusing the size.
 * - TileEdge.fromPartials (tile-edge.ts): partial tiles that are strings: raw TypeError.
 *   TileEdge.append on an edge that keeps bundles took any `entry` (a string, 70,000 bytes) and
 *   failed only later, in `take()` or in the append that completes the bundle — after the edge
 *   had already counted the leaf.
 * - formatConsistencyRequest / formatTlogProof (formats.ts): a proof array with a hole passed the
 *   `forEach` check and `map(...).join('')` dropped it: a body with one hash fewer than given.
 *
 * Now: a tile or batch answer that is not bytes (an array for readMany) is ERR_AUDIT_CORRUPT
 * (`isBytes` + length, O(1) per tile read); rangeHashes takes only what a root or an RFC 9162
 * proof asks for — integer ranges `[start, start + n)` with `n >= 1`, `start` a multiple of the
 * largest power of two `<= n` (aligned on subtrees, not on tiles), inside `size` — and refuses
 * the rest with ERR_INVALID_INPUT naming `ranges[i]`; parseTilePath returns undefined for a
 * non-string, tileWidth and edgeTiles refuse a size, level or index that is not an integer in
 * range (`assertInt`); fromPartials refuses non-bytes partials and bundle entries (holes
 * included) with ERR_INVALID_INPUT, and append checks `entry` (bytes of at most 65,535, O(1))
 * before it counts the leaf; the proof is checked index by index, holes included.
 */
import { describe, expect, it } from 'vitest';
import * as tlog from '../src/tlog.js';
import { attempt, attemptAsync } from './support/fuzz.js';

const H = new Uint8Array(32);
const leaves = Array.from({ length: 600 }, (_, i) => tlog.leafHash(new Uint8Array([i & 255, i >> 8])));
const tiles = new Map<string, Uint8Array>();
{
  const edge = tlog.TileEdge.empty(false);
  for (const l of leaves) edge.append(l);
  for (const w of edge.take()) tiles.set(`${w.level}/${w.index}`, w.data);
}
const good: tlog.TileReader = async (level, index) => tiles.get(`${level}/${index}`);

describe('keywarden/tlog tiles with hostile values (review 6)', () => {
  it('TileTree: a reader answering something other than bytes is ERR_AUDIT_CORRUPT', async () => {
    for (const v of ['a'.repeat(8192), Array(8192).fill(0), { length: 8192 }, null]) {
      const r = await attemptAsync(() => new tlog.TileTree((async () => v) as never).root(600));
      expect(r.ok ? 'ok' : r.error.code).toBe('ERR_AUDIT_CORRUPT');
      const m = await attemptAsync(() => new tlog.TileTree(good, { readMany: (async (w: unknown[]) => w.map(() => v)) as never }).root(600));
      expect(m.ok ? 'ok' : m.error.code).toBe('ERR_AUDIT_CORRUPT');
    }
    const n = await attemptAsync(() => new tlog.TileTree(good, { readMany: (async () => null) as never }).root(600));
    expect(n.ok ? 'ok' : n.error.code).toBe('ERR_AUDIT_CORRUPT');
  });

  it('TileTree.rangeHashes: empty, fractional, unaligned or missing ranges are ERR_INVALID_INPUT', async () => {
    for (const ranges of [[[0, 0]], [[0, 1.5]], [[3, 4]], null]) {
      const r = await attemptAsync(() => new tlog.TileTree(good).rangeHashes(ranges as never, 600));
      expect(r.ok ? 'ok' : r.error.code, JSON.stringify(ranges)).toBe('ERR_INVALID_INPUT');
    }
  });

  it('parseTilePath, tileWidth, edgeTiles: no raw TypeError, no NaN', () => {
    for (const v of [Symbol('x'), 5n, Object.create(null)]) {
      expect(attempt(() => tlog.parseTilePath(v as never)).ok).toBe(true);
      expect(attempt(() => tlog.tileWidth(v as never, 0, 0)).ok).toBe(false);
      expect(attempt(() => tlog.edgeTiles(v as never)).ok).toBe(false);
    }
    expect(attempt(() => tlog.edgeTiles(Infinity)).ok).toBe(false);
    expect(attempt(() => tlog.tileWidth(Number.NaN, 0, 0)).ok).toBe(false);
  });

  it('TileEdge: fromPartials refuses non-bytes with a KeywardenError; append refuses a bad entry before counting the leaf', () => {
    expect(attempt(() => tlog.TileEdge.fromPartials(600, ['a'.repeat(8192), 'b'.repeat(8192)] as never)).ok).toBe(false);
    const edge = tlog.TileEdge.empty(true);
    const r = attempt(() => edge.append(H, new Uint8Array(70_000)));
    expect(r.ok ? 'ok' : r.error.code).toBe('ERR_INVALID_INPUT');
    expect(edge.size).toBe(0);
  });

  it('formatConsistencyRequest: a proof with a hole is ERR_INVALID_INPUT, not a body without that hash', () => {
    const note = 'log.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 log.example AAAAAAA=\n';
    // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
    const r = attempt(() => tlog.formatConsistencyRequest(1, [, H] as never, note));
    expect(r.ok ? 'ok' : r.error.code).toBe('ERR_INVALID_INPUT');
  });
});
