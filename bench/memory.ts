/**
 * Heap bytes per cached key: fills a Keywarden's cache with N conversation keys through the
 * public encrypt path and measures (heapUsed + arrayBuffers) after full GCs, before and after.
 * The master key and store keep nothing, so what grows is the cache alone, including the
 * conversation id strings it holds. Run in its own process: `node --expose-gc --import tsx bench/memory.ts N`.
 */
import { Keywarden, type KeyStore, type MasterKeyProvider } from '../src/node.js';

const N = Number(process.argv[2] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const key = new Uint8Array(32).fill(7);
const masterKey: MasterKeyProvider = {
  keyId: 'bench-memory',
  generateDataKey: async () => ({ plaintextKey: key.slice(), wrappedKey: new Uint8Array(1), masterKeyId: 'bench-memory' }),
  unwrapDataKey: async () => key.slice(),
};
const keyStore: KeyStore = {
  getLatest: async () => undefined,
  getVersion: async () => undefined,
  listVersions: async () => [],
  insertFirst: async (record) => ({ inserted: true, record }),
  insertNext: async (record) => ({ inserted: true, record }),
  reserveMessages: async () => 0,
  shred: async () => ({ shredded: [], alreadyShredded: [], closed: false }),
  transaction: (fn) => fn(keyStore),
};

function used(): number {
  for (let i = 0; i < 4; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const kw = new Keywarden({ masterKey, keyStore, cache: { maxEntries: N } });
const pt = new Uint8Array(16);
// Warm up code paths and the slab's first chunk so they are not counted per key.
await kw.encrypt('warm-up', pt);
const before = used();
const batch = 2000;
for (let i = 0; i < N - 1; i += batch) {
  const jobs: Promise<unknown>[] = [];
  // Realistic ids (26-char ULID-like), created here so only the cache keeps them.
  for (let j = i; j < Math.min(N - 1, i + batch); j++) jobs.push(kw.encrypt(`dm:${j.toString(36).padStart(23, '0')}`, pt));
  await Promise.all(jobs);
}
const after = used();
const size = kw.stats().cache.size;
if (size !== N) throw new Error(`expected ${N} cached keys, got ${size}`);
console.log(JSON.stringify({ keys: N, bytes_per_key: Math.round((after - before) / (N - 1)), total_bytes: after - before }));
