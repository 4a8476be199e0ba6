/**
 * Outside review 3 (break-glass): the `now` clock of `createRequest` / `approveRequest` is checked
 * to be a function but its result is never checked; a clock that returns anything but a valid
 * Date escapes as a raw TypeError (no ERR_ code, no parameter named).
 *
 * Where: src/breakglass/token.ts:329 (`now().getTime()` in createRequest) and :446
 * (`(o.now ?? …)().getTime()` in approveRequest, then jose's `setIssuedAt(NaN)` throws
 * "TypeError: Invalid setIssuedAt input" for an invalid Date). createRequest with an invalid Date
 * blames `iat`, a field the caller did not give. README: every error keywarden throws carries a
 * stable `code`; parameters are refused with InvalidInputError naming them (as `options.now` is
 * named when it is not a function, token.ts:445).
 *
 * Correct: InvalidInputError naming `now` (createRequest) / `options.now` (approveRequest),
 * "expected a function returning a valid Date".
 *
 * Now: a clock that gives no valid Date is ERR_INVALID_INPUT naming now / options.now.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type BreakGlassRequest, approveRequest, createRequest, generateApproverKey } from '../src/breakglass/token.js';

const fields = {
  policy: 'p', aud: 'aud', requester: 'r', reason: 'USER_REPORT_REVIEW', detail: 'd',
  scope: { conversations: ['c0'], from: '2029-12-31T00:00:00Z', to: '2030-01-01T00:00:00Z', maxMessages: 5, operation: 'decrypt' as const },
  exp: 1_900_000_000,
};
const bad: [string, () => unknown][] = [['a number', () => 5], ['an invalid Date', () => new Date(Number.NaN)], ['undefined', () => undefined]];

let key: Awaited<ReturnType<typeof generateApproverKey>>;
let req: BreakGlassRequest;
beforeAll(async () => {
  key = await generateApproverKey('a');
  req = createRequest(fields, () => new Date('2030-01-01T00:00:00Z'));
});

const caught = async (f: () => unknown) => {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return undefined;
};

describe('a clock that does not return a valid Date', () => {
  for (const [name, now] of bad) {
    it(`createRequest: now returning ${name} is refused naming now`, async () => {
      expect(await caught(() => createRequest(fields, now as () => Date))).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'now' });
    });
    it(`approveRequest: options.now returning ${name} is refused naming options.now`, async () => {
      expect(await caught(() => approveRequest(req, { id: 'a', privateJwk: key.privateJwk }, { now: now as () => Date }))).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.now' });
    });
  }
});
