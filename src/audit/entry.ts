/**
 * Audit log entries (docs/AUDIT.md §2): `0x01 || RFC 8785 canonical JSON`, a fixed field set per
 * event type, parsed strictly — anything that does not re-encode to exactly the same bytes
 * (duplicate or unknown fields, other key order, whitespace, escapes, number forms, trailing
 * bytes) is rejected, as is invalid UTF-8. Identifiers people could be harmed by (conversation
 * and case ids) appear only as keyed HMACs ({@link AuditIdHasher}).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { AuditEntryError, InvalidInputError } from '../errors.js';
import { toHex, utf8 } from '../util/bytes.js';
import { hmacSha256 } from '../util/digest.js';
import { canonicalJson } from '../util/json.js';
import { VERSION } from '../version.js';
import { isCanonicalTime } from '../util/time.js';
import { fillNonce, randomBytes } from '../util/random.js';
import { assertBytes, copyBytes } from '../util/validate.js';

/** Entry format version byte. */
export const ENTRY_V1 = 0x01;
/** Largest entry accepted, in bytes: what a C2SP tlog-tiles entry bundle can hold (uint16 length). */
export const MAX_ENTRY_BYTES = 0xffff;

/** Every event type the log records. */
export type AuditEventType =
  | 'key.created'
  | 'key.rotated'
  | 'key.shredded'
  | 'key.rewrapped'
  | 'branch.created'
  | 'branch.rotated'
  | 'branch.shredded'
  | 'branch.rewrapped'
  | 'breakglass.access'
  | 'breakglass.outcome'
  | 'breakglass.refused'
  | 'audit.repaired';

type Kind = 'string' | 'hmac' | 'digest' | 'uint' | 'time' | 'string[]' | 'hmac[]' | 'uint[]' | 'hmac?' | 'scope' | 'keyref[]' | 'branchref[]' | `enum:${string}`;

// Fields common to every entry, then the fixed set per type (docs/AUDIT.md §2.2).
const COMMON: Record<string, Kind> = { id: 'string', type: 'string', time: 'time', actor: 'string', lib: 'string' };
const SCHEMAS: Record<AuditEventType, Record<string, Kind>> = {
  'key.created': { conversation: 'hmac', version: 'uint', masterKeyId: 'string', suite: 'string' },
  'key.rotated': { conversation: 'hmac', fromVersion: 'uint', version: 'uint', masterKeyId: 'string' },
  'key.shredded': { conversation: 'hmac', versions: 'uint[]', scope: 'enum:version|conversation', reason: 'enum:request|retention|minimum-version' },
  // A batch of re-wrapped key versions (docs/KEYS.md §6): which keys, from which master keys, to which.
  'key.rewrapped': { keys: 'keyref[]', fromMasterKeyIds: 'string[]', masterKeyId: 'string' },
  // Branch keys (docs/KEYS.md §9): ids in clear — they name tenants or shards, as CloudTrail does.
  'branch.created': { branch: 'string', version: 'uint', masterKeyId: 'string', suite: 'string' },
  'branch.rotated': { branch: 'string', fromVersion: 'uint', version: 'uint', masterKeyId: 'string' },
  'branch.shredded': { branch: 'string', versions: 'uint[]', scope: 'enum:version|conversation', reason: 'enum:request|retention|minimum-version' },
  'branch.rewrapped': { branches: 'branchref[]', fromMasterKeyIds: 'string[]', masterKeyId: 'string' },
  'breakglass.access': { token: 'string', reason: 'string', approvers: 'string[]', requester: 'string', case: 'hmac?', scope: 'scope' },
  'breakglass.outcome': { token: 'string', intent: 'string', outcome: 'enum:released|failed|withheld', messages: 'uint', ciphertexts: 'digest' },
  'breakglass.refused': { token: 'string', reason: 'string', refusal: 'string' },
  'audit.repaired': { from: 'uint', dropped: 'uint', digest: 'digest' },
};
const KEYREF: Record<string, Kind> = { conversation: 'hmac', version: 'uint' };
const BRANCHREF: Record<string, Kind> = { branch: 'string', version: 'uint' };
const SCOPE: Record<string, Kind> = { conversations: 'hmac[]', from: 'time', to: 'time', maxMessages: 'uint', operation: 'string' };

/** The fields of a `breakglass.access` scope. */
export interface AuditScope {
  conversations: string[];
  from: string;
  to: string;
  maxMessages: number;
  operation: string;
}

/** A decoded entry: the common fields plus its type's fields. */
export interface AuditEvent {
  id: string;
  type: AuditEventType;
  time: string;
  actor: string;
  lib: string;
  [field: string]: unknown;
}


const HEX64 = /^[0-9a-f]{64}$/;

// The validators run on every event the library makes and again when it is encoded: helpers and
// the field lists are built once, not per call (issue #14: per-event CPU is the sequencer's budget).
function fail(path: string, what: string): never {
  throw new AuditEntryError(`${path}: expected ${what}`);
}
const isStr = (x: unknown): boolean => typeof x === 'string' && x.length > 0 && x.length <= 1024 && x.isWellFormed();
const isHex64 = (x: unknown): boolean => typeof x === 'string' && HEX64.test(x);
const isUint = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;

