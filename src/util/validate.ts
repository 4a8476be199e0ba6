/**
 * Small validators used at every public entry point. Each names the parameter it checks and
 * throws {@link InvalidInputError} before anything is written. Messages describe sizes and types,
 * never contents, so no secret can end up in an error.
 */
import { InvalidInputError } from '../errors.js';

/** Longest conversation id accepted, in UTF-8 bytes (docs/FORMAT.md §3: encoded with a u16 length). */
export const MAX_CONVERSATION_ID_BYTES = 256;
/** Longest caller `aad` accepted, in bytes. */
export const MAX_AAD_BYTES = 64 * 1024;
/** Longest plaintext accepted by one `encrypt`, in bytes (well under every suite's own limit). */
export const MAX_PLAINTEXT_BYTES = 64 * 1024 * 1024;

const encoder = new TextEncoder();

// The engine's own accessors of typed arrays (%TypedArray%.prototype): they read a view's internal
// slots, so neither a subclass's getters, an instance's own properties nor a Proxy can answer for
// them. A Proxy, a DataView or a look-alike object has no such slots: the tag is undefined.
const TYPED_ARRAY = Object.getPrototypeOf(Uint8Array.prototype) as object;
// eslint-disable-next-line @typescript-eslint/unbound-method -- the getters are only ever called with .call(view)
const accessor = (key: PropertyKey) => Object.getOwnPropertyDescriptor(TYPED_ARRAY, key)!.get! as (this: unknown) => unknown;
const TAG = accessor(Symbol.toStringTag);
const BUFFER = accessor('buffer') as (this: Uint8Array) => ArrayBufferLike;
const OFFSET = accessor('byteOffset') as (this: Uint8Array) => number;
const LENGTH = accessor('length') as (this: Uint8Array) => number;
const HAS_BUFFER = typeof Buffer === 'function';
const PLAIN = [Uint8Array.prototype, ...(HAS_BUFFER ? [Buffer.prototype] : [])];

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (isBytes(value)) return `Uint8Array of ${LENGTH.call(value)} bytes`;
  return typeof value;
}

/**
 * True for what the engine says is a Uint8Array: a Buffer, a subclass, one of another realm
 * (node:vm, a worker's structured clone). False for a Proxy, a DataView, a Uint8ClampedArray or
 * any object that only claims the name.
 */
export function isBytes(value: unknown): value is Uint8Array {
  return TAG.call(value) === 'Uint8Array';
}

/**
 * The caller's bytes (checked with {@link isBytes}) as a plain Uint8Array over the same memory,
 * its bounds read from the view's internal slots. From here on no code of the caller's runs when
 * the library reads them: a subclass's `length` or `subarray` cannot lie about a limit, or run
 * in the middle of a seal, after its nonce is drawn (the input-views test). Always a new view
 * (~25 ns): for what is sealed.
 */
export function ownBytes(value: Uint8Array): Uint8Array {
  const buffer = BUFFER.call(value);
  const length = LENGTH.call(value);
  // A detached buffer reads as length 0, and a view on it cannot be made. On Node the view is
  // a Buffer: node:crypto takes Buffers on a faster path than other views.
  if (length === 0) return new Uint8Array(0);
  return HAS_BUFFER ? Buffer.from(buffer, OFFSET.call(value), length) : new Uint8Array(buffer, OFFSET.call(value), length);
}

/**
 * A copy of the caller's bytes (checked with {@link isBytes}) in a new buffer of the library's
 * own, for what is checked now and used after a wait (break-glass). A detached view copies as
 * empty; `new Uint8Array(view)` alone would throw a raw TypeError.
 */
export function copyBytes(value: Uint8Array): Uint8Array {
  return LENGTH.call(value) === 0 ? new Uint8Array(0) : new Uint8Array(value);
}

/**
 * {@link ownBytes} for what is opened or parsed: a Uint8Array or Buffer as given (the hot path
 * pays nothing), anything else (a subclass, another realm's) as a plain view.
 */
