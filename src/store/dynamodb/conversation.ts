/**
 * The DynamoDB key store's unit of atomicity: one item per conversation holding every version
 * (docs/KEYS.md §10). Every KeyStore write is a pure change of that item, computed here, then
 * stored with one conditional write on the item's revision — so the contract's compare-and-set,
 * bounded reservations and shred-versus-rotation atomicity hold without multi-item transactions
 * (which DynamoDB-compatible servers such as dynalite lack).
 * @module
 */
import { type KeyRecord, closesConversation, copyRecord } from '../../keys/records.js';
import { StoreError } from '../../errors.js';
import type { InsertResult, KeyChange, ShredResult, WrappingUpdate } from '../types.js';

/** A conversation's versions (1..n, index = version - 1) and the revision they were read at (0: no item). */
export interface Conversation {
  id: string;
  rev: number;
  versions: KeyRecord[];
}

/** What a write did: its result, whether the item changed, and the change to announce. */
export interface Step<T> {
  out: T;
  changed: boolean;
  change?: KeyChange | undefined;
}

export function cloneConversation(c: Conversation): Conversation {
  return { id: c.id, rev: c.rev, versions: c.versions.map(copyRecord) };
}

function latest(c: Conversation): KeyRecord {
  return copyRecord(c.versions[c.versions.length - 1]!);
}

export function insertFirst(c: Conversation, record: KeyRecord): Step<InsertResult> {
  if (record.version !== 1 || record.state !== 'active' || record.supersededAt !== null) {
    throw new StoreError('dynamodb key store: insertFirst expects an active version 1');
  }
  if (c.versions.length > 0) return { out: { inserted: false, record: latest(c) }, changed: false };
  c.versions.push(copyRecord(record));
  return { out: { inserted: true, record: copyRecord(record) }, changed: true };
}

export function insertNext(c: Conversation, record: KeyRecord, expected: number, reopen: boolean): Step<InsertResult> {
  if (c.versions.length === 0) throw new StoreError('dynamodb key store: insertNext: conversation has no key');
  const last = c.versions[c.versions.length - 1]!;
  const open = last.state === 'active' || (last.state === 'shredded' && (reopen || !closesConversation(last)));
  if (last.version !== expected || !open) return { out: { inserted: false, record: latest(c) }, changed: false };
  if (record.version !== expected + 1 || record.state !== 'active' || record.supersededAt !== null) {
    throw new StoreError('dynamodb key store: insertNext: record must be the active version following the highest one');
  }
  if (last.state === 'active') {
    last.state = 'superseded';
    last.supersededAt = new Date(record.activatedAt.getTime());
  }
  c.versions.push(copyRecord(record));
  return { out: { inserted: true, record: copyRecord(record) }, changed: true, change: 'rotated' };
}

export function shred(c: Conversation, target: 'conversation' | readonly number[], at: Date): Step<ShredResult> {
  const rows = c.versions;
  const wanted = target === 'conversation' ? rows.map((r) => r.version) : [...new Set(target)].filter(Number.isSafeInteger).sort((a, b) => a - b);
  const out: ShredResult = { shredded: [], alreadyShredded: [], closed: false };
  for (const v of wanted) {
    const r = rows[v - 1];
    if (r === undefined) continue;
    if (r.state === 'shredded') {
      out.alreadyShredded.push(v);
      continue;
    }
    r.wrappedKey.fill(0);
    Object.assign(r, { state: 'shredded', wrappedKey: new Uint8Array(0), supersededAt: r.supersededAt, shreddedAt: new Date(at.getTime()), shredScope: 'version' });
    out.shredded.push(v);
  }
  const last = rows[rows.length - 1];
  if (target === 'conversation' && last !== undefined && last.shredScope !== 'conversation') {
    last.shredScope = 'conversation';
    out.closed = true;
  }
  const changed = out.shredded.length > 0 || out.closed;
  return { out, changed, change: changed ? 'shredded' : undefined };
}

export function reserve(c: Conversation, version: number, count: number, limit: number): Step<number> {
  const r = Number.isSafeInteger(version) && version >= 1 ? c.versions[version - 1] : undefined;
  if (!r || r.state !== 'active' || count <= 0) return { out: 0, changed: false };
  const granted = Math.max(0, Math.min(count, limit - r.sealedReserved));
  r.sealedReserved += granted;
  return { out: granted, changed: granted > 0 };
}

export function updateWrapping(c: Conversation, u: WrappingUpdate): Step<boolean> {
  const r = Number.isSafeInteger(u.version) && u.version >= 1 ? c.versions[u.version - 1] : undefined;
  if (!r || r.state === 'shredded' || r.masterKeyId !== u.expected.masterKeyId || !sameBytes(r.wrappedKey, u.expected.wrappedKey)) return { out: false, changed: false };
  r.masterKeyId = u.next.masterKeyId;
  r.wrappedKey = u.next.wrappedKey.slice();
  return { out: true, changed: true };
}

/**
 * Takes back what one write did (`from` became `to`) on the item as it is `now`, in place: each
 * version the write changed goes back to its state in `from` if nobody changed it since, and a
 * version it added goes if it is still the last. False (and `now` untouched) when another writer
 * built on the write's changes, or when the write shredded or closed something: a shred may have
 * been seen already (another shred told `alreadyShredded`, a reader refused) and is never undone.
 */
export function revert(now: Conversation, from: Conversation, to: Conversation): boolean {
  // A version added since was built on what the write left (a rotation after its shred, say).
  if (now.versions.length !== to.versions.length) return false;
  const next = now.versions.map(copyRecord);
  for (let i = to.versions.length - 1; i >= 0; i--) {
    const was = from.versions[i];
    const ours = to.versions[i]!;
    if (was !== undefined && sameRecord(was, ours)) continue;
    if (ours.state === 'shredded' || (ours.shredScope ?? null) !== (was?.shredScope ?? null)) return false;
    const cur = next[i];
    if (cur === undefined || !sameRecord(cur, ours)) return false;
    if (was !== undefined) next[i] = copyRecord(was);
    else if (i === next.length - 1) next.pop();
    else return false;
  }
  now.versions = next;
  return true;
}

function sameRecord(a: KeyRecord, b: KeyRecord): boolean {
  const t = (d: Date | null | undefined) => (d == null ? null : d.getTime());
  return a.conversationId === b.conversationId && a.version === b.version && a.masterKeyId === b.masterKeyId && a.suite === b.suite &&
    a.state === b.state && a.sealedReserved === b.sealedReserved && (a.shredScope ?? null) === (b.shredScope ?? null) &&
    t(a.createdAt) === t(b.createdAt) && t(a.activatedAt) === t(b.activatedAt) && t(a.supersededAt) === t(b.supersededAt) &&
    t(a.shreddedAt) === t(b.shreddedAt) && sameBytes(a.wrappedKey, b.wrappedKey);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