/** A schema as lists: the field names (for the unknown-field check) and [name, kind] pairs. */
interface Fields {
  names: ReadonlySet<string>;
  pairs: readonly (readonly [string, Kind])[];
}
const fields = (schema: Record<string, Kind>): Fields => ({ names: new Set(Object.keys(schema)), pairs: Object.entries(schema) });

function checkValue(path: string, kind: Kind, v: unknown): void {
  switch (kind) {
    case 'string': if (!isStr(v)) fail(path, 'a non-empty well-formed string of at most 1024 characters'); return;
    case 'hmac': case 'digest': if (!isHex64(v)) fail(path, '64 lower-case hex digits'); return;
    case 'hmac?': if (v !== null && !isHex64(v)) fail(path, 'null or 64 lower-case hex digits'); return;
    case 'uint': if (!isUint(v)) fail(path, 'a non-negative integer'); return;
    // RFC 3339, UTC, millisecond precision: one spelling per instant (util/time.ts).
    case 'time': if (!isCanonicalTime(v)) fail(path, 'an RFC 3339 UTC time with milliseconds'); return;
    case 'string[]': if (!Array.isArray(v) || !v.every(isStr)) fail(path, 'an array of non-empty strings'); return;
    case 'hmac[]': if (!Array.isArray(v) || !v.every(isHex64)) fail(path, 'an array of 64-hex-digit HMACs'); return;
    case 'uint[]': if (!Array.isArray(v) || !v.every(isUint)) fail(path, 'an array of non-negative integers'); return;
    case 'scope': checkObject(path, v, SCOPE_FIELDS); return;
    case 'keyref[]':
      if (!Array.isArray(v)) fail(path, 'an array of { conversation, version }');
      for (let i = 0; i < v.length; i++) checkObject(`${path}[${i}]`, v[i], KEYREF_FIELDS);
      return;
    case 'branchref[]':
      if (!Array.isArray(v)) fail(path, 'an array of { branch, version }');
      for (let i = 0; i < v.length; i++) checkObject(`${path}[${i}]`, v[i], BRANCHREF_FIELDS);
      return;
    default: {
      const allowed = kind.slice(5).split('|');
      if (typeof v !== 'string' || !allowed.includes(v)) fail(path, `one of ${allowed.join(', ')}`);
    }
  }
}

function checkObject(path: string, v: unknown, schema: Fields): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AuditEntryError(`${path}: expected an object`);
  for (const k of Object.keys(v)) if (!schema.names.has(k)) throw new AuditEntryError(`${path}.${k}: unknown field`);
  for (const [k, kind] of schema.pairs) {
    if (!(k in v)) throw new AuditEntryError(`${path}.${k}: missing field`);
    checkValue(`${path}.${k}`, kind, (v as Record<string, unknown>)[k]);
  }
}

const SCOPE_FIELDS = fields(SCOPE);
const KEYREF_FIELDS = fields(KEYREF);
const BRANCHREF_FIELDS = fields(BRANCHREF);
/** Each type's full field set (common fields first), built once. */
const EVENT_FIELDS = new Map(Object.entries(SCHEMAS).map(([type, schema]) => [type, fields({ ...COMMON, ...schema })]));

/** Validates an event against its type's fixed field set; throws {@link AuditEntryError}. */
export function validateEvent(event: unknown): asserts event is AuditEvent {
  if (event === null || typeof event !== 'object' || Array.isArray(event)) throw new AuditEntryError('entry: expected an object');
  const type = (event as { type?: unknown }).type;
  const schema = typeof type === 'string' ? EVENT_FIELDS.get(type) : undefined;
  if (schema === undefined) throw new AuditEntryError(`entry.type: unknown event type`);
  checkObject('entry', event, schema);
}

/** Who records the events the library writes, and its clock. */
export interface EventSource {
  /** Recorded in every entry (e.g. the service name). */
  actor: string;
  now: () => Date;
}

const ID = new Uint8Array(16);
/**
 * A fresh 128-bit event id. Ids are public (they are in the log), so they come from the pooled
 * CSPRNG that serves nonces (util/random.ts) rather than one getRandomValues call per event.
 */
function newEventId(): string {
  fillNonce(ID, 0, 16);
  return toHex(ID);
}

/**
 * Builds an event the library records: a fresh 128-bit id, `source`'s time and actor, the
 * library's version, then the type's own `fields` — checked against the type's fixed field set
 * here, so a mistake fails when the event is made (ERR_AUDIT_ENTRY), not at append.
 *
 * @example
 * ```ts
 * const e = newEvent('key.rotated', { actor: 'svc-dm', now: () => new Date() },
 *   { conversation: ids.conversation('dm:alice:bob'), fromVersion: 1, version: 2, masterKeyId });
 * ```
 */
