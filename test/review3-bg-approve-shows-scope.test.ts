/**
 * Outside review 3 (break-glass): `keywarden token approve` does not show the approver which
 * conversations (nor which deployment/policy) they are signing for.
 *
 * Where: src/cli/token.ts:174-176 ("Say what is being approved: the approver signs the digest of
 * exactly this") prints `describeRequest` (src/cli/token-render.ts:230-236), which gives only
 * the NUMBER of conversations — "… of 1 conversation(s) …" — not their ids, nor `aud`,
 * `policy` or `nbf`. The approval signs the digest of the whole request (docs/BREAK-GLASS.md §1),
 * conversation ids included, and the command's help says "Shows what is being approved". A
 * requester can ask for `dm:ceo:cfo` and the approver, reading only the approve output, sees
 * "1 conversation(s)" whatever it is.
 *
 * Correct: the line shown (and the `approved` JSON field) names every conversation in scope (as
 * `token inspect` does), and the audience and policy the approval is for.
 *
 * Now: the approver is shown every conversation id, the audience, the policy and the validity.
 */
import { describe, expect, it } from 'vitest';
import { createRequest } from '../src/breakglass/token.js';
import { describeRequest } from '../src/cli/token-render.js';

describe('what token approve shows the approver', () => {
  it('names the conversations, the audience and the policy being approved', () => {
    const req = createRequest({
      policy: 'dm-breakglass-v1', aud: 'dm.example.com', requester: 'reviewer-7', reason: 'USER_REPORT_REVIEW', detail: 'report #8841',
      scope: { conversations: ['dm:ceo:cfo'], from: '2029-12-31T00:00:00Z', to: '2030-01-01T00:00:00Z', maxMessages: 50, operation: 'decrypt' },
      exp: 1_900_000_000,
    }, () => new Date('2030-01-01T00:00:00Z'));
    const shown = describeRequest(req);
    expect(shown).toContain('dm:ceo:cfo');
    expect(shown).toContain('dm.example.com');
    expect(shown).toContain('dm-breakglass-v1');
  });
});
