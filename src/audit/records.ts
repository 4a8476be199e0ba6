/**
 * How every stored audit record is authenticated on its own (docs/AUDIT.md §4), so that a record
 * written by someone without the log's signer key is refused while a genuine one that no
 * checkpoint covers yet is merely pending:
 *
 * - **tree head** (one per integrated batch): a signed note by the log key whose text is
 *   `keywarden.audit/tree-head/v1`, the origin, the tree size and the base64 root, one per line.
 *   Its first line is not the origin, so no checkpoint verifier (ours, Go's, a witness's) takes
 *   it for a checkpoint; anyone with the published verifier key can check it. A batch that is
 *   checkpointed stores its checkpoint as its head instead (one signature per batch).
 * - **outbox record** (events committed but not yet integrated): a 32-byte record id — the
 *   producing instance's random 16-byte producer id, its counter (u64) and its sealing time (u64,
 *   ms since the epoch, never decreasing for one producer) — then the entries as a tlog-tiles
 *   bundle, stored together as the record's `bundle` bytes; a flags byte (bit 0: the writer waits
 *   for a checkpoint); and `HMAC-SHA-256(K, "keywarden-audit-outbox/v2" || 0x00 || flags ||
 *   id || bundle)` with `K = HKDF-SHA-256(signer seed, info = "keywarden audit outbox MAC v1" ||
 *   0x00 || origin)` (RFC 5869). Only the log's own instances, which hold the signer key, can
 *   make one; the sequencer checks it before integrating and quarantines a record that fails.
 *   The id lets the sequencer refuse a genuine record copied back into the outbox after it was
 *   integrated (replay-guard.ts).
 *
 * @example
 * ```ts
 * const keys = recordKeys(signerKey);
 * const head = signTreeHead(keys.signer, 12, root);
 * openTreeHead(head, verifier); // { origin, size: 12, root }
 * const producer = new OutboxProducer();
 * const rec = sealOutboxRecord(keys.mac, entries, true, producer.next());
 * openOutboxRecord(keys.mac, rec.bundle, rec.flags, rec.mac); // { entries, id }, or undefined if forged
 * ```
 * @module
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hmacSha256 } from '../util/digest.js';
import { AuditCorruptError, InvalidInputError } from '../errors.js';
import { assertBytes, assertInt } from '../util/validate.js';
import { equalBytes, fromBase64, toBase64, utf8 } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';
import { HASH_SIZE } from './merkle.js';
import { openCheckpoint } from './checkpoint.js';
import { type NoteSigner, type NoteVerifier, newNoteSigner, openNote, parseSignerKey, signNote } from './note.js';
import { decodeBundle, encodeBundle } from './tiles.js';

/**
 * First line of a tree-head note.
 *
 * @example
 * ```ts
 * note.startsWith(`${TREE_HEAD_LINE}\n`); // a tree head, never a checkpoint
 * ```
 */
export const TREE_HEAD_LINE = 'keywarden.audit/tree-head/v1';
const OUTBOX_DOMAIN = utf8('keywarden-audit-outbox/v2\u0000');
/** Outbox flag: the writer waits until the entries are under a checkpoint (break-glass). */
export const FLAG_WAIT = 0x01;

/** The log's keys for its stored records: the note signer and the outbox MAC key. */
export interface RecordKeys {
  origin: string;
  signer: NoteSigner;
  mac: Uint8Array;
}

/**
 * Derives the record keys from the log's signer key string.
 *
 * @example
 * ```ts
 * const { signer, mac } = recordKeys(signerKey);
 * ```
 */
export function recordKeys(signerKey: string): RecordKeys {
  const signer = newNoteSigner(signerKey);
  const { seed, name } = parseSignerKey(signerKey);
  const mac = hkdf(sha256, seed, undefined, utf8(`keywarden audit outbox MAC v1\u0000${name}`), 32);
  seed.fill(0);
  return { origin: name, signer, mac };
}

/** A tree head: what one signed statement says about the integrated tree. */
export interface TreeHead {
  origin: string;
  size: number;
  root: Uint8Array;
}

/**
 * Signs a tree head for `size` entries with `root`.
 *
 * @example
 * ```ts
 * const note = signTreeHead(signer, edge.size, edge.root());
 * ```
 */
