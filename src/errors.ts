/**
 * Error hierarchy. Every error a keywarden function throws is a {@link KeywardenError} with a
 * stable string `code`; each class fixes its codes, so after {@link isKeywardenError} a
 * `switch (err.code)` narrows `err` to the class with that code. The underlying error, if any,
 * is `cause`. Messages never contain key bytes, plaintext, ciphertext or tokens.
 *
 * Errors survive the dual package: keywarden ships ESM and CommonJS copies, and an application
 * can load both (one dependency `require`s it, another `import`s it). Every error carries a
 * brand registered with `Symbol.for`, which {@link isKeywardenError} and `instanceof` on these
 * classes check, so an error thrown by one copy is recognised by the other.
 *
 * @example
 * ```ts
 * try {
 *   await kw.decrypt(conversationId, ciphertext);
 * } catch (err) {
 *   if (!isKeywardenError(err)) throw err;
 *   switch (err.code) {
 *     case 'ERR_DECRYPT_FAILED': return null;             // tampered or misplaced message
 *     case 'ERR_INVALID_INPUT': console.error(err.param); // narrowed to InvalidInputError
 *   }
 *   throw err; // err.retryable tells whether the same call may succeed later
 * }
 * ```
 * @module
 */

/** Why a break-glass request was refused (docs/BREAK-GLASS.md §4); each is also recorded in the audit log. */
export type BreakGlassErrorCode =
  | 'ERR_BG_MALFORMED'
  | 'ERR_BG_BAD_SIGNATURE'
  | 'ERR_BG_UNKNOWN_APPROVER'
  | 'ERR_BG_THRESHOLD_NOT_MET'
  | 'ERR_BG_REQUESTER_APPROVED'
  | 'ERR_BG_REQUESTER_UNVERIFIED'
  | 'ERR_BG_DUPLICATE_APPROVER'
  | 'ERR_BG_EXPIRED'
  | 'ERR_BG_NOT_YET_VALID'
  | 'ERR_BG_WRONG_AUDIENCE'
  | 'ERR_BG_WRONG_POLICY'
  | 'ERR_BG_LIFETIME'
  | 'ERR_BG_REASON_NOT_ALLOWED'
  | 'ERR_BG_OUT_OF_SCOPE'
  | 'ERR_BG_MESSAGE_LIMIT'
  | 'ERR_BG_REPLAYED';

/** Codes of errors raised by master key providers. */
export type KmsErrorCode =
  | 'ERR_KMS_ACCESS_DENIED'
  | 'ERR_KMS_KEY_UNAVAILABLE'
  | 'ERR_KMS_INVALID_CIPHERTEXT'
  | 'ERR_KMS_UNAVAILABLE'
  | 'ERR_KMS_FAILED';

/** Codes of {@link NoteError}: the signed-note, checkpoint and tlog-proof formats. */
export type NoteErrorCode =
  /** The note (or key-independent input such as note text) is not exactly the format. */
  | 'ERR_NOTE_MALFORMED'
  /** The note parsed, but no signature from a known key is on it. */
  | 'ERR_NOTE_UNVERIFIED'
  /** A signature from a known key failed to verify: the whole note is rejected. */
  | 'ERR_NOTE_INVALID_SIGNATURE'
  /** A key string, key name, signer or verifier list is invalid (wrong format, key ID, algorithm, ambiguity). */
  | 'ERR_NOTE_KEY'
  /** The note text is not a well-formed c2sp.org/tlog-checkpoint body. */
  | 'ERR_CHECKPOINT_MALFORMED'
  /** The checkpoint is from another log than the one expected. */
  | 'ERR_CHECKPOINT_ORIGIN'
  /** A c2sp.org/tlog-proof@v1 file (or a witness request body) is not exactly the format. */
  | 'ERR_PROOF_MALFORMED';

/** Every stable error code keywarden can throw. */
export type ErrorCode =
  | 'ERR_INVALID_INPUT'
  | 'ERR_DECRYPT_FAILED'
  | 'ERR_UNSUPPORTED_FORMAT'
  | 'ERR_KEY_NOT_FOUND'
  | 'ERR_KEY_SHREDDED'
  | 'ERR_KEY_LIMIT_REACHED'
  | KmsErrorCode
  | 'ERR_STORE_FAILED'
  | 'ERR_AUDIT_ENTRY'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_AUDIT_CORRUPT'
  | BreakGlassErrorCode
  | NoteErrorCode
  | 'ERR_CLOSED'
  | 'ERR_ABORTED'
  | 'ERR_INTERNAL';

