/**
 * C2SP tlog-tiles: paths, bundles, the right edge (TileEdge) and proofs served from tiles
 * (TileTree), checked against the in-memory RFC 9162 tree (MerkleTree) for all sizes drawn.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { TileEdge, type TileWrite } from '../src/audit/tile-edge.js';
import { TileTree } from '../src/audit/tile-tree.js';
import { decodeBundle, edgeTiles, encodeBundle, parseTilePath, tileHash, tilePath, tileWidth } from '../src/audit/tiles.js';
import { toHex } from '../src/util/bytes.js';

const leaf = (i: number) => leafHash(new TextEncoder().encode(`entry ${i}`));

/** Builds a tree of `n` leaves in batches, keeping every tile the edge emits (later writes of a tile replace earlier ones). */
function build(n: number, batches: number[] = [n]) {
  const edge = TileEdge.empty(false);
  const tree = new MerkleTree();
  const stored = new Map<string, Uint8Array>();
  let i = 0;
  for (const b of batches) {
    for (let j = 0; j < b && i < n; j++, i++) {
      edge.append(leaf(i));
      tree.append(leaf(i));
    }
    for (const w of edge.take()) stored.set(`${w.level}/${w.index}`, w.data);
  }
  while (i < n) {
    edge.append(leaf(i));
    tree.append(leaf(i++));
  }
  for (const w of edge.take()) stored.set(`${w.level}/${w.index}`, w.data);
  const reads: string[] = [];
  const tiles = new TileTree(async (level, index, width) => {
    reads.push(`${level}/${index}/${width}`);
    return stored.get(`${level}/${index}`);
  }, { cacheTiles: 0 });
  return { edge, tree, stored, tiles, reads };
}

describe('tile paths (tlog-tiles §"Merkle Tree")', () => {
  it('encodes the spec examples', () => {
    expect(tilePath(0, 1234067)).toBe('tile/0/x001/x234/067');
    expect(tilePath(0, 0)).toBe('tile/0/000');
    expect(tilePath(1, 5, 17)).toBe('tile/1/005.p/17');
    expect(tilePath('entries', 1000, 3)).toBe('tile/entries/x001/000.p/3');
    expect(parseTilePath('tile/0/x001/x234/067.p/8')).toEqual({ level: 0, index: 1234067, width: 8 });
    // Full tiles carry no width in their path (regression: they were refused).
    expect(parseTilePath('tile/entries/000')).toEqual({ level: 'entries', index: 0, width: 256 });
    expect(parseTilePath('tile/2/x001/005')).toEqual({ level: 2, index: 1005, width: 256 });
  });

  it('parses back exactly what it writes, for any level, index and width', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant('entries' as const), fc.integer({ min: 0, max: 63 })), fc.maxSafeNat(), fc.integer({ min: 1, max: 256 }), (level, index, width) => {
        expect(parseTilePath(tilePath(level, index, width))).toEqual({ level, index, width });
      }),
    );
  });

  it('refuses every other spelling', () => {
    for (const p of ['tile/0/67', 'tile/0/x000/067', 'tile/00/067', 'tile/64/000', 'tile/0/067.p/0', 'tile/0/067.p/256', 'tile/0/067.p/07', 'tile/0/001/067', 'tile/entries/x1/000', 'tile/0/067/']) {
      expect(parseTilePath(p), p).toBeUndefined();
    }
    expect(() => tilePath(0, -1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'index' }));
    expect(() => tilePath(64, 0)).toThrow(expect.objectContaining({ param: 'level' }));
  });

  it('right edge widths follow the spec (a 70,000-entry tree; a 256-entry tree)', () => {
    expect(edgeTiles(70_000)).toEqual([{ level: 0, index: 273, width: 112 }, { level: 1, index: 1, width: 17 }, { level: 2, index: 0, width: 1 }]);
    expect(edgeTiles(256)).toEqual([{ level: 1, index: 0, width: 1 }]);
    expect(tileWidth(70_000, 0, 272)).toBe(256);
    expect(tileWidth(70_000, 0, 274)).toBe(0);
  });
});

describe('entry bundles (tlog-tiles §"Log entries")', () => {
  it('round-trip any entries up to 65,535 bytes, and refuse a truncated or padded bundle', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (entries) => {
        const b = encodeBundle(entries);
        expect(decodeBundle(b)).toEqual(entries);
        if (b.length > 0) expect(decodeBundle(b.subarray(0, b.length - 1))).toBeUndefined();
        expect(decodeBundle(Uint8Array.of(...b, 0))).toBeUndefined();
      }),
    );
    const big = new Uint8Array(0xffff).fill(7);
    expect(decodeBundle(encodeBundle([big]))![0]).toEqual(big);
    expect(() => encodeBundle([new Uint8Array(0x10000)])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT' }));
  });
});

