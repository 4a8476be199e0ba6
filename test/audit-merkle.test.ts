/**
 * RFC 6962 / RFC 9162 Merkle tree of the audit log (src/audit/merkle.ts): published known-answer
 * vectors, property tests against a naive recursive reference, an exhaustive small-tree sweep and
 * a hash-count scaling check.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type InvalidInputError, isKeywardenError } from '../src/errors.js';
import {
  CompactRange,
  HASH_SIZE,
  MerkleTree,
  emptyRoot,
  leafHash,
  nodeHash,
  verifyConsistency,
  verifyInclusion,
} from '../src/audit/merkle.js';

// ---------------------------------------------------------------------------------------------
// Independent naive reference (node:crypto, straight from the RFC 9162 §2.1 definitions).

const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const refLeaf = (entry: Uint8Array) => sha(Uint8Array.of(0), entry);
const refNode = (l: Uint8Array, r: Uint8Array) => sha(Uint8Array.of(1), l, r);
const refSplit = (n: number) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
/** MTH(D[n]) over already-hashed leaves (RFC 9162 §2.1.1). */
function refMTH(lh: Uint8Array[]): Uint8Array {
  if (lh.length === 0) return sha();
  if (lh.length === 1) return lh[0];
  const k = refSplit(lh.length);
  return refNode(refMTH(lh.slice(0, k)), refMTH(lh.slice(k)));
}
/** PATH(m, D[n]) (RFC 9162 §2.1.3.1). */
function refPath(m: number, lh: Uint8Array[]): Uint8Array[] {
  if (lh.length <= 1) return [];
  const k = refSplit(lh.length);
  return m < k
    ? [...refPath(m, lh.slice(0, k)), refMTH(lh.slice(k))]
    : [...refPath(m - k, lh.slice(k)), refMTH(lh.slice(0, k))];
}
/** SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1). */
function refSubproof(m: number, lh: Uint8Array[], b: boolean): Uint8Array[] {
  const n = lh.length;
  if (m === n) return b ? [] : [refMTH(lh)];
  const k = refSplit(n);
  return m <= k
    ? [...refSubproof(m, lh.slice(0, k), b), refMTH(lh.slice(k))]
    : [...refSubproof(m - k, lh.slice(k), false), refMTH(lh.slice(0, k))];
}
const refProof = (m: number, lh: Uint8Array[]) => (m === 0 || m === lh.length ? [] : refSubproof(m, lh, true));

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const hexes = (bs: readonly Uint8Array[]) => bs.map(hex);
const flipBit = (b: Uint8Array, bit: number) => {
  const c = Uint8Array.from(b);
  c[(bit >>> 3) % c.length] ^= 1 << (bit & 7);
  return c;
};
const SOME_HASH = unhex('abacaba000000000000000000000000000000000000000000060061e00123456');

// ---------------------------------------------------------------------------------------------
// Published vectors. Leaves and roots: google/certificate-transparency
// cpp/merkletree/merkle_tree_test.cc (kInputs, kSHA256Roots, kSHA256EmptyTreeHash) and
// transparency-dev/merkle testonly/constants.go (LeafInputs, RootHashes, NodeHashes).

const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex);
const EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** ROOTS[n - 1] = MTH of the first n leaves. */
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
/** transparency-dev/merkle testonly/constants.go NodeHashes(): [level][index] complete subtrees. */
const NODE_HASHES = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  [
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];
/**
 * Inclusion paths: certificate-transparency merkle_tree_test.cc kSHA256Paths = transparency-dev
 * proof/verify_test.go inclusionProofs. Upstream leaf numbers are 1-based; `index` here is 0-based.
 */