// Registered symbols are shared by every copy of this module in a process (ESM and CommonJS).
const BRAND: unique symbol = Symbol.for('keywarden.error.v1') as never;
const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

/** Base class of every error keywarden throws. */
export class KeywardenError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** True when the same call may succeed if retried later (throttling, outages). */
  readonly retryable: boolean;
  /** @internal The codes instances of this class carry (undefined on the base: any code). */
  static readonly codes: readonly ErrorCode[] | undefined = undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `err instanceof KeywardenError` (or any subclass) also holds for an error from another copy
   * of keywarden (its ESM or CommonJS build): it is branded, and its code is one of the class's.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (ordinaryHasInstance.call(this, value)) return true;
    if (!isBranded(value)) return false;
    const codes = (this as { codes?: readonly string[] }).codes;
    return codes === undefined ? this === KeywardenError : codes.includes(value.code);
  }
}

function isBranded(value: unknown): value is { code: string } {
  return (
    value !== null &&
    typeof value === 'object' &&
    (value as { [BRAND]?: unknown })[BRAND] === true &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}

/**
 * Bad input to a public function: `param` names the offending parameter. Nothing was written
 * anywhere (no key generated, no store write, no KMS call).
 */
export class InvalidInputError extends KeywardenError {
  declare readonly code: 'ERR_INVALID_INPUT';
  static override readonly codes = ['ERR_INVALID_INPUT'] as const;
  /** Name of the offending parameter, e.g. `"conversationId"` or `"options.aad"`. */
  readonly param: string;
  constructor(param: string, expectation: string) {
    super('ERR_INVALID_INPUT', `${param}: ${expectation}`);
    this.param = param;
  }
}

/**
 * The single error for every failure to open a ciphertext: wrong tag, truncated or extended
 * bytes, unknown version or suite, wrong conversation, aad or key version, unknown key version.
 * Its message and code are the same in every case and it carries no `cause`, so that callers
 * (and whoever can observe them) learn nothing about which check failed.
 */
export class DecryptionError extends KeywardenError {
  declare readonly code: 'ERR_DECRYPT_FAILED';
  static override readonly codes = ['ERR_DECRYPT_FAILED'] as const;
  constructor() {
    super('ERR_DECRYPT_FAILED', 'decryption failed');
  }
}

/**
 * A ciphertext header this version of keywarden does not understand. Thrown only by
 * `inspectCiphertext`, which reads public header bytes; `decrypt` reports the same condition as
 * {@link DecryptionError} so that it is not an oracle.
 */
export class UnsupportedFormatError extends KeywardenError {
  declare readonly code: 'ERR_UNSUPPORTED_FORMAT';
  static override readonly codes = ['ERR_UNSUPPORTED_FORMAT'] as const;
  constructor(message: string) {
    super('ERR_UNSUPPORTED_FORMAT', message);
  }
}

/** A key management call referred to a conversation or key version that does not exist. */
export class KeyNotFoundError extends KeywardenError {
  declare readonly code: 'ERR_KEY_NOT_FOUND';
  static override readonly codes = ['ERR_KEY_NOT_FOUND'] as const;
  constructor(message: string) {
    super('ERR_KEY_NOT_FOUND', message);
  }
}

/**
 * The key a call needs was crypto-shredded (docs/KEYS.md): its wrapped key is gone from the
 * store, so the messages it sealed can no longer be opened by anyone. Thrown by `decrypt` and
 * break-glass for a message under a shredded key version, and by `encrypt` on a conversation that
 * was shredded as a whole until `startGeneration` starts a new key for it. Not retryable.
 * (Whether a key version is shredded is key metadata, not a secret: this error says nothing about
 * the ciphertext, which is why it is distinct from ERR_DECRYPT_FAILED.)
 */
export class KeyShreddedError extends KeywardenError {
  declare readonly code: 'ERR_KEY_SHREDDED';
  static override readonly codes = ['ERR_KEY_SHREDDED'] as const;
  constructor(message: string) {
    super('ERR_KEY_SHREDDED', message);
  }
}

/**
 * A key version has sealed as many messages as its suite allows (see docs/FORMAT.md §Limits)
 * and automatic rotation is disabled or failed.
 */
export class KeyLimitError extends KeywardenError {
  declare readonly code: 'ERR_KEY_LIMIT_REACHED';
  static override readonly codes = ['ERR_KEY_LIMIT_REACHED'] as const;
  constructor(message: string, cause?: unknown) {
    super('ERR_KEY_LIMIT_REACHED', message, { cause });
  }
}

/**
 * A master key provider (KMS) call failed. `code` says how:
 * - `ERR_KMS_ACCESS_DENIED`: the caller's credentials may not use the key;
 * - `ERR_KMS_KEY_UNAVAILABLE`: the key is disabled, pending deletion or does not exist;
 * - `ERR_KMS_INVALID_CIPHERTEXT`: the wrapped key or its encryption context was refused;
 * - `ERR_KMS_UNAVAILABLE`: throttled, timed out or a server fault (`retryable` is true);
 * - `ERR_KMS_FAILED`: anything else.
 */
export class KmsError extends KeywardenError {
  declare readonly code: KmsErrorCode;
  static override readonly codes = ['ERR_KMS_ACCESS_DENIED', 'ERR_KMS_KEY_UNAVAILABLE', 'ERR_KMS_INVALID_CIPHERTEXT', 'ERR_KMS_UNAVAILABLE', 'ERR_KMS_FAILED'] as const;
  constructor(code: KmsErrorCode, message: string, cause?: unknown) {
    super(code, message, { cause, retryable: code === 'ERR_KMS_UNAVAILABLE' });
  }
}

/** A key store call failed; `cause` holds the driver's error. */
export class StoreError extends KeywardenError {
  declare readonly code: 'ERR_STORE_FAILED';
  static override readonly codes = ['ERR_STORE_FAILED'] as const;
  constructor(message: string, cause?: unknown, retryable = false) {
    super('ERR_STORE_FAILED', message, { cause, retryable });
  }
}

/**
 * The audit log could not durably record an entry in time (store failure or the append
 * timeout). Break-glass fails closed on it: nothing is decrypted without its record.
 */
export class AuditUnavailableError extends KeywardenError {
  declare readonly code: 'ERR_AUDIT_UNAVAILABLE';
  static override readonly codes = ['ERR_AUDIT_UNAVAILABLE'] as const;
  /** `retryable` false for a store failure a retry cannot mend (a refused login): see src/audit/postgres-sql.ts. */
  constructor(message: string, cause?: unknown, retryable = true) {
    super('ERR_AUDIT_UNAVAILABLE', message, { cause, retryable });
  }
}

/** An audit event or entry failed to encode or parse (wrong fields, non-canonical bytes). */
export class AuditEntryError extends KeywardenError {
  declare readonly code: 'ERR_AUDIT_ENTRY';
  static override readonly codes = ['ERR_AUDIT_ENTRY'] as const;
  constructor(message: string) {
    super('ERR_AUDIT_ENTRY', message);
  }
}

/** Stored audit data is damaged (e.g. a torn last record after a crash); it is never silently accepted. */
export class AuditCorruptError extends KeywardenError {
  declare readonly code: 'ERR_AUDIT_CORRUPT';
  static override readonly codes = ['ERR_AUDIT_CORRUPT'] as const;
  /** Byte offset or entry index where the damage starts, when known. */
  readonly at: number | undefined;
  constructor(message: string, at?: number) {
    super('ERR_AUDIT_CORRUPT', message);
    this.at = at;
  }
}

/**
 * A break-glass token or access was refused. `code` says why; the message names what failed
 * but never contains token bytes, key material or plaintext.
 */
export class BreakGlassError extends KeywardenError {
  declare readonly code: BreakGlassErrorCode;
  static override readonly codes = [
    'ERR_BG_MALFORMED', 'ERR_BG_BAD_SIGNATURE', 'ERR_BG_UNKNOWN_APPROVER', 'ERR_BG_THRESHOLD_NOT_MET', 'ERR_BG_REQUESTER_APPROVED',
    'ERR_BG_REQUESTER_UNVERIFIED', 'ERR_BG_DUPLICATE_APPROVER', 'ERR_BG_EXPIRED', 'ERR_BG_NOT_YET_VALID', 'ERR_BG_WRONG_AUDIENCE', 'ERR_BG_WRONG_POLICY', 'ERR_BG_LIFETIME',
    'ERR_BG_REASON_NOT_ALLOWED', 'ERR_BG_OUT_OF_SCOPE', 'ERR_BG_MESSAGE_LIMIT', 'ERR_BG_REPLAYED',
  ] as const;
  constructor(code: BreakGlassErrorCode, message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

/** The instance was closed with `close()`; its cached keys are wiped. */
export class ClosedError extends KeywardenError {
  declare readonly code: 'ERR_CLOSED';
  static override readonly codes = ['ERR_CLOSED'] as const;
  constructor() {
    super('ERR_CLOSED', 'keywarden instance is closed');
  }
}

/** The caller's AbortSignal fired before the call completed; `cause` is the signal's reason. */
export class AbortedError extends KeywardenError {
  declare readonly code: 'ERR_ABORTED';
  static override readonly codes = ['ERR_ABORTED'] as const;
  constructor(reason?: unknown) {
    super('ERR_ABORTED', 'the operation was aborted by its caller', { cause: reason });
  }
}

/**
 * A signed note, checkpoint, cosignature or tlog-proof could not be parsed or verified, or a
 * note key is invalid; `code` says which. Messages never contain key material.
 *
 * @example
 * ```ts
 * try {
 *   openNote(message, [logVerifier]);
 * } catch (err) {
 *   if (isKeywardenError(err, 'ERR_NOTE_UNVERIFIED')) return null; // not signed by a key we know
 *   throw err;
 * }
 * ```
 */
export class NoteError extends KeywardenError {
  declare readonly code: NoteErrorCode;
  static override readonly codes = [
    'ERR_NOTE_MALFORMED', 'ERR_NOTE_UNVERIFIED', 'ERR_NOTE_INVALID_SIGNATURE', 'ERR_NOTE_KEY', 'ERR_CHECKPOINT_MALFORMED', 'ERR_CHECKPOINT_ORIGIN',
    'ERR_PROOF_MALFORMED',
  ] as const;
  constructor(code: NoteErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * Something failed that keywarden did not expect (a bug, or a misbehaving plug-in): reported
 * with its own code rather than as a foreign error, the original as `cause`.
 */
export class InternalError extends KeywardenError {
  declare readonly code: 'ERR_INTERNAL';
  static override readonly codes = ['ERR_INTERNAL'] as const;
  constructor(message: string, cause?: unknown) {
    super('ERR_INTERNAL', message, { cause });
  }
}

/** Every concrete error class: a union discriminated by `code`. */
export type AnyKeywardenError =
  | InvalidInputError
  | DecryptionError
  | UnsupportedFormatError
  | KeyNotFoundError
  | KeyShreddedError
  | KeyLimitError
  | KmsError
  | StoreError
  | AuditUnavailableError
  | AuditEntryError
  | AuditCorruptError
  | BreakGlassError
  | ClosedError
  | AbortedError
  | NoteError
  | InternalError;

/** The error class that carries `code` (e.g. `ErrorOf<'ERR_INVALID_INPUT'>` is InvalidInputError). */
export type ErrorOf<C extends ErrorCode> = ClassWithCode<AnyKeywardenError, C>;
type ClassWithCode<E, C> = E extends { code: infer K } ? (C extends K ? E : never) : never;

/**
 * True when `err` was thrown by keywarden — by this copy or by another copy loaded in the same
 * process (the ESM and CommonJS builds are separate copies of every class, so `instanceof`
 * against one copy's class is not enough on its own; this check is). With `code`, also checks
 * the code. Narrows `err` to the union of error classes, so `switch (err.code)` narrows further.
 *
 * @example
 * ```ts
 * if (isKeywardenError(err, 'ERR_KMS_UNAVAILABLE')) retryLater(); // err: KmsError
 * if (isKeywardenError(err) && err.retryable) retryLater();
 * ```
 */
export function isKeywardenError(err: unknown): err is AnyKeywardenError;
export function isKeywardenError<C extends ErrorCode>(err: unknown, code: C): err is ErrorOf<C>;
export function isKeywardenError(err: unknown, code?: ErrorCode): boolean {
  return isBranded(err) && (code === undefined || err.code === code);
}
