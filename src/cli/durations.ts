/**
 * Durations on the command line: `90d`, `12h`, `30m`, `45s`, `2w`. A tiny strict parser rather
 * than a lenient library: a retention period decides which messages are erased for good, so
 * `1.5d`, `90 days`, `90` or `-1d` are refused with a message naming the flag, never guessed at.
 * @module
 */
import { UsageError } from './spec.js';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** The accepted spelling, for help texts. */
export const DURATION_SYNTAX = 'a whole number and a unit: s, m, h, d or w (e.g. 90d, 12h, 30m)';

/**
 * Milliseconds of a duration such as `90d`; `label` names the flag in the usage error, and
 * `minMs` is the least accepted (`minText` says it in the same units).
 */
export function parseDuration(text: string | undefined, label: string, minMs = 1000, minText = '1s'): number {
  const m = text === undefined ? null : /^([1-9][0-9]{0,9})([smhdw])$/.exec(text);
  if (m === null) throw new UsageError(`${label}: expected ${DURATION_SYNTAX}`);
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  if (ms < minMs) throw new UsageError(`${label}: expected at least ${minText}`);
  // 2^47 ms is about 4,000 years: the library's own bound on periods.
  if (ms > 2 ** 47) throw new UsageError(`${label}: too long`);
  return ms;
}
