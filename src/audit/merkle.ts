/**
 * Merkle tree of the tamper-evident audit log, exactly as in certificate transparency:
 * RFC 6962 §2.1 / RFC 9162 §2.1 (Merkle Tree Hash, inclusion proofs, consistency proofs) with
 * SHA-256. Verification follows the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
 *
 * @example
 * ```ts
 * const tree = new MerkleTree();
 * for (const entry of entries) tree.append(leafHash(entry));
 * const root = tree.root();
 * const proof = tree.inclusionProof(3);
 * verifyInclusion(leafHash(entries[3]), 3, tree.size, proof, root); // true
 * ```
 * @module
 */
import { sha256 } from '../util/digest.js';
import { InvalidInputError } from '../errors.js';
import { equalBytes } from '../util/bytes.js';
import { assertBytes, isBytes } from '../util/validate.js';

/**
 * Size in bytes of every hash in the tree (SHA-256).
 *
 * @example
 * ```ts
 * if (candidate.length !== HASH_SIZE) throw new Error('not a tree hash');
 * ```
 */
export const HASH_SIZE = 32;

const LEAF_PREFIX = 0x00; // RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0))
const NODE_PREFIX = 0x01; // RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
const EMPTY_ROOT = sha256(new Uint8Array(0)); // RFC 9162 §2.1.1: MTH({}) = HASH()
const LEAF = Uint8Array.of(LEAF_PREFIX);
const NODE = Uint8Array.of(NODE_PREFIX);

/**
 * Leaf hash of an audit entry: `SHA-256(0x00 || entry)` (RFC 9162 §2.1.1).
 *
 * @example
 * ```ts
 * const h = leafHash(new Uint8Array(0)); // 6e340b9c…afa01d
 * ```
 */
export function leafHash(entry: Uint8Array): Uint8Array {
  if (!isBytes(entry)) assertBytes('entry', entry);
  return sha256(LEAF, entry);
}

/**
 * Interior node hash: `SHA-256(0x01 || left || right)` (RFC 9162 §2.1.1).
 *
 * @example
 * ```ts
 * const root2 = nodeHash(leafHash(a), leafHash(b)); // root of the two-entry log [a, b]
 * ```
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (!isBytes(left)) assertBytes('left', left);
  if (!isBytes(right)) assertBytes('right', right);
  return sha256(NODE, left, right);
}

/**
 * Root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1). Returns a fresh copy.
 *
 * @example
 * ```ts
 * toHex(emptyRoot()); // 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 * ```
 */
export function emptyRoot(): Uint8Array {
  return EMPTY_ROOT.slice();
}


/** k in RFC 9162 §2.1.1: the largest power of two strictly smaller than n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPowerOfTwo = (n: number): boolean => n > 0 && split(n + 1) === n;

/** log2 of a power of two, exactly (no floating-point log). */
function levelOf(powerOfTwo: number): number {
  let level = 0;
  for (let p = 1; p < powerOfTwo; p *= 2) level++;
  return level;
}
const isHash = (h: unknown): h is Uint8Array => h instanceof Uint8Array && h.length === HASH_SIZE;
const isSize = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidInputError(name, `expected an integer in [${min}, ${max}], got ${String(value)}`);
  }
}

/**
 * Incremental, append-only RFC 9162 Merkle tree over leaf hashes.
 *
 * Storage: for every level `l`, the hashes of all complete, aligned `2^l`-leaf subtrees, packed
 * 32 bytes apiece into one growable `Uint8Array` (level 0 = leaf hashes). That is about two
 * hashes per leaf; `append` computes one node hash amortised. Roots and proofs for any size up
 * to the current one (historical tree heads) combine stored complete subtrees and recurse only
 * down the right edge, so they cost O(log n) hash reads and at most O(log n) hash computations.
 *
 * @example
 * ```ts
 * const tree = new MerkleTree([leafHash(a), leafHash(b)]);
 * tree.append(leafHash(c));                 // 2
 * const oldRoot = tree.root(2);             // root of the first two entries
 * const proof = tree.consistencyProof(2);   // tree of size 2 is a prefix of size 3
 * verifyConsistency(2, 3, oldRoot, tree.root(), proof); // true
 * ```
 */
export class MerkleTree {
  #size = 0;
  #levels: Uint8Array[] = [];
  #scratch = new Uint8Array(1 + 2 * HASH_SIZE);
  #hashCount = 0;