const PATHS: { index: number; size: number; path: string[] }[] = [
  { index: 0, size: 1, path: [] },
  {
    index: 0,
    size: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    path: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, path: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    path: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
/**
 * Consistency proofs: certificate-transparency merkle_tree_test.cc kSHA256Proofs, plus (6, 7)
 * from transparency-dev proof/verify_test.go consistencyProofs.
 */
const PROOFS: { m: number; n: number; proof: string[] }[] = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Corruption probes (after the probe lists of transparency-dev proof/verify_test.go).

type InclusionArgs = [leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array];
type ConsistencyArgs = [m: number, n: number, oldRoot: Uint8Array, root: Uint8Array, proof: Uint8Array[]];

/** Tampered variants of a valid inclusion proof, each of which must be rejected. */
function inclusionProbes([leaf, i, n, proof, root]: InclusionArgs): [string, InclusionArgs][] {
  const probes: [string, InclusionArgs][] = [
    ['index - 1', [leaf, i - 1, n, proof, root]],
    ['index + 1', [leaf, i + 1, n, proof, root]],
    ['index ^ 2', [leaf, i ^ 2, n, proof, root]],
    ['size * 2', [leaf, i, n * 2, proof, root]],
    ['size / 2', [leaf, i, Math.floor(n / 2), proof, root]],
    ['wrong leaf', [refLeaf(Uint8Array.of(0xee, 0xee)), i, n, proof, root]],
    ['empty root', [leaf, i, n, proof, unhex(EMPTY_ROOT)]],
    ['random root', [leaf, i, n, proof, SOME_HASH]],
    ['trailing root', [leaf, i, n, [...proof, root], root]],
    ['trailing short', [leaf, i, n, [...proof, new Uint8Array(0)], root]],
    ['preceding root', [leaf, i, n, [root, ...proof], root]],
    ['preceding short', [leaf, i, n, [new Uint8Array(0), ...proof], root]],
  ];
  for (let j = 0; j < proof.length; j++) {
    const wrong = [...proof];
    wrong[j] = flipBit(wrong[j], 3);
    probes.push([`proof[${j}] bit 3`, [leaf, i, n, wrong, root]]);
    probes.push([`proof[${j}] truncated`, [leaf, i, n, proof.map((p, k) => (k === j ? p.subarray(1) : p)), root]]);
  }
  if (proof.length > 0) probes.push(['removed last', [leaf, i, n, proof.slice(0, -1), root]]);
  if (proof.length > 1) probes.push(['inserted', [leaf, i, n, [proof[0], SOME_HASH, ...proof.slice(1)], root]]);
  return probes;
}

/** Tampered variants of a valid non-trivial consistency proof (0 < m < n), all to be rejected. */
function consistencyProbes([m, n, r1, r2, proof]: ConsistencyArgs): [string, ConsistencyArgs][] {
  const probes: [string, ConsistencyArgs][] = [
    ['m - 1', [m - 1, n, r1, r2, proof]],
    ['m + 1', [m + 1, n, r1, r2, proof]],
    ['m ^ 2', [m ^ 2, n, r1, r2, proof]],
    ['n * 2', [m, n * 2, r1, r2, proof]],
    ['n / 2', [m, Math.floor(n / 2), r1, r2, proof]],
    ['wrong old root', [m, n, flipBit(r1, 0), r2, proof]],
    ['wrong root', [m, n, r1, flipBit(r2, 255), proof]],
    ['short root', [m, n, r1, r2.subarray(0, 31), proof]],
    ['swapped roots', [m, n, r2, r1, proof]],
    ['empty proof', [m, n, r1, r2, []]],
    ['trailing short', [m, n, r1, r2, [...proof, new Uint8Array(0)]]],
    ['trailing old root', [m, n, r1, r2, [...proof, r1]]],
    ['trailing root', [m, n, r1, r2, [...proof, r2]]],
    ['preceding short', [m, n, r1, r2, [new Uint8Array(0), ...proof]]],
    ['preceding old root', [m, n, r1, r2, [r1, ...proof]]],
    ['preceding root', [m, n, r1, r2, [r2, ...proof]]],
    ['preceding proof[0]', [m, n, r1, r2, [proof[0], ...proof]]],
    ['removed last', [m, n, r1, r2, proof.slice(0, -1)]],
  ];
  for (let j = 0; j < proof.length; j++) {
    const wrong = [...proof];
    wrong[j] = flipBit(wrong[j], 4);
    probes.push([`proof[${j}] bit 4`, [m, n, r1, r2, wrong]]);
    probes.push([`removed proof[${j}]`, [m, n, r1, r2, proof.filter((_, k) => k !== j)]]);
  }
  return probes;
}

const acceptedInclusionProbes = (args: InclusionArgs) =>
  inclusionProbes(args)
    .filter(([, a]) => verifyInclusion(...a))
    .map(([d]) => d);
const acceptedConsistencyProbes = (args: ConsistencyArgs) =>
  consistencyProbes(args)
    .filter(([, a]) => verifyConsistency(...a))
    .map(([d]) => d);

// ---------------------------------------------------------------------------------------------

describe('known answers (RFC 6962 reference test data)', () => {
  const lh = LEAVES.map(leafHash);
  const tree = new MerkleTree(lh);

  it('hashes leaves, nodes and the empty tree as published', () => {
    expect(hex(emptyRoot())).toBe(EMPTY_ROOT);
    expect(hex(new MerkleTree().root())).toBe(EMPTY_ROOT);
    expect(hexes(lh)).toEqual(NODE_HASHES[0]);
    for (let level = 1; level < NODE_HASHES.length; level++) {
      const below = NODE_HASHES[level - 1].map(unhex);
      const computed = NODE_HASHES[level].map((_, i) => hex(nodeHash(below[2 * i], below[2 * i + 1])));
      expect(computed).toEqual(NODE_HASHES[level]);
    }
    expect(HASH_SIZE).toBe(32);
  });

  it('produces the published roots for sizes 0..8, incrementally and historically', () => {
    const incremental = new MerkleTree();
    for (let n = 1; n <= 8; n++) {
      expect(incremental.append(lh[n - 1])).toBe(n - 1);
      expect(hex(incremental.root())).toBe(ROOTS[n - 1]);
    }
    expect(hex(tree.root(0))).toBe(EMPTY_ROOT);
    for (let n = 1; n <= 8; n++) expect(hex(tree.root(n))).toBe(ROOTS[n - 1]);
  });

  it.each(PATHS)('inclusion proof for leaf $index in a tree of $size', ({ index, size, path }) => {
    const proof = tree.inclusionProof(index, size);
    expect(hexes(proof)).toEqual(path);
    const args: InclusionArgs = [lh[index], index, size, path.map(unhex), unhex(ROOTS[size - 1])];
    expect(verifyInclusion(...args)).toBe(true);
    expect(acceptedInclusionProbes(args)).toEqual([]);
  });

  it.each(PROOFS)('consistency proof $m -> $n', ({ m, n, proof }) => {
    expect(hexes(tree.consistencyProof(m, n))).toEqual(proof);
    const args: ConsistencyArgs = [m, n, unhex(ROOTS[m - 1]), unhex(ROOTS[n - 1]), proof.map(unhex)];
    expect(verifyConsistency(...args)).toBe(true);
    if (proof.length > 0) expect(acceptedConsistencyProbes(args)).toEqual([]);
  });
});

describe('edge cases and argument validation', () => {
  const tree = new MerkleTree(LEAVES.map(leafHash));
  const E = emptyRoot();

  it('throws ERR_INVALID_INPUT naming the parameter (keywarden\'s own error, never a RangeError)', () => {
    const param = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(isKeywardenError(e, 'ERR_INVALID_INPUT')).toBe(true);
        return (e as InvalidInputError).param;
      }
      return 'no error';
    };
    expect(param(() => tree.root(9))).toBe('size');
    expect(() => tree.root(9)).toThrow(/size/);
    expect(() => tree.root(-1)).toThrow(/size/);
    expect(() => tree.root(1.5)).toThrow(/size/);
    expect(() => tree.root(Number.NaN)).toThrow(/size/);
    expect(() => tree.leafHash(8)).toThrow(/index/);
    expect(param(() => tree.leafHash(-1))).toBe('index');
    expect(() => tree.inclusionProof(8)).toThrow(/index/);
    expect(() => tree.inclusionProof(3, 3)).toThrow(/index/);
    expect(() => tree.inclusionProof(0, 0)).toThrow(/index/);
    expect(() => tree.inclusionProof(0, 9)).toThrow(/size/);
    expect(() => tree.consistencyProof(9)).toThrow(/oldSize/);
    expect(() => tree.consistencyProof(5, 4)).toThrow(/oldSize/);
    expect(() => tree.consistencyProof(1, 9)).toThrow(/size/);
    expect(() => tree.consistencyProof(-1)).toThrow(/oldSize/);
    expect(param(() => tree.append(new Uint8Array(31)))).toBe('leafHash');
    expect(() => tree.append(new Uint8Array(33))).toThrow(/leafHash/);
    expect(param(() => tree.append('x' as unknown as Uint8Array))).toBe('leafHash');
    expect(tree.size).toBe(8);
  });

  it('returns copies, never views of internal storage', () => {
    const t = new MerkleTree(LEAVES.map(leafHash));
    t.leafHash(0).fill(0);
    t.root().fill(0);
    t.inclusionProof(0)[0].fill(0);
    t.consistencyProof(3)[0].fill(0);
    emptyRoot().fill(0);
    expect(hex(t.root())).toBe(ROOTS[7]);
    expect(hexes(t.inclusionProof(5))).toEqual(PATHS[2].path);
    expect(hex(emptyRoot())).toBe(EMPTY_ROOT);
  });

  it('no returned hash aliases the tree: every element of every proof can be overwritten', () => {
    const leaves = Array.from({ length: 21 }, (_, i) => leafHash(Uint8Array.of(i)));
    const t = new MerkleTree(leaves);
    const fresh = new MerkleTree(leaves);
    for (let n = 1; n <= 21; n++) {
      for (let i = 0; i < n; i++) for (const h of t.inclusionProof(i, n)) h.fill(0xee);
      for (let m = 1; m < n; m++) for (const h of t.consistencyProof(m, n)) h.fill(0xee);
      t.root(n).fill(0xee);
    }
    for (let i = 0; i < 21; i++) t.leafHash(i).fill(0xee);
    for (let n = 1; n <= 21; n++) {
      expect(hex(t.root(n))).toBe(hex(fresh.root(n)));
      for (let i = 0; i < n; i++) expect(hexes(t.inclusionProof(i, n))).toEqual(hexes(fresh.inclusionProof(i, n)));
      for (let m = 1; m < n; m++) expect(hexes(t.consistencyProof(m, n))).toEqual(hexes(fresh.consistencyProof(m, n)));
    }
    // The compact range keeps its own copies too: of the leaves given and of the root returned.
    const c = CompactRange.empty();
    const mine = leafHash(Uint8Array.of(9));
    c.append(mine);
    mine.fill(0);
    c.root().fill(0);
    expect(hex(c.root())).toBe(hex(leafHash(Uint8Array.of(9))));
  });

  it('verification refuses a hash of the wrong length or a size that is not a number, even when they would line up', () => {
    const h33 = new Uint8Array(33).fill(7);
    expect(verifyInclusion(h33, 0, 1, [], h33)).toBe(false);
    const h = leafHash(Uint8Array.of(1));
    expect(verifyInclusion(h, 0, '1' as unknown as number, [], h)).toBe(false);
    expect(verifyConsistency(1, 1, h33, h33, [])).toBe(false);
    expect(verifyConsistency('1' as unknown as number, 1, h, h, [])).toBe(false);
  });

  it('gives empty proofs for oldSize 0 or equal sizes, and single-leaf inclusion', () => {
    expect(tree.consistencyProof(0)).toEqual([]);
    expect(tree.consistencyProof(8)).toEqual([]);
    expect(tree.consistencyProof(0, 0)).toEqual([]);
    expect(tree.inclusionProof(0, 1)).toEqual([]);
  });

  it('verifies the trivial consistency cases exactly', () => {
    const r3 = tree.root(3);
    const r8 = tree.root(8);
    expect(verifyConsistency(0, 0, E, E, [])).toBe(true);
    expect(verifyConsistency(0, 8, E, r8, [])).toBe(true);
    expect(verifyConsistency(3, 3, r3, r3, [])).toBe(true);
    expect(verifyConsistency(0, 0, E, r8, [])).toBe(false);
    expect(verifyConsistency(0, 8, r3, r8, [])).toBe(false); // size 0 has exactly one root
    expect(verifyConsistency(0, 8, E, r8, [E])).toBe(false);
    expect(verifyConsistency(3, 3, r3, r8, [])).toBe(false);
    expect(verifyConsistency(3, 3, r3, r3, [r3])).toBe(false);
    expect(verifyConsistency(8, 3, r8, r3, tree.consistencyProof(3))).toBe(false);
    expect(verifyConsistency(3, 8, r3, r8, [])).toBe(false);
  });

  it('rejects impossible inclusion arguments (transparency-dev TestVerifyInclusion probes)', () => {
    for (const [i, n] of [[0, 0], [0, 1], [1, 0], [2, 1]]) {
      expect(verifyInclusion(SOME_HASH, i, n, [], new Uint8Array(0))).toBe(false);
      expect(verifyInclusion(new Uint8Array(0), i, n, [], E)).toBe(false);
      expect(verifyInclusion(SOME_HASH, i, n, [], E)).toBe(false);
    }
    const h = leafHash(Uint8Array.of(1, 2, 3));
    expect(verifyInclusion(h, 0, 1, [], h)).toBe(true);
    expect(verifyInclusion(h, 0, 1, [], new Uint8Array(0))).toBe(false);
    expect(verifyInclusion(new Uint8Array(0), 0, 1, [], h)).toBe(false);
  });

  it('verification never throws, whatever the input', () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(SOME_HASH), fc.constant(emptyRoot()));
    const num = fc.oneof(
      fc.integer({ min: -5, max: 70 }),
      fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0, 0.5, 2 ** 31, 2 ** 32 + 1, 2 ** 53, Number.MAX_SAFE_INTEGER),
    );
    const junk = fc.oneof(bytes, fc.constantFrom(null, undefined, 'ab', 7, {})) as fc.Arbitrary<Uint8Array>;
    const proof = fc.oneof(fc.array(bytes, { maxLength: 70 }), fc.array(junk, { maxLength: 5 }), fc.constantFrom(null, 'x', {})) as fc.Arbitrary<Uint8Array[]>;
    fc.assert(
      fc.property(junk, num, num, proof, junk, (a, i, n, p, r) => {
        expect(typeof verifyInclusion(a, i, n, p, r)).toBe('boolean');
        expect(typeof verifyConsistency(i, n, a, r, p)).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
    expect(verifyInclusion(SOME_HASH, 2 ** 53, 2 ** 53 + 2, [], SOME_HASH)).toBe(false);
    expect(verifyConsistency(2 ** 40, 2 ** 41, SOME_HASH, SOME_HASH, Array(40).fill(SOME_HASH))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Property tests. Entries are made unique (4-byte index prefix): with duplicate leaves a proof
// can legitimately verify at another index holding the same entry.

const logArb = fc
  .array(fc.uint8Array({ maxLength: 24 }), { minLength: 1, maxLength: 300 })
  .map((raw) => raw.map((e, i) => Uint8Array.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255, ...e])));
const samplesArb = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 12 });

function build(entries: Uint8Array[]) {
  const lh = entries.map(refLeaf);
  return { lh, tree: new MerkleTree(lh) };
}

describe('properties against the naive RFC 6962 reference', () => {
  it('root(size) equals naive MTH for every size, including logs with duplicate entries', () => {
    const dupArb = fc.array(fc.uint8Array({ maxLength: 1 }), { minLength: 1, maxLength: 300 });
    fc.assert(
      fc.property(fc.oneof(logArb, dupArb), samplesArb, (entries, samples) => {
        const { lh, tree } = build(entries);
        const n = entries.length;
        expect(tree.size).toBe(n);
        const sizes = [0, 1, n, ...samples.map(([a]) => a % (n + 1))];
        for (const s of sizes) expect(hex(tree.root(s))).toBe(hex(refMTH(lh.slice(0, s))));
        for (const i of samples.map(([, b]) => b % n)) expect(hex(tree.leafHash(i))).toBe(hex(lh[i]));
      }),
      { numRuns: 60 },
    );
  });

  it('inclusion proofs match PATH, verify, and every tampered variant is rejected', () => {
    fc.assert(
      fc.property(logArb, samplesArb, fc.nat(), (entries, samples, seed) => {
        const { lh, tree } = build(entries);
        const n = entries.length;
        for (const [a, b, c] of samples) {
          const size = 1 + (a % n);
          const index = b % size;
          const proof = tree.inclusionProof(index, size);
          const root = tree.root(size);
          expect(hexes(proof)).toEqual(hexes(refPath(index, lh.slice(0, size))));
          expect(verifyInclusion(lh[index], index, size, proof, root)).toBe(true);
          expect(acceptedInclusionProbes([lh[index], index, size, proof, root])).toEqual([]);
          // Any single-bit flip anywhere in the proof.
          if (proof.length > 0) {
            const j = c % proof.length;
            const flipped = proof.map((p, k) => (k === j ? flipBit(p, seed % 256) : p));
            expect(verifyInclusion(lh[index], index, size, flipped, root)).toBe(false);
          }
          // Another index of the same tree, or another size against that size's real root.
          const otherIndex = (index + 1 + (c % Math.max(1, size - 1))) % size;
          if (otherIndex !== index) expect(verifyInclusion(lh[index], otherIndex, size, proof, root)).toBe(false);
          const otherSize = index + 1 + (seed % (n - index));
          if (otherSize !== size) expect(verifyInclusion(lh[index], index, otherSize, proof, tree.root(otherSize))).toBe(false);
          // Dropped element at any position / extra random element at any position.
          if (proof.length > 0) {
            expect(verifyInclusion(lh[index], index, size, proof.filter((_, k) => k !== c % proof.length), root)).toBe(false);
          }
          const extra = [...proof];
          extra.splice(c % (proof.length + 1), 0, refLeaf(Uint8Array.of(seed & 255)));
          expect(verifyInclusion(lh[index], index, size, extra, root)).toBe(false);
          // Wrong root: any bit flip.
          expect(verifyInclusion(lh[index], index, size, proof, flipBit(root, seed % 256))).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('consistency proofs match PROOF, verify, and every tampered variant is rejected', () => {
    fc.assert(
      fc.property(logArb, samplesArb, fc.nat(), (entries, samples, seed) => {
        const { lh, tree } = build(entries);
        const n = entries.length;
        for (const [a, b, c] of samples) {
          const size = a % (n + 1);
          const m = b % (size + 1);
          const proof = tree.consistencyProof(m, size);
          const r1 = tree.root(m);
          const r2 = tree.root(size);
          expect(hexes(proof)).toEqual(hexes(refProof(m, lh.slice(0, size))));
          expect(verifyConsistency(m, size, r1, r2, proof)).toBe(true);
          if (m === 0 || m === size) {
            expect(proof).toEqual([]);
            continue;
          }
          expect(acceptedConsistencyProbes([m, size, r1, r2, proof])).toEqual([]);
          const j = c % proof.length;
          const flipped = proof.map((p, k) => (k === j ? flipBit(p, seed % 256) : p));
          expect(verifyConsistency(m, size, r1, r2, flipped)).toBe(false);
          // Another old size / new size, each with its own real root.
          const otherM = 1 + (c % size);
          if (otherM !== m) expect(verifyConsistency(otherM, size, tree.root(otherM), r2, proof)).toBe(false);
          const otherN = m + (seed % (n - m + 1));
          if (otherN !== size) expect(verifyConsistency(m, otherN, r1, tree.root(otherN), proof)).toBe(false);
          const extra = [...proof];
          extra.splice(c % (proof.length + 1), 0, refLeaf(Uint8Array.of(seed & 255)));
          expect(verifyConsistency(m, size, r1, r2, extra)).toBe(false);
          expect(verifyConsistency(m, size, flipBit(r1, seed % 256), r2, proof)).toBe(false);
          expect(verifyConsistency(m, size, r1, flipBit(r2, seed % 256), proof)).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('historical roots and proofs stay stable as the tree grows', () => {
    fc.assert(
      fc.property(logArb, fc.nat(), (entries, seed) => {
        const lh = entries.map(refLeaf);
        const tree = new MerkleTree();
        const roots: string[] = [hex(tree.root())];
        const proofs: { i: number; s: number; p: string[] }[] = [];
        for (const h of lh) {
          tree.append(h);
          roots.push(hex(tree.root()));
          const s = tree.size;
          proofs.push({ i: (seed + s) % s, s, p: hexes(tree.inclusionProof((seed + s) % s)) });
        }
        for (let s = 0; s <= tree.size; s++) expect(hex(tree.root(s))).toBe(roots[s]);
        for (const { i, s, p } of proofs) expect(hexes(tree.inclusionProof(i, s))).toEqual(p);
      }),
      { numRuns: 40 },
    );
  });

  it('constructing from leaf hashes equals appending one by one', () => {
    fc.assert(
      fc.property(logArb, fc.nat(), (entries, seed) => {
        const lh = entries.map(leafHash);
        const built = new MerkleTree(lh);
        const fromIterator = new MerkleTree((function* () { yield* lh; })());
        const appended = new MerkleTree();
        lh.forEach((h, i) => expect(appended.append(h)).toBe(i));
        const n = lh.length;
        const i = seed % n;
        const m = seed % (n + 1);
        for (const t of [built, fromIterator]) {
          expect(t.size).toBe(appended.size);
          expect(hex(t.root())).toBe(hex(appended.root()));
          expect(hex(t.root(m))).toBe(hex(appended.root(m)));
          expect(hex(t.leafHash(i))).toBe(hex(appended.leafHash(i)));
          expect(hexes(t.inclusionProof(i))).toEqual(hexes(appended.inclusionProof(i)));
          expect(hexes(t.consistencyProof(m))).toEqual(hexes(appended.consistencyProof(m)));
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('exhaustive small trees (n <= 64)', () => {
  const N = 64;
  const lh = Array.from({ length: N }, (_, i) => refLeaf(Uint8Array.of(i, 0x5a)));
  const tree = new MerkleTree(lh);
  const roots = Array.from({ length: N + 1 }, (_, s) => tree.root(s));

  it('every (index, size) inclusion proof verifies and matches PATH; tampering is rejected', () => {
    let pairs = 0;
    for (let size = 1; size <= N; size++) {
      expect(hex(roots[size])).toBe(hex(refMTH(lh.slice(0, size))));
      for (let index = 0; index < size; index++) {
        const proof = tree.inclusionProof(index, size);
        expect(hexes(proof)).toEqual(hexes(refPath(index, lh.slice(0, size))));
        expect(verifyInclusion(lh[index], index, size, proof, roots[size])).toBe(true);
        expect(acceptedInclusionProbes([lh[index], index, size, proof, roots[size]])).toEqual([]);
        pairs++;
      }
    }
    expect(pairs).toBe((N * (N + 1)) / 2);
  });

  it('every (m, n) consistency proof verifies and matches PROOF; tampering is rejected', () => {
    let pairs = 0;
    for (let n = 0; n <= N; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = tree.consistencyProof(m, n);
        expect(hexes(proof)).toEqual(hexes(refProof(m, lh.slice(0, n))));
        expect(verifyConsistency(m, n, roots[m], roots[n], proof)).toBe(true);
        if (m > 0 && m < n) expect(acceptedConsistencyProbes([m, n, roots[m], roots[n], proof])).toEqual([]);
        pairs++;
      }
    }
    expect(pairs).toBe(((N + 1) * (N + 2)) / 2);
  });
});

describe('scaling', () => {
  it('appending 100,000 leaves computes fewer than 2 node hashes per leaf (no full-tree rehash)', () => {
    const COUNT = 100_000;
    const tree = new MerkleTree();
    const lh: Uint8Array[] = [];
    for (let i = 0; i < COUNT; i++) {
      const h = new Uint8Array(HASH_SIZE);
      new DataView(h.buffer).setUint32(0, i);
      h[31] = 0xa5;
      lh.push(h);
      tree.append(h);
    }
    // Exactly one hash per completed subtree: COUNT - popcount(COUNT).
    expect(tree.hashCount).toBeLessThan(2 * COUNT);
    expect(tree.hashCount).toBe(COUNT - 6); // 100000 = 0b11000011010100000 has 6 set bits
    expect(tree.size).toBe(COUNT);

    // A root or proof of any size costs O(log n) hashes, not O(n).
    const before = tree.hashCount;
    const root = tree.root();
    expect(tree.hashCount - before).toBeLessThanOrEqual(17);
    expect(hex(root)).toBe(hex(refMTH(lh)));
    const mid = tree.hashCount;
    const proof = tree.inclusionProof(12_345, 99_999);
    const cproof = tree.consistencyProof(77_777, 99_999);
    const oldRoot = tree.root(77_777);
    const root2 = tree.root(99_999);
    expect(tree.hashCount - mid).toBeLessThanOrEqual(4 * 17);
    expect(verifyInclusion(lh[12_345], 12_345, 99_999, proof, root2)).toBe(true);
    expect(verifyConsistency(77_777, 99_999, oldRoot, root2, cproof)).toBe(true);
    expect(verifyConsistency(99_999, COUNT, root2, root, tree.consistencyProof(99_999))).toBe(true);
  });
});

describe('CompactRange', () => {
  it('tracks the root of a growing tree with one hash per set bit, and round-trips its encoding', async () => {
    const { CompactRange } = await import('../src/audit/merkle.js');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 20 }), { minLength: 0, maxLength: 300 }), (entries) => {
        const tree = new MerkleTree();
        let edge = CompactRange.empty();
        expect(edge.root()).toEqual(emptyRoot());
        for (const e of entries) {
          tree.append(leafHash(e));
          edge.append(leafHash(e));
          expect(edge.root()).toEqual(tree.root());
          const bits = tree.size.toString(2).split('').filter((b) => b === '1').length;
          expect(edge.encode().length).toBe(bits * 32);
          edge = CompactRange.decode(edge.size, edge.encode());
        }
        expect(CompactRange.of(tree).encode()).toEqual(edge.encode());
      }),
      { numRuns: 30 },
    );
    expect(() => CompactRange.decode(3, new Uint8Array(32))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'bytes' }));
  });
});
