/**
 * What one more key version costs a MemoryKeyStore, in heap and in ArrayBuffer bytes. With the
 * in-process store, every rotation adds a version to the process's own memory — the store's data,
 * which grows by design — so the soak's heap check subtracts versions x this cost to judge what
 * keywarden itself keeps (with `--postgres` nothing is subtracted). Measured as bench/memory.ts
 * measures the cache: versions shaped like a real one (same wrapped-key length, same master key
 * id) are added to existing conversations of a scratch store, around full garbage collections.
 */
import { type KeyRecord, MemoryKeyStore } from '../../src/node.js';

// Shaped like the soak's rotations: most are a conversation's first or second (a version lives
// `maxAgeMs`, 10 minutes by default, and a full run lasts 11-16). A conversation's first rotation
// costs more than later ones: its array of versions grows from one slot to V8's next capacity.
// Measured 2026-12-01 with a 184-byte wrapped key: 1,107 B of heap per version for 200 versions
// on each of 50 conversations (the shape used before), 1,250 B for one more on each of 10,000,
// 1,170 B for two more. With the old shape, a full run with ~48,000 rotations (a loaded machine,
// 968 s) saw the heap less the store grow 5 MB after warm-up, ~125 B per rotation, and failed
// its 20 % check at 20.9 %; with the heap's array buffers added the same run was flat (0.3 %).
const CONVERSATIONS = 5_000;
const VERSIONS = 2;

export async function memoryStoreBytesPerVersion(like: KeyRecord, gc: () => void): Promise<{ heap: number; arrayBuffers: number }> {
  const store = new MemoryKeyStore();
  const record = (c: number, version: number): KeyRecord => {
    const at = new Date();
    return {
      conversationId: `${like.conversationId.slice(0, -6)}${String(c).padStart(6, '0')}`,
      version,
      masterKeyId: like.masterKeyId,
      wrappedKey: like.wrappedKey.slice(),
      suite: like.suite,
      state: 'active',
      createdAt: at,
      activatedAt: new Date(at.getTime()),
      supersededAt: null,
      sealedReserved: like.sealedReserved,
    };
  };
  // Conversations first: the soak's grow during warm-up; after it, rotations add versions.
  for (let c = 0; c < CONVERSATIONS; c++) await store.insertFirst(record(c, 1));
  gc();
  const before = process.memoryUsage();
  for (let v = 2; v <= VERSIONS + 1; v++) for (let c = 0; c < CONVERSATIONS; c++) await store.insertNext(record(c, v), v - 1);
  gc();
  const after = process.memoryUsage();
  const n = CONVERSATIONS * VERSIONS;
  const out = { heap: Math.max(0, Math.round((after.heapUsed - before.heapUsed) / n)), arrayBuffers: Math.max(0, Math.round((after.arrayBuffers - before.arrayBuffers) / n)) };
  // Keep the store alive until measured.
  if ((await store.listVersions(record(0, 1).conversationId)).length !== VERSIONS + 1) throw new Error('scratch store lost versions');
  return out;
}