export function signTreeHead(signer: NoteSigner, size: number, root: Uint8Array): string {
  if (signer === null || typeof signer !== 'object' || typeof (signer as { name?: unknown }).name !== 'string') throw new InvalidInputError('signer', 'expected a NoteSigner (newNoteSigner)');
  assertInt('size', size, 0, Number.MAX_SAFE_INTEGER);
  assertBytes('root', root, HASH_SIZE);
  return signNote(`${TREE_HEAD_LINE}\n${signer.name}\n${size}\n${toBase64(root)}\n`, signer);
}

/**
 * Opens the newest signed statement about the integrated tree: a tree-head note, or a checkpoint
 * (the sequencer stores the checkpoint itself as the head of a batch it checkpoints, instead of
 * signing twice). Both must be signed by `verifier` (the log key); anything else is
 * AuditCorruptError naming what is wrong.
 *
 * @example
 * ```ts
 * const { size, root } = openTreeHead(headNote, newNoteVerifier(verifierKey));
 * ```
 */
export function openTreeHead(note: string, verifier: NoteVerifier): TreeHead {
  let text: string;
  try {
    text = openNote(note, [verifier]).text;
  } catch (cause) {
    throw new AuditCorruptError(`the stored tree head is not signed by this log's key (${(cause as Error).message})`);
  }
  if (!text.startsWith(`${TREE_HEAD_LINE}\n`)) {
    try {
      const cp = openCheckpoint(note, verifier, verifier.name).checkpoint;
      return { origin: cp.origin, size: cp.size, root: cp.rootHash };
    } catch (cause) {
      throw new AuditCorruptError(`the stored tree head is malformed (${(cause as Error).message})`);
    }
  }
  const lines = text.split('\n');
  const root = lines[3] === undefined ? null : fromBase64(lines[3]);
  if (lines.length !== 5 || lines[1] !== verifier.name || !/^(0|[1-9][0-9]{0,15})$/.test(lines[2]!) || lines[4] !== '' || root === null || root.length !== HASH_SIZE) {
    throw new AuditCorruptError('the stored tree head is malformed');
  }
  const size = Number(lines[2]);
  if (!Number.isSafeInteger(size)) throw new AuditCorruptError('the stored tree head is malformed');
  return { origin: lines[1], size, root };
}

function outboxMac(key: Uint8Array, flags: number, body: Uint8Array): Uint8Array {
  return hmacSha256(key, OUTBOX_DOMAIN, Uint8Array.of(flags), body);
}

/** Bytes of an outbox record id: producer (16), counter (u64), sealing time (u64). */
export const RECORD_ID_SIZE = 32;
/** Bytes of a producer id. */
export const PRODUCER_ID_SIZE = 16;

/**
 * Who sealed an outbox record, which of its records it is, and when: what the sequencer's
 * replay guard remembers (replay-guard.ts).
 */
export interface OutboxId {
  /** The producing instance's random id (16 bytes). */
  producer: Uint8Array;
  /** The producer's record counter: 0, 1, 2, … */
  counter: number;
  /** Sealing time, ms since the epoch; never smaller than that of a lower counter of the same producer. */
  time: number;
}

/**
 * The ids of one producing instance (one AuditLog): a random producer id, a counter, and a
 * sealing time that never goes back even when the wall clock does.
 *
 * @example
 * ```ts
 * const producer = new OutboxProducer();
 * const record = sealOutboxRecord(keys.mac, entries, false, producer.next());
 * ```
 */
export class OutboxProducer {
  readonly id: Uint8Array = randomBytes(PRODUCER_ID_SIZE);
  #counter = 0;
  #time = 0;

  /** The counter the next record will get. */
  get nextCounter(): number {
    return this.#counter;
  }

