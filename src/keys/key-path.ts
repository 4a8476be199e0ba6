/**
 * The one key path, shared by Keywarden (through the cache) and BreakGlass (which never caches):
 * find a version's record, check it, unwrap its data key, and open a message with it. Every
 * failure leaves here as keywarden's own error — store failures as ERR_STORE_FAILED, master key
 * failures as ERR_KMS_* — and a provider that returns anything but 32 bytes is refused, so the
 * two callers cannot drift apart in what they check (issue #10 found BreakGlass unwrapping on
 * its own, skipping the length and suite checks and mislabelling KMS failures).
 */
import type { AeadImpl } from '../aead/types.js';
import { KeyShreddedError, KeywardenError, KmsError, StoreError } from '../errors.js';
import { type SuiteInfo, suiteByName } from '../format/suites.js';
import { type AadBuilder, FORMAT_V2, HEADER_LENGTH, HEADER_LENGTH_V2, headerVersion } from '../format/wire.js';
import type { GeneratedDataKey, MasterKeyProvider } from '../kms/provider.js';
import type { KeyStore } from '../store/types.js';
import { clean, isBytesOf, readU32 } from '../util/bytes.js';
import { withDeadline } from '../util/deadline.js';
import { type KeyRecord, type KeySubject, wrappingContext } from './records.js';

/** A stored version whose suite this build knows. */
export interface CheckedRecord {
  record: KeyRecord;
  suite: SuiteInfo;
}

/** keywarden's own deadlines on calls that leave the process (KeywardenOptions.timeouts). */
export interface Deadlines {
  /** Milliseconds a master key (KMS) call may take. */
  kmsMs: number;
  /** Milliseconds a key store call may take. */
  storeMs: number;
}

/** Defaults: generous for a healthy KMS or database (with the AWS SDK's own retries), finite for a hung one. */
export const DEFAULT_DEADLINES: Readonly<Deadlines> = Object.freeze({ kmsMs: 10_000, storeMs: 10_000 });

/**
 * Runs a key store call under the store deadline, mapping anything but keywarden's own errors to
 * ERR_STORE_FAILED; a call past its deadline is ERR_STORE_FAILED, retryable. `owned` is wiped on
 * failure.
 */
export async function storeCall<T>(op: string, fn: () => Promise<T>, owned?: Uint8Array, deadlines: Deadlines = DEFAULT_DEADLINES): Promise<T> {
  try {
    return await withDeadline(fn, deadlines.storeMs, () => new StoreError(`key store ${op} did not complete within ${deadlines.storeMs} ms`, undefined, true));
  } catch (err) {
    if (owned) clean(owned);
    throw err instanceof KeywardenError ? err : new StoreError(`key store ${op} failed`, err);
  }
}

/** Runs a master key call under the KMS deadline: past it, ERR_KMS_UNAVAILABLE (retryable), and `signal` aborts the call. */
export function kmsCall<T>(op: string, fn: (signal: AbortSignal) => Promise<T>, deadlines: Deadlines = DEFAULT_DEADLINES, onLate?: (value: T) => void): Promise<T> {
  return withDeadline(fn, deadlines.kmsMs, () => new KmsError('ERR_KMS_UNAVAILABLE', `master key ${op} did not complete within ${deadlines.kmsMs} ms`), onLate);
}

/**
 * The record of one version, or undefined when the store has none; its suite must be known.
 * A shredded version throws ERR_KEY_SHREDDED: there is no key left to unwrap (docs/KEYS.md).
 */
export async function readVersion(store: KeyStore, conversationId: string, version: number, deadlines?: Deadlines): Promise<CheckedRecord | undefined> {
  const record = await storeCall('read', () => store.getVersion(conversationId, version), undefined, deadlines);
  if (record === undefined) return undefined;
  if (record.state === 'shredded') throw shreddedError(record.version);
  return checkRecord(record);
}

/** The error for a message under a shredded version. */
export function shreddedError(version: number): KeyShreddedError {
  return new KeyShreddedError(`key version ${version} of this conversation was shredded`);
}