export function plainBytes(value: Uint8Array): Uint8Array {
  const proto: unknown = Object.getPrototypeOf(value);
  // An instance's own `length` (or bounds, or `subarray`) shadows the engine's accessor as a
  // subclass's getter does: an aad that said `length: 0` passed the limit and was left out of the
  // associated data (outside review 7, test/review7-format-own-length-view.test.ts).
  return (proto === PLAIN[0] || proto === PLAIN[1]) && !shadowed(value) ? value : ownBytes(value);
}

/** True when the view has its own `length`, bounds or `subarray`: what the library reads from a view kept as given. */
function shadowed(v: Uint8Array): boolean {
  return Object.hasOwn(v, 'length') || Object.hasOwn(v, 'byteLength') || Object.hasOwn(v, 'byteOffset') || Object.hasOwn(v, 'buffer') || Object.hasOwn(v, 'subarray');
}

// ES2024: the accessors that say whether a buffer can change size (undefined where they do not exist).
// eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(buffer)
const RESIZABLE = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'resizable')?.get as ((this: unknown) => boolean) | undefined;
// eslint-disable-next-line @typescript-eslint/unbound-method -- only ever called with .call(buffer)
const GROWABLE = typeof SharedArrayBuffer === 'function' ? (Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'growable')?.get as ((this: unknown) => boolean) | undefined) : undefined;

/**
 * True when the bytes (checked with {@link isBytes}) are over a buffer that can change size — a
 * resizable ArrayBuffer or a growable SharedArrayBuffer — so that a view of them made without a
 * length grows and shrinks with it, past any limit checked before.
 */
export function resizableBytes(value: Uint8Array): boolean {
  const buffer = BUFFER.call(value);
  // Each getter throws for the other kind of buffer (whatever its realm): no instanceof.
  try {
    return RESIZABLE?.call(buffer) === true;
  } catch {
    try {
      return GROWABLE?.call(buffer) === true;
    } catch {
      return false;
    }
  }
}

/** A caller's buffer that changed size (transferred away, resized) while the library waited for its key. */
export function changedWhileWaiting(param: string): InvalidInputError {
  return new InvalidInputError(param, 'changed size while its key was loading (a buffer transferred away or resized): nothing was sealed');
}

/** Asserts `value` is a Uint8Array (a Buffer is one), optionally of an exact length. */
export function assertBytes(param: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!isBytes(value)) throw new InvalidInputError(param, `expected Uint8Array, got ${describe(value)}`);
  // The engine's length, not the object's: a subclass's getter can say anything (a 16-byte key
  // that said 32 became an AES-128 master key: outside review, 2026-12-01).
  const n = LENGTH.call(value);
  if (length !== undefined && n !== length) throw new InvalidInputError(param, `expected Uint8Array of ${length} bytes, got ${n}`);
}

/** Asserts `value` is a Uint8Array of at most `max` bytes. */
export function assertBytesMax(param: string, value: unknown, max: number): asserts value is Uint8Array {
  assertBytes(param, value);
  const n = LENGTH.call(value);
  if (n > max) throw new InvalidInputError(param, `expected at most ${max} bytes, got ${n}`);
}

/**
 * Validates a conversation id and returns its UTF-8 encoding. Ids are non-empty, well-formed
 * Unicode strings (a lone surrogate would encode to U+FFFD and let two ids collide) of at most
 * {@link MAX_CONVERSATION_ID_BYTES} UTF-8 bytes.
 */
