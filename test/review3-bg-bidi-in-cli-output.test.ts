/**
 * Outside review 3 (break-glass): request text with bidi controls reaches the approver's
 * terminal unescaped.
 *
 * Where: src/breakglass/token.ts:207-209 (`isIdentifier`: "no control characters, so ids print
 * safely in CLI output and logs") refuses only C0/C1 controls, so `requester` and `detail` may
 * hold U+202E RIGHT-TO-LEFT OVERRIDE, U+2066-2069 isolates, etc.; src/cli/token-render.ts:230-236
 * (`describeRequest`, what `keywarden token approve` shows the approver before signing) and
 * :239-259 (`renderInspection`, `keywarden token inspect`) print them through JSON.stringify,
 * which does not escape them. A requester "rev\u202e..." makes the terminal display the rest of
 * the line (message cap, conversation count, reason, expiry) reversed, so what an approver reads
 * is not what they sign. The library itself treats these characters as invisible (nameSkeleton).
 *
 * Correct: the human-readable output shows bidi/format characters escaped (e.g. \u202e), or
 * such ids are refused by isIdentifier; either way no raw bidi control reaches the terminal.
 *
 * Now: the CLI shows requester-controlled text with format characters (Unicode Cf) escaped.
 */
import { describe, expect, it } from 'vitest';
import { createRequest } from '../src/breakglass/token.js';
import { describeRequest } from '../src/cli/token-render.js';

const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

describe('keywarden token approve/inspect output and bidi controls', () => {
  it('describeRequest (what an approver is shown) prints no raw bidi control', () => {
    let req;
    try {
      req = createRequest({
        policy: 'p', aud: 'aud', requester: 'reviewer-7\u202e', reason: 'USER_REPORT_REVIEW', detail: 'case 1\u2067 x',
        scope: { conversations: ['c0'], from: '2029-12-31T00:00:00Z', to: '2030-01-01T00:00:00Z', maxMessages: 500, operation: 'decrypt' },
        exp: 1_900_000_000,
      }, () => new Date('2030-01-01T00:00:00Z'));
    } catch (e) {
      // Refusing such ids (naming the field) is an acceptable fix too.
      expect(e).toMatchObject({ code: 'ERR_INVALID_INPUT' });
      return;
    }
    expect(describeRequest(req)).not.toMatch(BIDI);
  });
});
