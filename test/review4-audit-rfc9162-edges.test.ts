/**
 * Review 4 check (no defect found): the roots and RFC 9162 proofs an AuditLog serves from its
 * tiles, at and around the tile boundaries (sizes 255/256/257, 65535/65536/65537, with batches
 * that end inside, at and across them), equal an independent RFC 9162 §2.1 computation written
 * here from the RFC text (node:crypto, recursive MTH / PATH / PROOF), for every size and index
 * fast-check draws.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from './support/audit-fixtures.js';

const h = (...parts: Uint8Array[]) => {
  const x = createHash('sha256');
  for (const p of parts) x.update(p);
  return new Uint8Array(x.digest());
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** RFC 9162 §2.1.1, over leaf hashes, with perfect subtrees memoised (start, size power of two). */
function makeTree(leaves: Uint8Array[]) {
  const memo = new Map<string, Uint8Array>();
  const k = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1); // largest power of two < n (n >= 2)
  const mth = (start: number, n: number): Uint8Array => {
    if (n === 0) return h();
    if (n === 1) return leaves[start]!;
    const perfect = (n & (n - 1)) === 0;
    const key = `${start}/${n}`;
    if (perfect && memo.has(key)) return memo.get(key)!;
    const s = k(n);
    const r = h(Uint8Array.of(1), mth(start, s), mth(start + s, n - s));
    if (perfect) memo.set(key, r);
    return r;
  };
  // §2.1.3.1 PATH(m, D[start:start+n])
  const path = (m: number, start: number, n: number): Uint8Array[] => {
    if (n === 1) return [];
    const s = k(n);
    return m < s ? [...path(m, start, s), mth(start + s, n - s)] : [...path(m - s, start + s, n - s), mth(start, s)];
  };
  // §2.1.4.1 SUBPROOF(m, D[start:start+n], b)
  const subproof = (m: number, start: number, n: number, b: boolean): Uint8Array[] => {
    if (m === n) return b ? [] : [mth(start, n)];
    const s = k(n);
    return m <= s ? [...subproof(m, start, s, b), mth(start + s, n - s)] : [...subproof(m - s, start + s, n - s, false), mth(start, s)];
  };
  return {
    root: (n: number) => mth(0, n),
    inclusion: (m: number, n: number) => path(m, 0, n),
    consistency: (m: number, n: number) => (m === 0 || m === n ? [] : subproof(m, 0, n, true)),
  };
}

const keys = generateNoteKey('keywarden.example/review4-rfc9162', new Uint8Array(32).fill(48));
const N = 65_540;
const edges = [1, 2, 255, 256, 257, 511, 512, 513, 65_279, 65_280, 65_535, 65_536, 65_537, N];
const nearEdge = fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 1, max: N }), fc.integer({ min: 65_500, max: N }), fc.integer({ min: 200, max: 600 }));

let leaves: Uint8Array[];
let tree: ReturnType<typeof makeTree>;
let log: AuditLog;

beforeAll(async () => {
  const entries = Array.from({ length: N }, (_, i) => encodeEntry(sampleEvent(i)));
  leaves = entries.map((e) => h(Uint8Array.of(0), e));
  tree = makeTree(leaves);
  log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: keys.signerKey, maxBatch: 100_000 });
  // Batches that end inside, at and across the tile boundaries.
  const cuts = [0, 1, 255, 256, 257, 300, 4_000, 65_000, 65_535, 65_536, 65_537, 65_538, N];
  for (let i = 1; i < cuts.length; i++) await log.record(Array.from({ length: cuts[i]! - cuts[i - 1]! }, (_, j) => sampleEvent(cuts[i - 1]! + j)));
}, 120_000);

describe('AuditLog roots and proofs at tile boundaries equal an independent RFC 9162 computation', () => {
  it('roots', async () => {
    for (const n of edges) expect(hex(await log.root(n)), `size ${n}`).toBe(hex(tree.root(n)));
    await fc.assert(fc.asyncProperty(nearEdge, async (n) => hex(await log.root(n)) === hex(tree.root(n))), { numRuns: 60 });
  }, 120_000);

  it('inclusion proofs', async () => {
    await fc.assert(
      fc.asyncProperty(nearEdge, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), async (n, f) => {
        const m = Math.floor(f * n);
        expect((await log.inclusionProof(m, n)).map(hex)).toEqual(tree.inclusion(m, n).map(hex));
      }),
      { numRuns: 80 },
    );
  }, 120_000);

  it('consistency proofs', async () => {
    await fc.assert(
      fc.asyncProperty(nearEdge, nearEdge, async (a, b) => {
        const [m, n] = a <= b ? [a, b] : [b, a];
        expect((await log.consistencyProof(m, n)).map(hex)).toEqual(tree.consistency(m, n).map(hex));
      }),
      { numRuns: 80 },
    );
  }, 120_000);

  it('a file store crossing 255/256/257 in batches of every shape serves the same roots', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-review4-rfc-'));
    try {
      const flog = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      const cuts = [0, 254, 255, 256, 257, 511, 513, 520];
      for (let i = 1; i < cuts.length; i++) await flog.record(Array.from({ length: cuts[i]! - cuts[i - 1]! }, (_, j) => sampleEvent(cuts[i - 1]! + j)));
      for (let n = 0; n <= 520; n++) expect(hex(await flog.root(n)), `size ${n}`).toBe(hex(tree.root(n)));
      for (const n of [255, 256, 257, 512, 520]) for (const m of [0, n - 1, Math.floor(n / 2)]) expect((await flog.inclusionProof(m, n)).map(hex)).toEqual(tree.inclusion(m, n).map(hex));
      await flog.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