/** Checks a record read from a store: a suite this build knows, and the version asked for. */
export function checkRecord(record: KeyRecord): CheckedRecord {
  const suite = suiteByName(record.suite);
  if (!suite) throw new StoreError('key record names an unknown suite');
  return { record, suite };
}

/**
 * Generates a data key under `context` (the master key's GenerateDataKey), under the KMS deadline;
 * a provider that returns anything but 32 plaintext bytes, wrapped bytes and a key id is refused.
 * The caller owns `plaintextKey` and wipes it.
 */
export async function generateKey(masterKey: MasterKeyProvider, context: Record<string, string>, deadlines?: Deadlines): Promise<GeneratedDataKey> {
  let gen: unknown;
  try {
    gen = await kmsCall('generate', (signal) => masterKey.generateDataKey(context, { signal }), deadlines, (late) => wipeLate(late?.plaintextKey));
  } catch (err) {
    throw err instanceof KeywardenError ? err : new KmsError('ERR_KMS_FAILED', 'master key provider failed to generate a data key', err);
  }
  const g = gen as Partial<GeneratedDataKey> | undefined;
  if (!isBytesOf(g?.plaintextKey, 32) || !(g.wrappedKey instanceof Uint8Array) || typeof g.masterKeyId !== 'string') {
    wipeLate(g?.plaintextKey);
    throw new KmsError('ERR_KMS_FAILED', 'master key provider returned a malformed data key');
  }
  return g as GeneratedDataKey;
}

/**
 * Unwraps a record's data key through the master key, under the record's encryption context
 * (conversation and version). The caller owns the returned 32 bytes and wipes them.
 */
export async function unwrapRecord(masterKey: MasterKeyProvider, record: KeyRecord, deadlines?: Deadlines, subject?: KeySubject): Promise<Uint8Array> {
  let key: unknown; // a provider is the caller's code: check what it returns
  try {
    key = await kmsCall('unwrap', (signal) => masterKey.unwrapDataKey(record.wrappedKey, wrappingContext(subject, record.conversationId, record.version), record.masterKeyId, { signal }), deadlines, wipeLate);
  } catch (err) {
    throw err instanceof KeywardenError ? err : new KmsError('ERR_KMS_FAILED', 'master key provider failed to unwrap a data key', err);
  }
  if (!isBytesOf(key, 32)) {
    if (key instanceof Uint8Array) clean(key);
    throw new KmsError('ERR_KMS_FAILED', 'master key provider returned a malformed data key');
  }
  return key;
}

/** A key a provider returned after the deadline: nobody will use it, so it is wiped. */
function wipeLate(key: unknown): void {
  if (key instanceof Uint8Array) clean(key);
}

/** Scratch nonce buffers for opening (12 and 24 bytes), reused: opening is synchronous. */
const NONCES = [new Uint8Array(12), new Uint8Array(24)];

/**
 * Opens a v1 or v2 message with the data key of (`suite`, `version`): null for every failure,
 * including a malformed header and a ciphertext that names another suite or version than the
 * key's (the caller raises its one uniform error). `ad` builds the associated data
 * (docs/FORMAT.md §4). Reads the header in place: no object per message on the hot path.
 */
export function openMessage(
  aead: AeadImpl, ad: AadBuilder, conversationId: string, suite: SuiteInfo, version: number, key: Uint8Array,
  ct: Uint8Array, aad: Uint8Array | string,
): Uint8Array | null {
  if (ct[1] !== suite.id || headerVersion(ct) !== version) return null; // headerVersion checks the lengths
  const v2 = ct[0] === FORMAT_V2;
  const headerLength = v2 ? HEADER_LENGTH_V2 : HEADER_LENGTH;
  const data = v2 ? ad.buildV2(suite.id, version, readU32(ct, 6), conversationId, aad) : ad.build(suite.id, version, conversationId, aad);
  const nonce = NONCES[suite.nonceLength === 12 ? 0 : 1]!;
  for (let i = 0; i < nonce.length; i++) nonce[i] = ct[headerLength + i]!;
  return aead.open(suite.id, key, nonce, ct, data, headerLength + suite.nonceLength);
}
