/** Audit test fixtures: valid events of every type, built from seeds. */
import fc from 'fast-check';
import { signCheckpoint } from '../../src/audit/checkpoint.js';
import { AuditIdHasher, type AuditEvent, encodeEntry } from '../../src/audit/entry.js';
import { MerkleTree, leafHash } from '../../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../../src/audit/note.js';

export const ids = new AuditIdHasher(new Uint8Array(32).fill(9));
const t0 = Date.parse('2026-11-27T10:00:00.000Z');

/** A valid event of each type, varied by `n`. */
export function sampleEvent(n: number): AuditEvent {
  const time = new Date(t0 + n * 1000).toISOString();
  const common = { id: `evt-${n}`, time, actor: `svc-${n % 3}`, lib: 'keywarden/0.1.0' };
  const conversation = ids.conversation(`dm:${n % 7}`);
  switch (n % 7) {
    case 0: return { ...common, type: 'key.created', conversation, version: 1, masterKeyId: 'local:test', suite: 'AES-256-GCM' };
    case 1: return { ...common, type: 'key.rotated', conversation, fromVersion: n, version: n + 1, masterKeyId: 'local:test' };
    case 2: return { ...common, type: 'key.shredded', conversation, versions: [1, 2, n], scope: n % 2 ? 'version' : 'conversation', reason: 'request' };
    case 3: return { ...common, type: 'key.rewrapped', keys: [{ conversation, version: 2 }, { conversation: ids.conversation(`dm:${n}`), version: 1 }], fromMasterKeyIds: ['arn:aws:kms:eu-west-1:1:key/a'], masterKeyId: 'arn:aws:kms:eu-west-1:1:key/b' };
    case 4: return { ...common, type: 'breakglass.access', token: `tok-${n}`, reason: 'USER_REPORT_REVIEW', approvers: ['alice', 'bob'], requester: 'carol', case: ids.case(`case-${n}`), scope: { conversations: [conversation], from: time, to: time, maxMessages: 50, operation: 'decrypt' } };
    case 5: return { ...common, type: 'breakglass.outcome', token: `tok-${n}`, intent: `evt-${n - 1}`, outcome: 'released', messages: 12, ciphertexts: 'ab'.repeat(32) };
    default: return { ...common, type: 'breakglass.refused', token: `tok-${n}`, reason: 'LEGAL_PROCESS', refusal: 'TOKEN_ALREADY_USED' };
  }
}

export const eventArb = fc.nat({ max: 1_000_000 }).map(sampleEvent);

/**
 * A log of `n` sample entries built in memory, with its keys and a checkpoint signer for any
 * size (for export and verify tests that need no store).
 */
export function signedSampleLog(origin: string, seed: number, n: number) {
  const keys = generateNoteKey(origin, new Uint8Array(32).fill(seed));
  const signer = newNoteSigner(keys.signerKey);
  const entries = Array.from({ length: n }, (_, i) => encodeEntry(sampleEvent(i)));
  const tree = new MerkleTree();
  for (const e of entries) tree.append(leafHash(e));
  const note = (size: number) => signCheckpoint({ origin, size, rootHash: tree.root(size), extensions: [] }, signer);
  return { keys, entries, tree, note };
}
