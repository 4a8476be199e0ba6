/**
 * Issue #10, defect 9: when the outcome record cannot be acknowledged, nothing is released and
 * the log says so — never `outcome: released` (a release that did not happen) followed by
 * `outcome: failed`.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { deployment, token } from './support/breakglass-fixtures.js';

describe('break-glass outcome records', () => {
  it('the outcome\'s batch (its entry and checkpoint) fails: nothing is returned, and no `released` record is in the log', async () => {
    const store = new MemoryAuditStore();
    const d = await deployment({ auditStore: store });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    const page = d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad }));
    const realIntegrate = store.integrate.bind(store);
    let batches = 0;
    store.integrate = async (batch) => {
      if (++batches === 2) throw new Error('fsync failed on the outcome batch'); // 1: intent, 2: outcome
      return realIntegrate(batch);
    };
    const err = await d.bg.decrypt(tok.text, 'c0', page).catch((e) => e);
    expect(err.code).toBe('ERR_AUDIT_UNAVAILABLE');
    const events = (await store.read(0, await store.size())).map(decodeEntry);
    expect(events.map((e) => e.type)).toEqual(['breakglass.access', 'breakglass.outcome']);
    expect(events.map((e) => e.outcome).filter(Boolean)).toEqual(['withheld']);
    expect(events[1]).toMatchObject({ intent: events[0]!.id, messages: 0 });
    expect(verifyAuditLog({ verifierKey: d.logVerifierKey, entries: await store.read(0, await store.size()), checkpoints: await store.checkpoints() }).ok).toBe(true);
  });

  it('a failure before release (e.g. the key store) is recorded as failed', async () => {
    const store = new MemoryAuditStore();
    const d = await deployment({ auditStore: store });
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    d.keyStore.getVersion = async () => {
      throw new Error('key store down');
    };
    const err = await d.bg.decrypt(tok.text, 'c0', d.messages.c0!.map((m) => ({ ciphertext: m.ct, aad: m.aad }))).catch((e) => e);
    expect(err.code).toBe('ERR_STORE_FAILED');
    const events = (await store.read(0, await store.size())).map(decodeEntry);
    expect(events.map((e) => `${e.type}:${e.outcome ?? ''}`)).toEqual(['breakglass.access:', 'breakglass.outcome:failed']);
  });
});