export function conversationIdBytes(value: unknown, param = 'conversationId'): Uint8Array {
  if (typeof value !== 'string') throw new InvalidInputError(param, `expected string, got ${describe(value)}`);
  if (value.length === 0) throw new InvalidInputError(param, 'expected a non-empty string');
  if (!value.isWellFormed()) throw new InvalidInputError(param, 'expected well-formed Unicode (lone surrogate)');
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes: skip the encode for obviously long ids.
  if (value.length > MAX_CONVERSATION_ID_BYTES) {
    throw new InvalidInputError(param, `expected at most ${MAX_CONVERSATION_ID_BYTES} UTF-8 bytes, got ${value.length}+`);
  }
  const bytes = encoder.encode(value);
  if (bytes.length > MAX_CONVERSATION_ID_BYTES) {
    throw new InvalidInputError(param, `expected at most ${MAX_CONVERSATION_ID_BYTES} UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/** Asserts a conversation id without keeping its encoding. */
export function assertConversationId(value: unknown, param = 'conversationId'): asserts value is string {
  conversationIdBytes(value, param);
}

/** True for a non-null, non-array object. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Where a document (policy, token request) breaks its shape, and what was expected there. */
export type FieldProblem = { path: string; expected: string } | undefined;

/** `a.b`, or `b` at the top level (so parameters can be named as the caller wrote them). */
export function fieldPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * The first unknown or missing field of `v` (own properties only), or undefined. For parsers that
 * report their own error (a token's ERR_BG_MALFORMED); {@link fields} throws ERR_INVALID_INPUT.
 */
export function fieldsProblem(path: string, v: Record<string, unknown>, required: readonly string[], optional: readonly string[] = []): FieldProblem {
  for (const k of Object.keys(v)) if (!required.includes(k) && !optional.includes(k)) return { path: fieldPath(path, k), expected: 'no such field' };
  for (const k of required) if (!Object.hasOwn(v, k)) return { path: fieldPath(path, k), expected: 'a value (missing field)' };
  return undefined;
}

/**
 * Checks that `v` is an object with exactly the `required` fields and at most the `optional`
 * ones, throwing {@link InvalidInputError} naming the first that is not; returns a snapshot of
 * its own properties on a null prototype (an absent optional field is undefined, whatever
 * `Object.prototype` holds).
 */
export function fields(param: string, v: unknown, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isPlainObject(v)) throw new InvalidInputError(param, 'expected an object');
  const p = fieldsProblem(param, v, required, optional);
  if (p) throw new InvalidInputError(p.path, p.expected === 'no such field' ? 'unknown field' : 'missing field');
  return ownOptions(param, v, [...required, ...optional]);
}

/** Asserts `value` is a plain object whose keys are all in `allowed` (rejects unknown options). */
export function assertOptions(param: string, value: unknown, allowed: readonly string[]): void {
  ownOptions(param, value as object | undefined, allowed);
}

/**
 * Validates an options object and returns a snapshot of its OWN properties, on a null prototype:
 * an option the caller did not set reads as undefined even when `Object.prototype` has been
 * polluted (an attacker's `Object.prototype.aead` must never be taken for the caller's AEAD).
 * Every public entry that takes options reads them through this (or {@link own}).
 */
export function ownOptions<T extends object>(param: string, value: T | undefined, allowed: readonly string[]): Partial<T> {
  const out = Object.create(null) as Partial<T>;
  if (value === undefined) return out;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(param, `expected an options object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new InvalidInputError(`${param}.${key}`, `unknown option (allowed: ${allowed.join(', ') || 'none'})`);
    }
    (out as Record<string, unknown>)[key] = (value as Record<string, unknown>)[key];
  }
  return out;
}

/** `obj[key]` if `obj` has it as an own property, else undefined (never the prototype's). */
export function own(obj: object, key: string): unknown {
  return Object.hasOwn(obj, key) ? (obj as Record<string, unknown>)[key] : undefined;
}

/** Asserts an integer in [min, max]. */
export function assertInt(param: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidInputError(param, `expected an integer in [${min}, ${max}], got ${typeof value === 'number' ? value : describe(value)}`);
  }
}

/** Asserts a non-empty string of at most `max` characters. */
export function assertString(param: string, value: unknown, max = 2048): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new InvalidInputError(param, `expected a non-empty string of at most ${max} characters, got ${describe(value)}`);
  }
}
