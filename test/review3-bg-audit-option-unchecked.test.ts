/**
 * Outside review 3 (break-glass): `BreakGlass` accepts an `audit.actor` that no audit entry can
 * hold, and then loses every refusal code.
 *
 * Where: src/breakglass/access.ts:122-126 checks only `typeof actor === 'string' && length > 0`.
 * Every audit entry requires `actor` to be a well-formed string of at most 1024 characters
 * (src/audit/entry.ts:87, checked by `newEvent`), and Keywarden's own audit option is checked
 * for length at construction (src/keys/audit-options.ts:19). With a longer (or ill-formed)
 * actor the constructor succeeds; afterwards `#record` (access.ts:379) calls `newEvent` outside
 * its best-effort catch, so a refused token (here: expired) rejects with ERR_AUDIT_ENTRY instead
 * of its refusal code, and no `breakglass.refused` entry is written. docs/BREAK-GLASS.md §4:
 * "Every refusal has its own stable code and is recorded".
 *
 * The same constructor takes any truthy `audit.ids` / `audit.log` (Keywarden checks
 * `instanceof AuditIdHasher` / `AuditLog`, src/keys/audit-options.ts:17-18): `ids: {}` is
 * accepted and a valid token then fails after verification with a raw TypeError
 * ("ids.case is not a function"), no ERR_ code.
 *
 * Correct: validate `options.audit` as Keywarden does (validKeyAudit), refusing such values
 * with InvalidInputError naming `options.audit.actor` / `.ids` / `.log`; failing that, a
 * refusal keeps its own code.
 *
 * Now: BreakGlass checks options.audit as Keywarden does (validKeyAudit, which also refuses an
 * ill-formed actor), and a refusal whose record cannot be built keeps its own code.
 */
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('BreakGlass options.audit.actor', () => {
  it('ids that are not an AuditIdHasher: refused at construction naming options.audit.ids', async () => {
    const d = await deployment();
    const make = () => new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: {} as never, actor: 'x' }, aead: nodeAead, now: d.now });
    let err: unknown;
    try {
      make();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.audit.ids' });
  });

  for (const [name, actor] of [['1025 characters', 'a'.repeat(1025)], ['a lone surrogate', 'tns-\ud800']] as const) {
    it(`${name}: refused at construction naming options.audit.actor, or refusals keep their code`, async () => {
      const d = await deployment();
      const { t1, t2, l1 } = d.approvers;
      const tok = await token(d, [t1, t2, l1], { exp: Math.floor(d.now().getTime() / 1000) + 60 });
      let bg: BreakGlass;
      try {
        bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor }, aead: nodeAead, now: d.now });
      } catch (e) {
        expect(e).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'options.audit.actor' });
        return;
      }
      d.setTime(d.now().getTime() + 3_600_000); // the token has expired
      await expect(bg.decrypt(tok.text, 'c0', [{ ciphertext: d.messages.c0![0]!.ct, aad: d.messages.c0![0]!.aad }])).rejects.toMatchObject({ code: 'ERR_BG_EXPIRED' });
    });
  }
});
