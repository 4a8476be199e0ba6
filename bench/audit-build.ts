/**
 * Builds a large audit log fast for `npm run bench:audit`: through the store's own integration
 * step (the path the sequencer takes), in batches of 16,384 entries, with a tree head per batch
 * and a checkpoint at the end. Entries are valid `key.created` events made from one encoded
 * template by patching its 32-hex-digit id (same length, still canonical JSON), so generating
 * them costs nothing next to hashing and storing them.
 */
import { encodeEntry, newEvent } from '../src/audit/entry.js';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { leafHash } from '../src/audit/merkle.js';
import { recordKeys, signTreeHead } from '../src/audit/records.js';
import { ReplayGuard } from '../src/audit/replay-guard.js';
import type { AuditStore } from '../src/audit/store.js';
import { TileEdge } from '../src/audit/tile-edge.js';

const BATCH = 16_384;

/** An entry generator: `entry(i)` is a distinct valid key.created entry. */
export function entryMaker(): (i: number) => Uint8Array {
  const template = encodeEntry(newEvent('key.created', { actor: 'svc-dm', now: () => new Date('2026-11-27T10:00:00.000Z') }, {
    conversation: 'ab'.repeat(32), version: 1, masterKeyId: 'arn:aws:kms:eu-west-1:111122223333:key/bench', suite: 'AES-256-GCM',
  }));
  const text = new TextDecoder().decode(template);
  const at = text.indexOf('"id":"') + 6;
  return (i: number) => {
    const e = template.slice();
    const hex = i.toString(16).padStart(32, '0');
    for (let k = 0; k < 32; k++) e[at + k] = hex.charCodeAt(k);
    return e;
  };
}

/** Appends `size` entries to an empty `store` and checkpoints the result. */
export async function buildLog(store: AuditStore, signerKey: string, size: number, progress: (done: number) => void = () => {}): Promise<void> {
  const keys = recordKeys(signerKey);
  const make = entryMaker();
  const edge = TileEdge.empty(store.keepsBundles);
  for (let start = 0; start < size; start += BATCH) {
    // Takes or renews the lease before every batch, as the sequencer does: a batch can outlast
    // a lease on a busy machine, and the store refuses a step whose lease ran out.
    if (!(await store.acquireSequencer())) throw new Error('the store has another sequencer');
    const entries: Uint8Array[] = [];
    for (let i = start; i < Math.min(size, start + BATCH); i++) {
      const e = make(i);
      entries.push(e);
      edge.append(leafHash(e), store.keepsBundles ? e : undefined);
    }
    const root = edge.root();
    const last = edge.size === size;
    const checkpoint = last ? signCheckpoint({ origin: keys.origin, size, rootHash: root, extensions: [] }, keys.signer) : undefined;
    await store.integrate({
      start, entries, tiles: edge.take(), head: checkpoint ?? signTreeHead(keys.signer, edge.size, root), ...(checkpoint !== undefined && { checkpoint }),
      consumed: [], quarantined: [], receipts: [],
      guard: ReplayGuard.empty({ windowMs: 0 }).seal(keys.mac, { size: edge.size, root }), // nothing came through an outbox
    });
    progress(edge.size);
  }
  await store.releaseSequencer();
}