describe('TileEdge and TileTree against MerkleTree', () => {
  it('for any size and any batching: same root, tiles hash into their parents, every root and proof from tiles equals the tree\'s', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 1400 }), fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 8 }), fc.nat(), async (n, batches, seed) => {
        const { edge, tree, stored, tiles } = build(n, batches);
        expect(toHex(edge.root())).toBe(toHex(tree.root()));
        expect(toHex(await tiles.root(n))).toBe(toHex(tree.root()));
        // Every full tile's hash is the matching hash in the tile one level up.
        for (const [key, data] of stored) {
          const [level, index] = key.split('/').map(Number) as [number, number];
          if (data.length !== 8192) continue;
          const parent = stored.get(`${level + 1}/${Math.floor(index / 256)}`)!;
          expect(toHex(parent.subarray((index % 256) * 32, (index % 256) * 32 + 32))).toBe(toHex(tileHash(data)));
        }
        if (n === 0) return;
        const m = seed % (n + 1);
        expect(toHex(await tiles.root(m))).toBe(toHex(tree.root(m)));
        const i = seed % n;
        expect((await tiles.inclusionProof(i, n)).map(toHex)).toEqual(tree.inclusionProof(i, n).map(toHex));
        expect((await tiles.consistencyProof(m, n)).map(toHex)).toEqual(tree.consistencyProof(m, n).map(toHex));
        const k = 1 + (seed % n);
        expect((await tiles.inclusionProof(seed % k, k)).map(toHex)).toEqual(tree.inclusionProof(seed % k, k).map(toHex));
      }),
      { numRuns: 40 },
    );
  });

  it('across tile levels (70,000 leaves: three levels) proofs read at most a few tiles per level', async () => {
    const { tree, tiles, reads, edge } = build(70_000, [50_000, 19_999, 1]);
    expect(toHex(edge.root())).toBe(toHex(tree.root()));
    for (const [i, n] of [[0, 70_000], [65_535, 70_000], [69_999, 70_000], [12_345, 65_537], [256, 257]] as const) {
      reads.length = 0;
      expect((await tiles.inclusionProof(i, n)).map(toHex)).toEqual(tree.inclusionProof(i, n).map(toHex));
      expect(reads.length).toBeLessThanOrEqual(8);
    }
    for (const [m, n] of [[1, 70_000], [65_536, 70_000], [300, 65_536], [69_999, 70_000]] as const) {
      expect((await tiles.consistencyProof(m, n)).map(toHex)).toEqual(tree.consistencyProof(m, n).map(toHex));
    }
  });

  it('root after every batch, through clones and discarded clones, equals the tree\'s root at that size (memoised subtree hashes)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 700 }), fc.boolean(), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 10 }), fc.integer({ min: 0, max: 600 }), (batches, startAt) => {
        const tree = new MerkleTree();
        let i = 0;
        for (; i < startAt; i++) tree.append(leaf(i));
        let edge = startAt === 0 ? TileEdge.empty(false) : build(startAt).edge;
        edge.take();
        expect(toHex(edge.root())).toBe(toHex(tree.root()));
        for (const [n, viaClone, discarded] of batches) {
          if (discarded > 0) {
            // A batch that failed: its clone grew (and memoised hashes) but is thrown away.
            const failed = edge.clone();
            for (let j = 0; j < discarded; j++) failed.append(leaf(1_000_000 + j));
            failed.root();
          }
          const next = viaClone ? edge.clone() : edge;
          for (let j = 0; j < n; j++, i++) {
            next.append(leaf(i));
            tree.append(leaf(i));
          }
          edge = next;
          const root = edge.root();
          expect(toHex(root)).toBe(toHex(tree.root()));
          root.fill(0); // the caller owns what root() returns: the next root is unaffected
          expect(toHex(edge.root())).toBe(toHex(tree.root()));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('an edge rebuilt from stored partial tiles continues exactly like the original', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 1, max: 600 }), (n, more) => {
        const { edge, stored } = build(n);
        const partials = edgeTiles(n).reduce<Uint8Array[]>((acc, t) => {
          acc[t.level as number] = stored.get(`${t.level}/${t.index}`)!;
          return acc;
        }, []);
        const again = TileEdge.fromPartials(n, partials);
        expect(toHex(again.root())).toBe(toHex(edge.root()));
        const writesA: TileWrite[] = [];
        const writesB: TileWrite[] = [];
        for (let i = n; i < n + more; i++) {
          edge.append(leaf(i));
          again.append(leaf(i));
        }
        writesA.push(...edge.take());
        writesB.push(...again.take());
        expect(writesB.map((w) => [w.level, w.index, w.width, toHex(w.data)])).toEqual(writesA.map((w) => [w.level, w.index, w.width, toHex(w.data)]));
        expect(toHex(again.root())).toBe(toHex(edge.root()));
      }),
      { numRuns: 25 },
    );
  });

  it('keeps the partial entry bundle and emits full and partial bundles', () => {
    const edge = TileEdge.empty(true);
    const entries = Array.from({ length: 600 }, (_, i) => new TextEncoder().encode(`e${i}`));
    entries.forEach((e) => edge.append(leafHash(e), e));
    const bundles = edge.take().filter((w) => w.level === 'entries');
    expect(bundles.map((b) => [b.index, b.width])).toEqual([[0, 256], [1, 256], [2, 88]]);
    expect(decodeBundle(bundles[2]!.data)).toEqual(entries.slice(512));
    expect(edge.bundleEntries()).toEqual(entries.slice(512));
    expect(() => edge.append(leafHash(entries[0]!))).toThrow(expect.objectContaining({ param: 'entry' }));
  });

  it('with a batch reader: the same roots and proofs, and each proof\'s uncached tiles fetched in one call', async () => {
    const { tree, stored } = build(70_000, [40_000, 30_000]);
    const calls: number[] = [];
    const single: string[] = [];
    const batched = new TileTree(async (level, index) => {
      single.push(`${level}/${index}`);
      return stored.get(`${level}/${index}`);
    }, { cacheTiles: 0, readMany: async (wants) => {
      calls.push(wants.length);
      return wants.map((w) => stored.get(`${w.level}/${w.index}`));
    } });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 70_000 }), fc.nat(), async (n, seed) => {
        calls.length = 0;
        single.length = 0;
        const i = seed % n;
        expect((await batched.inclusionProof(i, n)).map(toHex)).toEqual(tree.inclusionProof(i, n).map(toHex));
        expect(calls.length + single.length).toBeLessThanOrEqual(1); // one read, whatever it needs
        const m = seed % (n + 1);
        expect((await batched.consistencyProof(m, n)).map(toHex)).toEqual(tree.consistencyProof(m, n).map(toHex));
        expect(toHex(await batched.root(n))).toBe(toHex(tree.root(n)));
      }),
      { numRuns: 60 },
    );
    // A tile the batch reader does not return is corruption, as with the single reader.
    const lossy = new TileTree(async () => undefined, { cacheTiles: 0, readMany: async (wants) => wants.map(() => undefined) });
    await expect(lossy.inclusionProof(300, 70_000)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('tile/') });
    const short = new TileTree(async () => undefined, { cacheTiles: 0, readMany: async () => [] });
    await expect(short.inclusionProof(300, 70_000)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT' });
  });

  it('with a small cache: the same proofs for any tree size, and upper tiles outlive level-0 tiles', async () => {
    const { tree, stored } = build(80_000, [50_000, 30_000]); // 312 full level-0 tiles, 2 at level 1
    for (const cacheTiles of [1, 2, 3, 8]) {
      const reads: string[] = [];
      const cached = new TileTree(async (level, index) => {
        reads.push(`${level}/${index}`);
        return stored.get(`${level}/${index}`);
      }, { cacheTiles });
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 80_000 }), fc.nat(), async (n, seed) => {
          const i = seed % n;
          expect((await cached.inclusionProof(i, n)).map(toHex)).toEqual(tree.inclusionProof(i, n).map(toHex));
          const m = seed % (n + 1);
          expect((await cached.consistencyProof(m, n)).map(toHex)).toEqual(tree.consistencyProof(m, n).map(toHex));
          expect(toHex(await cached.root(n))).toBe(toHex(tree.root(n)));
          expect(cached.cachedTiles).toBeLessThanOrEqual(cacheTiles);
        }),
        { numRuns: 40 },
      );
      // Proofs against the full tree at random level-0 tiles: while the cache has room for the
      // level-1 tile, it is read once however many level-0 tiles pass through.
      if (cacheTiles < 2) continue;
      reads.length = 0;
      cached.clear();
      for (let k = 0; k < 50; k++) await cached.inclusionProof((k * 7919) % 65_536, 80_000); // all under level-1 tile 0
      expect(reads.filter((r) => r === '1/0')).toHaveLength(1);
      expect(reads.filter((r) => r.startsWith('0/')).length).toBeGreaterThan(cacheTiles);
    }
  });

  it('a missing tile is ERR_AUDIT_CORRUPT naming its path', async () => {
    const { tiles, stored } = build(600);
    stored.delete('0/1');
    await expect(tiles.inclusionProof(300, 600)).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('tile/0/001') });
    expect(() => TileEdge.fromPartials(600, [])).toThrow(expect.objectContaining({ code: 'ERR_AUDIT_CORRUPT' }));
  });
});
