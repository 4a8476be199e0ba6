/** Conversation key records as key stores hold them (docs/FORMAT.md §6). */
import type { SuiteName } from '../format/suites.js';

/**
 * Lifecycle state of one key version (docs/KEYS.md §2).
 * - `active`: the version new messages of the conversation are sealed with (one per conversation);
 * - `superseded`: replaced by a newer version; still opens the messages it sealed;
 * - `shredded`: its wrapped key was deleted (crypto-shredding). The row stays as a tombstone, so
 *   that "shredded" is distinguishable from "never existed" and versions are never reused.
 */
export type KeyState = 'active' | 'superseded' | 'shredded';

/**
 * What a shred covered (docs/KEYS.md §3): `version` — that version only (by request, retention or
 * a minimum version), the conversation goes on; `conversation` — the whole conversation, which
 * then refuses to seal until `startGeneration`. Set on the highest version's tombstone.
 */
export type ShredScope = 'version' | 'conversation';

/**
 * One version of a conversation's data key, in the only form keywarden ever persists: wrapped
 * by the master key. The plaintext key is never stored.
 */
export interface KeyRecord {
  /** Conversation the key belongs to. */
  conversationId: string;
  /** Key version, 1, 2, ... (written into every ciphertext header). */
  version: number;
  /** Id of the master key that wrapped it (a KMS key ARN, or a local key id). */
  masterKeyId: string;
  /** The data key wrapped by the master key (a KMS ciphertext blob, or a local envelope). */
  wrappedKey: Uint8Array;
  /** Suite of every message sealed under this version. */
  suite: SuiteName;
  /** Lifecycle state. */
  state: KeyState;
  /** When the key was generated. */
  createdAt: Date;
  /** From when new messages used it. */
  activatedAt: Date;
  /** When a newer version replaced it; null while active. */
  supersededAt: Date | null;
  /**
   * Messages reserved for sealing under this version, summed over every process
   * (docs/FORMAT.md §5). Never exceeds the suite's limit.
   */
  sealedReserved: number;
  /** When the key was shredded (state `shredded`); null or absent otherwise. */
  shreddedAt?: Date | null;
  /** For a shredded version, what the shred covered; null or absent otherwise. */
  shredScope?: ShredScope | null;
}

/** True when this tombstone ends its conversation's generation (a whole-conversation shred). */
export function closesConversation(r: KeyRecord): boolean {
  return r.state === 'shredded' && r.shredScope === 'conversation';
}

/** Public metadata of a key version (a {@link KeyRecord} without the wrapped key). */
export type KeyVersionInfo = Omit<KeyRecord, 'wrappedKey'>;

/** A deep copy of a record, so a store never shares mutable state with its callers. */
export function copyRecord(r: KeyRecord): KeyRecord {
  return {
    ...r,
    wrappedKey: r.wrappedKey.slice(),
    createdAt: new Date(r.createdAt.getTime()),
    activatedAt: new Date(r.activatedAt.getTime()),
    supersededAt: r.supersededAt ? new Date(r.supersededAt.getTime()) : null,
    shreddedAt: r.shreddedAt ? new Date(r.shreddedAt.getTime()) : null,
    shredScope: r.shredScope ?? null,
  };
}

/** Strips the wrapped key. */
export function toInfo(r: KeyRecord): KeyVersionInfo {
  const { wrappedKey: _w, ...info } = copyRecord(r);
  return info;
}

/**
 * The encryption context bound to a data key's wrapping (a KMS EncryptionContext): the master
 * key refuses to unwrap it for another conversation or version. It is logged in clear by AWS
 * CloudTrail, so it holds identifiers only, never secrets.
 */
export function keyContext(conversationId: string, version: number): Record<string, string> {
  return {
    'keywarden:purpose': 'conversation-data-key',
    'keywarden:conversation': conversationId,
    'keywarden:key-version': String(version),
  };
}

/**
 * The encryption context of a branch key's wrapping (docs/KEYS.md §9): KMS refuses to unwrap it
 * as a conversation key, or as another branch or version.
 */
export function branchContext(branch: string, version: number): Record<string, string> {
  return {
    'keywarden:purpose': 'branch-key',
    'keywarden:branch': branch,
    'keywarden:branch-version': String(version),
  };
}

/** Who a stored key belongs to: a conversation (the default) or a branch. */
export type KeySubject = 'conversation' | 'branch';

/** The wrapping context of a record of `subject`. */
export function wrappingContext(subject: KeySubject | undefined, id: string, version: number): Record<string, string> {
  return subject === 'branch' ? branchContext(id, version) : keyContext(id, version);
}