export function newEvent(type: AuditEventType, source: EventSource, fields: Record<string, unknown>): AuditEvent {
  const event: Record<string, unknown> = { ...fields, id: newEventId(), type, time: source.now().toISOString(), actor: source.actor, lib: `keywarden/${VERSION}` };
  validateEvent(event);
  Object.freeze(event);
  VALIDATED.add(event);
  return event;
}

/**
 * Events built (and validated) by {@link newEvent}, frozen: encoding them does not validate them
 * a second time (the library makes one per key change, on the new-conversation path).
 */
const VALIDATED = new WeakSet<object>();

/**
 * Encodes a validated event: `0x01 || canonical JSON`.
 *
 * @example
 * ```ts
 * const bytes = encodeEntry({ id, type: 'key.rotated', time: new Date().toISOString(), actor: 'svc-dm', lib: 'keywarden/0.1.0',
 *   conversation: ids.conversation('dm:alice:bob'), fromVersion: 1, version: 2, masterKeyId });
 * ```
 */
export function encodeEntry(event: AuditEvent): Uint8Array {
  if (!VALIDATED.has(event)) validateEvent(event);
  const json = utf8(canonicalJson(event));
  if (json.length + 1 > MAX_ENTRY_BYTES) throw new AuditEntryError(`entry: larger than ${MAX_ENTRY_BYTES} bytes`);
  const out = new Uint8Array(json.length + 1);
  out[0] = ENTRY_V1;
  out.set(json, 1);
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses entry bytes strictly; the only accepted input is exactly `encodeEntry(event)`. */
export function decodeEntry(bytes: Uint8Array): AuditEvent {
  assertBytes('entry', bytes);
  if (bytes.length < 2 || bytes[0] !== ENTRY_V1) throw new AuditEntryError('entry: unknown format version');
  if (bytes.length > MAX_ENTRY_BYTES) throw new AuditEntryError('entry: too large');
  let text: string;
  let value: unknown;
  try {
    text = strictUtf8.decode(bytes.subarray(1));
    value = JSON.parse(text);
  } catch {
    throw new AuditEntryError('entry: not UTF-8 JSON');
  }
  validateEvent(value);
  // Canonical form check: catches duplicate keys (JSON.parse keeps one), key order,
  // whitespace, escapes and number spellings, and trailing bytes.
  if (canonicalJson(value) !== text) throw new AuditEntryError('entry: not in canonical form');
  return value;
}

/**
 * Keyed identifiers: HMAC-SHA-256 under the audit key, domain-separated by kind, so the log can
 * be handed to auditors without revealing who talked to whom; holders of the key can look an
 * id up by computing the same HMAC.
 *
 * @example
 * ```ts
 * const ids = new AuditIdHasher(auditKey);
 * ids.conversation('dm:alice:bob'); // 64 hex digits
 * ```
 */
export class AuditIdHasher {
  readonly #key: Uint8Array;
  /** @param auditKey 32 secret bytes (see {@link AuditIdHasher.generateKey}); copied. */
  constructor(auditKey: Uint8Array) {
    assertBytes('auditKey', auditKey, 32);
    this.#key = copyBytes(auditKey); // the engine's copy, not the caller's iterator
  }

  /**
   * A new random 256-bit audit key (CSPRNG). Keep it with your other secrets: whoever holds it
   * can tell which conversation or case an entry is about, and nobody else can.
   *
   * @example
   * ```ts
   * const auditKey = AuditIdHasher.generateKey(); // store, e.g. base64, in your secret manager
   * const ids = new AuditIdHasher(auditKey);
   * ```
   */
  static generateKey(): Uint8Array {
    return randomBytes(32);
  }
  /** HMAC of a conversation id. */
  conversation(id: string): string {
    return this.#mac('conversation', id);
  }
  /** HMAC of a case id (legal request, abuse report). */
  case(id: string): string {
    return this.#mac('case', id);
  }
  #mac(kind: string, id: string): string {
    if (typeof id !== 'string' || id.length === 0 || !id.isWellFormed()) throw new AuditEntryError(`${kind} id: expected a non-empty well-formed string`);
    return toHex(hmacSha256(this.#key, utf8(`keywarden-audit-id:${kind}\u0000${id}`)));
  }
}

/**
 * Digest of exactly which ciphertexts a break-glass access decrypted: SHA-256 over the
 * concatenation of SHA-256(ciphertext) for each, in the order they were opened.
 */
export function ciphertextsDigest(ciphertexts: readonly Uint8Array[]): string {
  if (!Array.isArray(ciphertexts)) throw new InvalidInputError('ciphertexts', 'expected an array of Uint8Array');
  // Every index, holes included (forEach skips a hole that the loop below then read: a raw
  // TypeError; outside review 6, test/review6-parse-sparse-arrays.test.ts).
  for (let i = 0; i < ciphertexts.length; i++) assertBytes(`ciphertexts[${i}]`, ciphertexts[i]);
  const h = sha256.create();
  for (const ct of ciphertexts) h.update(sha256(ct));
  return toHex(h.digest());
}