  /** The next record id, sealed at `now` (or the last time, if the clock went back). */
  next(now: number = Date.now()): OutboxId {
    this.#time = Math.max(this.#time, Math.floor(now));
    return { producer: this.id, counter: this.#counter++, time: this.#time };
  }
}

function writeU64(out: DataView, at: number, v: number): void {
  out.setUint32(at, Math.floor(v / 2 ** 32));
  out.setUint32(at + 4, v >>> 0);
}

/** The 32-byte encoding of a record id. */
export function encodeOutboxId(id: OutboxId): Uint8Array {
  const out = new Uint8Array(RECORD_ID_SIZE);
  out.set(id.producer.subarray(0, PRODUCER_ID_SIZE), 0);
  const v = new DataView(out.buffer);
  writeU64(v, 16, id.counter);
  writeU64(v, 24, id.time);
  return out;
}

/** A record id from its encoding (the first 32 bytes of `body`), or undefined if a field is not a safe integer. */
export function decodeOutboxId(body: Uint8Array): OutboxId | undefined {
  if (body.length < RECORD_ID_SIZE) return undefined;
  const v = new DataView(body.buffer, body.byteOffset, RECORD_ID_SIZE);
  const counter = v.getUint32(16) * 2 ** 32 + v.getUint32(20);
  const time = v.getUint32(24) * 2 ** 32 + v.getUint32(28);
  if (!Number.isSafeInteger(counter) || !Number.isSafeInteger(time)) return undefined;
  return { producer: body.slice(0, PRODUCER_ID_SIZE), counter, time };
}

/** An outbox record as stored. */
export interface OutboxRecord {
  /** The record id (32 bytes, {@link encodeOutboxId}), then the entries as a tlog-tiles entry bundle. */
  bundle: Uint8Array;
  flags: number;
  mac: Uint8Array;
}

/**
 * Seals entries into an outbox record with id `id` (from the writer's {@link OutboxProducer}).
 *
 * @example
 * ```ts
 * const record = sealOutboxRecord(keys.mac, [encodeEntry(event)], false, producer.next());
 * ```
 */
export function sealOutboxRecord(key: Uint8Array, entries: readonly Uint8Array[], wait: boolean, id: OutboxId): OutboxRecord {
  const bundle = encodeBundle(entries);
  const body = new Uint8Array(RECORD_ID_SIZE + bundle.length);
  body.set(encodeOutboxId(id), 0);
  body.set(bundle, RECORD_ID_SIZE);
  const flags = wait ? FLAG_WAIT : 0;
  return { bundle: body, flags, mac: outboxMac(key, flags, body) };
}

/**
 * The entries and id of an outbox record whose MAC verifies (constant-time compare); undefined
 * otherwise (a forged or damaged record, or one of the unreleased v1 layout without an id). An
 * empty record is valid only when it waits: it is another instance's request for a checkpoint.
 *
 * @example
 * ```ts
 * const opened = openOutboxRecord(keys.mac, row.bundle, row.flags, row.mac) ?? quarantine(row);
 * ```
 */
export function openOutboxRecord(key: Uint8Array, body: Uint8Array, flags: number, mac: Uint8Array): { entries: Uint8Array[]; id: OutboxId } | undefined {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff || !(mac instanceof Uint8Array)) return undefined;
  if (!equalBytes(outboxMac(key, flags, body), mac)) return undefined;
  const id = decodeOutboxId(body);
  const entries = decodeBundle(body.subarray(RECORD_ID_SIZE));
  if (id === undefined || entries === undefined) return undefined;
  return entries.length > 0 || (flags & FLAG_WAIT) !== 0 ? { entries, id } : undefined;
}

const RECEIPT_DOMAIN = utf8('keywarden-audit-receipt/v1\u0000');

/**
 * The sequencer's MAC over a receipt (docs/AUDIT.md §4.2): where a waiting record's entries
 * landed (`index`, `count`), bound to that record's own MAC, under the outbox MAC key. A record
 * without entries (a `flush()` or `checkpoint()` request) has nothing an inclusion proof could
 * check, so its writer trusts a receipt read from the store only with this MAC: someone who can
 * write the store but holds no log key cannot make one, nor move a genuine one to another record.
 *
 * @example
 * ```ts
 * const mac = receiptMac(keys.mac, index, 0, record.mac); // stored beside the receipt
 * equalBytes(receiptMac(keys.mac, at.index, at.count, record.mac), at.mac); // the writer's check
 * ```
 */
export function receiptMac(key: Uint8Array, index: number, count: number, recordMac: Uint8Array): Uint8Array {
  const at = new Uint8Array(16);
  const view = new DataView(at.buffer);
  view.setBigUint64(0, BigInt(index));
  view.setBigUint64(8, BigInt(count));
  return hmacSha256(key, RECEIPT_DOMAIN, at, recordMac);
}
