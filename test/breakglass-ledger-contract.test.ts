/**
 * BreakGlass does not take a ledger's word that the intent was recorded (outside review,
 * 2026-12-01). `ledger` is a public option; a custom ledger that answers `true` without having
 * run `record` to completion — `if (await setnx(jti)) { void record(); return true }` — let
 * plaintext out with no intent on the log. Now the answer counts only once `record` resolved.
 */
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import type { TokenLedger } from '../src/breakglass/ledger.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('a ledger that says it consumed the token without recording the intent', () => {
  for (const [name, recordIt] of [['never runs record', false], ['runs record without awaiting it', true]] as const) {
    it(`${name}: nothing is released (ERR_AUDIT_UNAVAILABLE), no released outcome on the log`, async () => {
      const d = await deployment();
      const used = new Set<string>();
      const sloppy: TokenLedger = {
        async consume(jti, _exp, record) {
          if (used.has(jti)) return false;
          used.add(jti);
          if (recordIt) void record().catch(() => undefined);
          return true;
        },
      };
      const bg = new BreakGlass({ policy: d.policy, masterKey: d.masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'x' }, aead: nodeAead, now: d.now, ledger: sloppy });
      const { t1, t2, l1 } = d.approvers;
      const tok = await token(d, [t1, t2, l1]);
      const before = await d.auditStore.size();
      await expect(bg.decrypt(tok.text, 'c0', d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad })))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
      await d.log.flush();
      const added = (await d.auditStore.read(before, await d.auditStore.size())).map(decodeEntry);
      expect(added.filter((e) => e.type === 'breakglass.outcome' && e.outcome === 'released')).toEqual([]);
    });
  }
});
