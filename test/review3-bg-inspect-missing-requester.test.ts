/**
 * Outside review 3 (break-glass): `inspectToken` lists the requester as someone who "could
 * still approve" when the requester's name only reads like a policy approver id.
 *
 * Where: src/breakglass/policy.ts:316 (`finishFactors`): `missing` filters the requester out by
 * exact string comparison (`a !== requester()`), while the requester rule itself (policy.ts:387-395,
 * docs/BREAK-GLASS.md §1) compares names by `nameSkeleton` ("T1", "t1\u200b" and fullwidth "ｔ１"
 * are all "t1", and such an approval never counts). So with requester "T1", approver "t1" is
 * reported in `factors[].missing` and in the THRESHOLD_NOT_MET message ("missing any 1 of t1, t3"),
 * and `keywarden token inspect` tells the people in the loop to go and ask t1 — whose approval
 * would be refused (ERR_BG_REQUESTER_APPROVED).
 *
 * Correct: `missing` (TokenInspection: "the approvers who could still approve") leaves out every
 * approver whose nameSkeleton equals the requester's, as the counting does.
 *
 * Now: the requester is left out of `missing` by nameSkeleton, as counting compares names.
 */
import { describe, expect, it } from 'vitest';
import { type BreakGlassPolicy, inspectToken } from '../src/breakglass/policy.js';
import { approveRequest, createRequest, generateApproverKey } from '../src/breakglass/token.js';

const NOW = new Date('2030-01-01T00:00:00.000Z');

describe('inspectToken: missing approvers and a requester that reads like one', () => {
  for (const requester of ['T1', 't1\u200b', '\uff54\uff11']) {
    it(`requester ${JSON.stringify(requester)} is not listed as an approver who could still approve`, async () => {
      const [t1, t2, t3] = await Promise.all(['t1', 't2', 't3'].map((id) => generateApproverKey(id)));
      const policy: BreakGlassPolicy = {
        id: 'p', audience: 'aud',
        factors: [{ name: 'ts', threshold: 2, approvers: [t1!, t2!, t3!].map((a) => ({ id: a.id, publicJwk: a.publicJwk })) }],
        allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 86_400,
        maxScope: { conversations: 3, messages: 50, windowSeconds: 86_400 },
      };
      const req = createRequest({
        policy: 'p', aud: 'aud', requester, reason: 'USER_REPORT_REVIEW', detail: 'case 1',
        scope: { conversations: ['c0'], from: '2029-12-31T00:00:00Z', to: '2030-01-01T00:00:00Z', maxMessages: 5, operation: 'decrypt' },
        exp: NOW.getTime() / 1000 + 3600,
      }, () => NOW);
      const approvals = [await approveRequest(req, { id: 't2', privateJwk: t2!.privateJwk }, { now: () => NOW })];
      const r = await inspectToken({ request: req, approvals }, policy, NOW);
      expect(r.ok).toBe(false);
      // t1 is the requester as names are read: t1's approval can never count.
      expect(r.factors[0]!.missing).toEqual(['t3']);
    });
  }
});
