/**
 * Error hierarchy. Every error thrown by keywarden is a {@link KeywardenError} with a stable
 * string `code` that callers can `switch` on; the underlying error, if any, is `cause`.
 *
 * Messages never contain key bytes, plaintext, ciphertext or tokens.
 *
 * @example
 * ```ts
 * try {
 *   await kw.decrypt(conversationId, ciphertext);
 * } catch (err) {
 *   if (err instanceof KeywardenError) {
 *     switch (err.code) {
 *       case 'ERR_DECRYPT_FAILED': return null;           // tampered or misplaced message
 *       case 'ERR_KMS_UNAVAILABLE': throw err;            // err.retryable === true
 *     }
 *   }
 *   throw err;
 * }
 * ```
 * @module
 */

/** Every stable error code keywarden can throw. */
export type ErrorCode =
  | 'ERR_INVALID_INPUT'
  | 'ERR_DECRYPT_FAILED'
  | 'ERR_UNSUPPORTED_FORMAT'
  | 'ERR_KEY_NOT_FOUND'
  | 'ERR_KEY_LIMIT_REACHED'
  | 'ERR_KMS_ACCESS_DENIED'
  | 'ERR_KMS_KEY_UNAVAILABLE'
  | 'ERR_KMS_INVALID_CIPHERTEXT'
  | 'ERR_KMS_UNAVAILABLE'
  | 'ERR_KMS_FAILED'
  | 'ERR_STORE_FAILED'
  | 'ERR_AUDIT_ENTRY'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_AUDIT_CORRUPT'
  | BreakGlassErrorCode
  | 'ERR_CLOSED';

/** Why a break-glass request was refused (docs/BREAK-GLASS.md §4); each is also recorded in the audit log. */
export type BreakGlassErrorCode =
  | 'ERR_BG_MALFORMED'
  | 'ERR_BG_BAD_SIGNATURE'
  | 'ERR_BG_UNKNOWN_APPROVER'
  | 'ERR_BG_THRESHOLD_NOT_MET'
  | 'ERR_BG_REQUESTER_APPROVED'
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

/** Base class of every error keywarden throws. */
export class KeywardenError extends Error {
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** True when the same call may succeed if retried later (throttling, outages). */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/**
 * Bad input to a public function: `param` names the offending parameter. Nothing was written
 * anywhere (no key generated, no store write, no KMS call).
 */
export class InvalidInputError extends KeywardenError {
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
  constructor() {
    super('ERR_DECRYPT_FAILED', 'decryption failed');
  }
}

/**
 * A ciphertext header this version of keywarden does not understand. Thrown only by
 * {@link inspectCiphertext}, which reads public header bytes; `decrypt` reports the same
 * condition as {@link DecryptionError} so that it is not an oracle.
 */
export class UnsupportedFormatError extends KeywardenError {
  constructor(message: string) {
    super('ERR_UNSUPPORTED_FORMAT', message);
  }
}

/** A key management call referred to a conversation or key version that does not exist. */
export class KeyNotFoundError extends KeywardenError {
  constructor(message: string) {
    super('ERR_KEY_NOT_FOUND', message);
  }
}

/**
 * A key version has sealed as many messages as its suite allows (see docs/FORMAT.md §Limits)
 * and automatic rotation is disabled or failed.
 */
export class KeyLimitError extends KeywardenError {
  constructor(message: string, cause?: unknown) {
    super('ERR_KEY_LIMIT_REACHED', message, { cause });
  }
}

/** Codes of errors raised by master key providers. */
export type KmsErrorCode =
  | 'ERR_KMS_ACCESS_DENIED'
  | 'ERR_KMS_KEY_UNAVAILABLE'
  | 'ERR_KMS_INVALID_CIPHERTEXT'
  | 'ERR_KMS_UNAVAILABLE'
  | 'ERR_KMS_FAILED';

/**
 * A master key provider (KMS) call failed. `code` says how:
 * - `ERR_KMS_ACCESS_DENIED`: the caller's credentials may not use the key;
 * - `ERR_KMS_KEY_UNAVAILABLE`: the key is disabled, pending deletion or does not exist;
 * - `ERR_KMS_INVALID_CIPHERTEXT`: the wrapped key or its encryption context was refused;
 * - `ERR_KMS_UNAVAILABLE`: throttled, timed out or a server fault (`retryable` is true);
 * - `ERR_KMS_FAILED`: anything else.
 */
export class KmsError extends KeywardenError {
  constructor(code: KmsErrorCode, message: string, cause?: unknown) {
    super(code, message, { cause, retryable: code === 'ERR_KMS_UNAVAILABLE' });
  }
}

/** A key store call failed; `cause` holds the driver's error. */
export class StoreError extends KeywardenError {
  constructor(message: string, cause?: unknown, retryable = false) {
    super('ERR_STORE_FAILED', message, { cause, retryable });
  }
}

/**
 * The audit log could not durably record an entry in time (store failure or the append
 * timeout). Break-glass fails closed on it: nothing is decrypted without its record.
 */
export class AuditUnavailableError extends KeywardenError {
  constructor(message: string, cause?: unknown) {
    super('ERR_AUDIT_UNAVAILABLE', message, { cause, retryable: true });
  }
}

/** Stored audit data is damaged (e.g. a torn last record after a crash); it is never silently accepted. */
export class AuditCorruptError extends KeywardenError {
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
  constructor(code: BreakGlassErrorCode, message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

/** The instance was closed with `close()`; its cached keys are wiped. */
export class ClosedError extends KeywardenError {
  constructor() {
    super('ERR_CLOSED', 'keywarden instance is closed');
  }
}
