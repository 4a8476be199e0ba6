/**
 * A refusal's entry records only what has the shape of a token id and a reason code (outside
 * review, 2026-12-01). A token passed as an object is not validated before its refusal is
 * recorded, and the entry copied its `jti` and `reason` if they were any well-formed strings: a
 * token author could write clear text — a conversation id, a case number, which the log holds
 * only as keyed HMACs — into the append-only log, and pin refusals on another token's id.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { deployment, token } from './support/breakglass-fixtures.js';

// One message of c0: an empty page is refused before the token (test/review7-bg-empty-page.test.ts).
const page = (d: Awaited<ReturnType<typeof deployment>>) => [{ ciphertext: d.messages.c0![4]!.ct, aad: d.messages.c0![4]!.aad }];

describe('breakglass.refused entries', () => {
  it('a malformed object token with free text in jti and reason records neither', async () => {
    const d = await deployment();
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const evil = { request: { ...tok.request, reason: 'conversation dm:alice:bob, case-2026-0042', jti: 'case-2026-0042 dm:alice:bob' }, approvals: tok.approvals };
    const err = await d.bg.decrypt(evil as never, 'c0', page(d)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_BG_MALFORMED' });
    const last = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry).at(-1)!;
    expect(last).toMatchObject({ type: 'breakglass.refused', token: 'unparseable', reason: 'unknown', refusal: 'ERR_BG_MALFORMED' });
    expect(JSON.stringify(last)).not.toContain('alice');
  });

  it('a well-formed token id and reason code are recorded as they are', async () => {
    const d = await deployment();
    const { t1, l1 } = d.approvers;
    const tok = await token(d, [t1, l1]); // one approver short
    const err = await d.bg.decrypt(tok.text, 'c0', page(d)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_BG_THRESHOLD_NOT_MET' });
    const last = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry).at(-1)!;
    expect(last).toMatchObject({ type: 'breakglass.refused', token: tok.request.jti, reason: tok.request.reason, refusal: 'ERR_BG_THRESHOLD_NOT_MET' });
  });
});
