/**
 * Deadlines and cancellation. keywarden puts its own deadline on every call that leaves the
 * process (KMS, key store): a KMS that never answers must not freeze a conversation — the AWS SDK's
 * request timeout is off by default — and a single-flight load that everyone waits on must fail
 * for all of them at a known time, so that the next call starts afresh (issue #11). Callers can
 * also give up on their own wait with an AbortSignal; that never cancels work others share.
 */
import { AbortedError, type KeywardenError } from '../errors.js';

/**
 * Runs `op` with an AbortSignal that fires after `ms`; rejects with `onTimeout()` at that moment
 * even if `op` ignores the signal. A result that arrives after the deadline is handed to `onLate`
 * (e.g. to wipe a key nobody will use) and otherwise discarded.
 */
export function withDeadline<T>(op: (signal: AbortSignal) => Promise<T>, ms: number, onTimeout: () => KeywardenError, onLate?: (value: T) => void): Promise<T> {
  let late = false;
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      const err = onTimeout();
      controller.abort(err);
      reject(err);
    }, ms);
  });
  let p: Promise<T>;
  try {
    p = op(controller.signal);
  } catch (err) {
    clearTimeout(timer);
    return Promise.reject(err);
  }
  p.then((v) => (late ? onLate?.(v) : undefined), () => undefined); // after the deadline: already reported
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/** Rejects with ERR_ABORTED as soon as `signal` aborts (at once if it already has); else settles as `p`. */
export function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(new AbortedError(signal.reason));
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortedError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  p.catch(() => undefined);
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

/** Throws ERR_ABORTED if `signal` has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError(signal.reason);
}

/** Validates an optional `signal` option. */
export function isAbortSignal(v: unknown): v is AbortSignal {
  return typeof AbortSignal !== 'undefined' && v instanceof AbortSignal;
}

/** Waits `ms`; rejects with ERR_ABORTED as soon as `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return raceAbort(new Promise<void>((resolve) => setTimeout(resolve, ms)), signal);
}