  /**
   * Builds the tree by appending each leaf hash in order (same result as {@link append} one by
   * one).
   *
   * @example
   * ```ts
   * const tree = new MerkleTree(entries.map(leafHash));
   * ```
   */
  constructor(leafHashes?: Iterable<Uint8Array>) {
    if (leafHashes === undefined) return;
    if (leafHashes === null || typeof (leafHashes as Partial<Iterable<Uint8Array>>)[Symbol.iterator] !== 'function') {
      throw new InvalidInputError('leafHashes', 'expected an iterable of 32-byte leaf hashes'); // not a raw TypeError (outside review 5)
    }
    for (const h of leafHashes) this.append(h);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /**
   * Diagnostic: number of interior node hashes (SHA-256 invocations) this tree has computed,
   * for appends, roots and proofs together.
   */
  get hashCount(): number {
    return this.#hashCount;
  }

  /**
   * Appends a leaf hash (see {@link leafHash}) and returns its index. O(1) amortised: only the
   * subtrees this leaf completes are hashed.
   *
   * @throws InvalidInputError (ERR_INVALID_INPUT) if `leafHash` is not a Uint8Array of 32 bytes.
   */
  append(leafHash: Uint8Array): number {
    assertBytes('leafHash', leafHash, HASH_SIZE);
    const index = this.#size;
    this.#store(0, index, leafHash);
    this.#size = index + 1;
    // The node at (level, i) completes its parent when i is odd (it is the right child).
    let level = 0;
    let i = index;
    while (i % 2 === 1) {
      const parent = this.#hashNode(this.#node(level, i - 1), this.#node(level, i));
      i = (i - 1) / 2;
      level++;
      this.#store(level, i, parent);
    }
    return index;
  }

  /**
   * Forgets the leaves at and after `size` (undoing appends that were never acknowledged). O(1):
   * stored subtrees entirely below `size` stay valid, the others are overwritten by later appends.
   * @internal
   */
  truncate(size: number): void {
    checkRange('size', size, 0, this.#size);
    this.#size = size;
  }

  /**
   * Copy of the leaf hash at `index` (0-based).
   *
   * @throws InvalidInputError naming `index` unless 0 <= index < size.
   */
  leafHash(index: number): Uint8Array {
    checkRange('index', index, 0, this.#size - 1);
    return this.#node(0, index).slice();
  }

  /**
   * Tree head MTH(D[0:size]) (RFC 9162 §2.1.1) for any `size` up to the current size; the empty
   * tree's root for 0.
   *
   * @throws InvalidInputError naming `size` unless 0 <= size <= this.size.
   */
  root(size: number = this.#size): Uint8Array {
    checkRange('size', size, 0, this.#size);
    return size === 0 ? emptyRoot() : this.#subtree(0, size).slice();
  }

  /**
   * Inclusion proof PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), ordered from the leaf's
   * sibling up to the root's child.
   *
   * @throws InvalidInputError naming `size` (0..this.size) or `index` (0..size-1).
   */
  inclusionProof(index: number, size: number = this.#size): Uint8Array[] {
    checkRange('size', size, 0, this.#size);
    checkRange('index', index, 0, size - 1);
    const proof: Uint8Array[] = [];
    this.#path(index, 0, size, proof);
    return proof;
  }

  /**
   * Consistency proof PROOF(oldSize, D[0:size]) (RFC 9162 §2.1.4.1). Empty when `oldSize` is 0
   * or equals `size`.
   *
   * @throws InvalidInputError naming `size` (0..this.size) or `oldSize` (0..size).
   */
  consistencyProof(oldSize: number, size: number = this.#size): Uint8Array[] {
    checkRange('size', size, 0, this.#size);
    checkRange('oldSize', oldSize, 0, size);
    const proof: Uint8Array[] = [];
    if (oldSize > 0 && oldSize < size) this.#subproof(oldSize, 0, size, true, proof);
    return proof;
  }

  // PATH(m, D[start:start+n]) of RFC 9162 §2.1.3.1; elements are appended bottom-up.
  #path(m: number, start: number, n: number, out: Uint8Array[]): void {
    if (n === 1) return;
    const k = split(n);
    if (m < k) {
      this.#path(m, start, k, out);
      out.push(this.#subtree(start + k, n - k).slice());
    } else {
      this.#path(m - k, start + k, n - k, out);
      out.push(this.#subtree(start, k).slice());
    }
  }

  // SUBPROOF(m, D[start:start+n], b) of RFC 9162 §2.1.4.1.
  #subproof(m: number, start: number, n: number, b: boolean, out: Uint8Array[]): void {
    if (m === n) {
      if (!b) out.push(this.#subtree(start, n).slice());
      return;
    }
    const k = split(n);
    if (m <= k) {
      this.#subproof(m, start, k, b, out);
      out.push(this.#subtree(start + k, n - k).slice());
    } else {
      this.#subproof(m - k, start + k, n - k, false, out);
      out.push(this.#subtree(start, k).slice());
    }
  }

  // MTH(D[start:start+n]). Every call site keeps `start` a multiple of the smallest power of two
  // >= n, so a power-of-two n is a stored complete subtree and the left half of any other n is
  // too: only the right edge recurses. The result may be a view into storage; callers copy.
  #subtree(start: number, n: number): Uint8Array {
    if (isPowerOfTwo(n)) return this.#node(levelOf(n), start / n);
    const k = split(n);
    return this.#hashNode(this.#node(levelOf(k), start / k), this.#subtree(start + k, n - k));
  }

  #hashNode(left: Uint8Array, right: Uint8Array): Uint8Array {
    const s = this.#scratch;
    s[0] = NODE_PREFIX;
    s.set(left, 1);
    s.set(right, 1 + HASH_SIZE);
    this.#hashCount++;
    return sha256(s);
  }

  #node(level: number, i: number): Uint8Array {
    const off = i * HASH_SIZE;
    return this.#levels[level]!.subarray(off, off + HASH_SIZE);
  }

  #store(level: number, i: number, hash: Uint8Array): void {
    const off = i * HASH_SIZE;
    let buf = this.#levels[level];
    if (buf === undefined) {
      buf = new Uint8Array(16 * HASH_SIZE);
      this.#levels[level] = buf;
    } else if (off + HASH_SIZE > buf.length) {
      const grown = new Uint8Array(buf.length * 2); // doubling: O(1) amortised copies
      grown.set(buf);
      buf = grown;
      this.#levels[level] = buf;
    }
    buf.set(hash, off);
  }
}

/**
 * Verifies an inclusion proof (RFC 9162 §2.1.3.2): that `leafHash` is leaf `index` of the tree of
 * `size` leaves whose root is `root`. Never throws: malformed input returns `false`.
 *
 * @example
 * ```ts
 * const ok = verifyInclusion(leafHash(entry), 5, 8, tree.inclusionProof(5, 8), tree.root(8));
 * ```
 */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(leafHash) || !isHash(root) || !isSize(index) || !isSize(size) || !Array.isArray(proof)) return false;
  // Step 1: leaf_index >= tree_size fails.
  if (index >= size) return false;
  // Step 2: fn = leaf_index, sn = tree_size - 1. Step 3: r = hash.
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  // Step 4: for each p in inclusion_path (arithmetic instead of >> keeps sizes above 2^31 exact).
  for (const p of proof) {
    if (!isHash(p)) return false;
    if (sn === 0) return false; // 4a
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r); // 4b.i
      // 4b.ii: if LSB(fn) is not set, shift until it is or fn is 0.
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p); // 4b "Otherwise"
    }
    fn = Math.floor(fn / 2); // 4c
    sn = Math.floor(sn / 2);
  }
  // Step 5: sn must be 0 and r must equal root_hash.
  return sn === 0 && equalBytes(r, root);
}

