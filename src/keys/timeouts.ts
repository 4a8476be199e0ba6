/** Validation of the `timeouts` option (Keywarden, BreakGlass): keywarden's deadlines on KMS and store calls. */
import { assertInt, ownOptions } from '../util/validate.js';
import { DEFAULT_DEADLINES, type Deadlines } from './key-path.js';

/** `options.timeouts` with defaults filled in; ERR_INVALID_INPUT naming the field otherwise. */
export function validTimeouts(t: unknown): Deadlines {
  if (t === undefined) return DEFAULT_DEADLINES;
  const o = ownOptions('options.timeouts', t as { kmsMs?: unknown; storeMs?: unknown }, ['kmsMs', 'storeMs']);
  const kmsMs = o.kmsMs ?? DEFAULT_DEADLINES.kmsMs;
  const storeMs = o.storeMs ?? DEFAULT_DEADLINES.storeMs;
  assertInt('options.timeouts.kmsMs', kmsMs, 1, 3_600_000);
  assertInt('options.timeouts.storeMs', storeMs, 1, 3_600_000);
  return Object.freeze({ kmsMs, storeMs });
}
