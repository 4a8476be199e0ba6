/**
 * Store- and requester-controlled text on a terminal. Whoever can write a key store, an audit
 * store or a break-glass request could otherwise put control sequences (ANSI escapes, a carriage
 * return) or Unicode format characters (bidi overrides, zero-width characters) into what an
 * operator, auditor or approver reads, and so erase, forge or reorder lines (outside reviews,
 * 2026-12-01 and 2026-12-02). Such characters are shown escaped, as `\u001b`.
 * @module
 */

// C0 and C1 controls, DEL, and every format character (Unicode Cf).
 
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\p{Cf}]/gu;
// The same, but a newline stays (multi-line material such as a signed note shown as evidence).
 
const UNSAFE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}]/gu;

const escape = (c: string): string => `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`;

/** `s` on one line with every control and format character escaped. */
export const oneLine = (s: string): string => s.replace(UNSAFE, escape);

/** `s` with its newlines kept and every other control and format character escaped. */
export const safeLines = (s: string): string => s.replace(UNSAFE_BUT_NEWLINE, escape);

/** A string as a JSON literal, safe to print for a person to read. */
export const quoted = (s: string): string => oneLine(JSON.stringify(s));