/**
 * Verifies a consistency proof (RFC 9162 §2.1.4.2): that the tree of `oldSize` leaves with root
 * `oldRoot` is a prefix of the tree of `size` leaves with root `root`. Never throws.
 *
 * Edge cases: `oldSize === size` needs an empty proof and equal roots; `oldSize === 0` needs an
 * empty proof and `oldRoot` equal to {@link emptyRoot} (every tree extends the empty one, so
 * `root` cannot be checked by a proof and is accepted as is).
 *
 * @example
 * ```ts
 * const ok = verifyConsistency(6, 8, tree.root(6), tree.root(8), tree.consistencyProof(6, 8));
 * ```
 */
export function verifyConsistency(
  oldSize: number,
  size: number,
  oldRoot: Uint8Array,
  root: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isHash(oldRoot) || !isHash(root) || !isSize(oldSize) || !isSize(size) || !Array.isArray(proof)) return false;
  if (oldSize > size) return false;
  if (!proof.every(isHash)) return false;
  if (oldSize === 0) return proof.length === 0 && equalBytes(oldRoot, EMPTY_ROOT) && (size > 0 || equalBytes(root, EMPTY_ROOT));
  if (oldSize === size) return proof.length === 0 && equalBytes(oldRoot, root);
  // Step 1: an empty consistency_path fails (0 < first < second from here on).
  if (proof.length === 0) return false;
  // Step 2: if first is an exact power of 2, prepend first_hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  // Step 3: fn = first - 1, sn = second - 1.
  let fn = oldSize - 1;
  let sn = size - 1;
  // Step 4: if LSB(fn) is set, right-shift fn and sn until it is not.
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 5: fr = sr = first value of the path.
  let fr = path[0]!;
  let sr = fr;
  // Step 6: for each subsequent value c.
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false; // 6a
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr); // 6b.i
      sr = nodeHash(c, sr); // 6b.ii
      // 6b.iii: if LSB(fn) is not set, shift until it is or fn is 0.
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c); // 6b "Otherwise"
    }
    fn = Math.floor(fn / 2); // 6c
    sn = Math.floor(sn / 2);
  }
  // Step 7: fr == first_hash, sr == second_hash and sn == 0.
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, root);
}

