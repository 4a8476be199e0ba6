/**
 * Mutation review 7 (T4): a tile shorter than the width a proof asked for must be refused as
 * corruption. With `TileTree`'s length check dropped (src/audit/tile-tree.ts `#keep`, "fewer than
 * `width` hashes"), the tile tests still passed: none served a short tile. A short tile read from
 * a damaged store would then be hashed as if its missing hashes were there.
 *
 * Holds: a full tile one hash short, and a partial tile one hash short of its width, make
 * `inclusionProof` and `consistencyProof` (and `root`, which reads the partial tile but covers the
 * full one through the level-1 tile) reject with ERR_AUDIT_CORRUPT, whatever the cache; the whole
 * tiles give the proofs of the in-memory tree.
 */
import { describe, expect, it } from 'vitest';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { TileEdge } from '../src/audit/tile-edge.js';
import { TileTree } from '../src/audit/tile-tree.js';
import { toHex } from '../src/util/bytes.js';

const leaf = (i: number) => leafHash(new TextEncoder().encode(`entry ${i}`));
const N = 300; // tile 0/0 full (256 hashes), tile 0/1 partial (44)

function stored() {
  const edge = TileEdge.empty(false);
  const tree = new MerkleTree();
  for (let i = 0; i < N; i++) {
    edge.append(leaf(i));
    tree.append(leaf(i));
  }
  const tiles = new Map<string, Uint8Array>();
  for (const w of edge.take()) tiles.set(`${w.level}/${w.index}`, w.data);
  return { tree, tiles };
}

describe('TileTree refuses a tile shorter than its width', () => {
  it('whole tiles: the in-memory tree\'s proofs', async () => {
    const { tree, tiles } = stored();
    const t = new TileTree(async (level, index) => tiles.get(`${level}/${index}`), { cacheTiles: 0 });
    expect((await t.inclusionProof(5, N)).map(toHex)).toEqual(tree.inclusionProof(5, N).map(toHex));
    expect((await t.inclusionProof(290, N)).map(toHex)).toEqual(tree.inclusionProof(290, N).map(toHex));
  });

  for (const [key, index, what] of [['0/0', 5, 'a full tile'], ['0/1', 290, 'a partial tile']] as const) {
    for (const cacheTiles of [0, 8]) {
      it(`${what} one hash short (cache ${cacheTiles}): ERR_AUDIT_CORRUPT`, async () => {
        const { tiles } = stored();
        const whole = tiles.get(key)!;
        tiles.set(key, whole.subarray(0, whole.length - 32));
        const t = new TileTree(async (level, i) => tiles.get(`${level}/${i}`), { cacheTiles });
        const corrupt = { code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('wrong length') };
        await expect(t.inclusionProof(index, N)).rejects.toMatchObject(corrupt);
        await expect(t.consistencyProof(index + 1, N)).rejects.toMatchObject(corrupt);
        if (key === '0/1') await expect(t.root(N)).rejects.toMatchObject(corrupt);
        else expect(toHex(await t.root(N))).toBe(toHex(stored().tree.root(N)));
      });
    }
  }
});
