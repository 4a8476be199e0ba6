/**
 * Times at the API: any RFC 3339 date-time (`Z`/`z` or a numeric offset, `T`/`t`, any number of
 * fraction digits) or a `Date` is accepted and normalised to the one spelling keywarden stores
 * and signs — UTC with milliseconds, `Date.prototype.toISOString()` — so one instant has one
 * spelling and one digest. Strict where `Date.parse` is lenient: 2026-02-30 or 24:00:00 are
 * refused, not rolled over; a leap second (:60) cannot be represented and is refused; digits
 * below the millisecond must be zero (a time is never silently moved).
 */
import { InvalidInputError } from '../errors.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;
/** The normalised spelling: RFC 3339, UTC, exactly three fraction digits. */
export const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const EXAMPLE = 'an RFC 3339 time such as 2026-01-01T00:00:00Z';

/** Epoch milliseconds of an RFC 3339 string, or undefined if it is not one (or not representable to the ms). */
export function parseRfc3339(s: string): number | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se, frac = '', z, sign, oh, om] = m;
  const year = Number(y), month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = Number(se);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth || year < 1) return undefined;
  if (frac.length > 3 && !/^0+$/.test(frac.slice(3))) return undefined;
  const ms = Number(frac.slice(0, 3).padEnd(3, '0'));
  let offset = 0;
  if (z === undefined) {
    const offH = Number(oh), offM = Number(om);
    if (offH > 23 || offM > 59) return undefined;
    offset = (sign === '-' ? -1 : 1) * (offH * 60 + offM) * 60_000;
  }
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day); // years 0001-0099 too (Date.UTC maps them to 19xx)
  date.setUTCHours(hour, minute, second, ms);
  const t = date.getTime() - offset;
  return Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? t : undefined;
}

/** True for a time in the normalised spelling (UTC, three fraction digits) of a real instant. */
export function isCanonicalTime(v: unknown): v is string {
  if (typeof v !== 'string' || !CANONICAL_TIME.test(v)) return false;
  const t = parseRfc3339(v);
  return t !== undefined && new Date(t).toISOString() === v;
}

/**
 * Normalises `value` (an RFC 3339 string or a valid Date) to UTC with milliseconds; throws
 * {@link InvalidInputError} naming `param` otherwise.
 */
export function normalizeTime(param: string, value: unknown): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidInputError(param, `expected ${EXAMPLE}, got an invalid Date`);
    return value.toISOString();
  }
  if (typeof value !== 'string') throw new InvalidInputError(param, `expected ${EXAMPLE}, got ${value === null ? 'null' : typeof value}`);
  const t = parseRfc3339(value);
  if (t === undefined) throw new InvalidInputError(param, `expected ${EXAMPLE} (a real calendar time, at most millisecond precision)`);
  return new Date(t).toISOString();
}