/**
 * The right edge ("compact range", RFC 9162 §2.1 tree shape) of a tree of `size` leaves: the
 * roots of its perfect subtrees, largest first, one per set bit of `size`. It is all a sequencer
 * shared by many processes needs to store to append and compute the new root without reading
 * the log: a few hundred bytes for any size.
 *
 * @example
 * ```ts
 * const edge = CompactRange.empty();
 * edge.append(leafHash(entry));
 * edge.root(); // equals new MerkleTree([leafHash(entry)]).root()
 * const again = CompactRange.decode(edge.size, edge.encode());
 * ```
 */
export class CompactRange {
  #size: number;
  readonly #nodes: Uint8Array[];

  private constructor(size: number, nodes: Uint8Array[]) {
    this.#size = size;
    this.#nodes = nodes;
  }

  /** The right edge of the empty tree. */
  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /** Rebuilds from `encode()` output; ERR_INVALID_INPUT if the hash count does not match `size`. */
  static decode(size: number, bytes: Uint8Array): CompactRange {
    checkRange('size', size, 0, Number.MAX_SAFE_INTEGER);
    let bits = 0;
    for (let s = size; s > 0; s = Math.floor(s / 2)) bits += s % 2;
    assertBytes('bytes', bytes, bits * HASH_SIZE);
    const nodes: Uint8Array[] = [];
    for (let i = 0; i < bits; i++) nodes.push(bytes.slice(i * HASH_SIZE, (i + 1) * HASH_SIZE));
    return new CompactRange(size, nodes);
  }

  /** The right edge of `tree` at its current size. */
  static of(tree: MerkleTree): CompactRange {
    const r = CompactRange.empty();
    for (let i = 0; i < tree.size; i++) r.append(tree.leafHash(i));
    return r;
  }

  get size(): number {
    return this.#size;
  }

  /** Appends one leaf hash: merges one subtree per trailing one bit of the old size. */
  append(leaf: Uint8Array): void {
    assertBytes('leafHash', leaf, HASH_SIZE);
    this.#nodes.push(leaf.slice());
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) {
      const right = this.#nodes.pop()!;
      const left = this.#nodes.pop()!;
      this.#nodes.push(nodeHash(left, right));
    }
    this.#size++;
  }

  /** Root of the tree (RFC 6962 MTH): the subtree roots folded from the right. */
  root(): Uint8Array {
    if (this.#nodes.length === 0) return emptyRoot();
    let acc = this.#nodes[this.#nodes.length - 1]!;
    for (let i = this.#nodes.length - 2; i >= 0; i--) acc = nodeHash(this.#nodes[i]!, acc);
    return acc.slice();
  }

  /** The subtree roots concatenated (32 bytes each). */
  encode(): Uint8Array {
    const out = new Uint8Array(this.#nodes.length * HASH_SIZE);
    this.#nodes.forEach((n, i) => out.set(n, i * HASH_SIZE));
    return out;
  }
}
