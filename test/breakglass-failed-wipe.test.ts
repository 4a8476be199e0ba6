/**
 * A break-glass read that fails part-way wipes what it already opened (outside review,
 * 2026-12-01): when a later key version's unwrap failed, the plaintexts of the messages opened
 * before it were dropped unwiped — the outcome was recorded as `failed` (nothing released) while
 * the plaintext stayed readable in memory. The `withheld` path already wiped them.
 */
import { describe, expect, it } from 'vitest';
import { nodeAead } from '../src/aead/node.js';
import type { AeadImpl } from '../src/aead/types.js';
import { decodeEntry } from '../src/audit/entry.js';
import { BreakGlass } from '../src/breakglass/access.js';
import { MemoryTokenLedger } from '../src/breakglass/ledger.js';
import type { MasterKeyProvider } from '../src/node.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('a failed break-glass read', () => {
  it('wipes the plaintexts of the messages it opened before the failure, and records `failed`', async () => {
    const d = await deployment();
    const opened: Uint8Array[] = [];
    const aead = { ...nodeAead, open: (...a: Parameters<AeadImpl['open']>) => {
      const pt = nodeAead.open(...a);
      if (pt) opened.push(pt);
      return pt;
    } } as AeadImpl;
    const masterKey: MasterKeyProvider = {
      keyId: d.masterKey.keyId,
      generateDataKey: (c) => d.masterKey.generateDataKey(c),
      unwrapDataKey: async (w, ctx, id) => {
        if (ctx['keywarden:key-version'] === '2') throw new Error('KMS down');
        return d.masterKey.unwrapDataKey(w, ctx, id);
      },
    };
    const bg = new BreakGlass({ policy: d.policy, masterKey, keyStore: d.keyStore, audit: { log: d.log, ids: d.ids, actor: 'x' }, aead, now: d.now, ledger: new MemoryTokenLedger() });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const m = d.messages.c0!;
    // Message 0 is under version 1 (opens); message 3 under version 2 (its unwrap fails).
    const err = await bg.decrypt(tok.text, 'c0', [{ ciphertext: m[0]!.ct, aad: m[0]!.aad }, { ciphertext: m[3]!.ct, aad: m[3]!.aad }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_KMS_FAILED' });
    const last = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry).at(-1)!;
    expect(last).toMatchObject({ type: 'breakglass.outcome', outcome: 'failed', messages: 0 });
    expect(opened).toHaveLength(1);
    expect(opened[0]!.length).toBeGreaterThan(0);
    expect(opened[0]!.every((b) => b === 0)).toBe(true);
  });
});
