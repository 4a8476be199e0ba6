/**
 * Outside review 2026-12-02 (keys): `BranchKeyProvider.rewrapBranchKeys` (public, docs/KEYS.md
 * §9 "New master key": `branches.rewrapBranchKeys({ to })`) never checks `options.signal`.
 *
 * Where: src/keys/branch-keys.ts:296-299 calls `rewrapOptions` (src/keys/rewrap.ts:118-131),
 * which passes `signal` through unchecked; only `Keywarden.rewrap` checks it
 * (src/keywarden.ts:603). So a signal that is not an AbortSignal is accepted and the re-wrap
 * goes on to move and audit every branch key (SECURITY.md: "bad input is refused naming the
 * parameter, before anything is written"); and when KMS throttles, the retry's backoff hands it
 * to `raceAbort` (src/util/deadline.ts:48), whose `signal.addEventListener` / `removeEventListener` calls
 * throw a plain TypeError — not a KeywardenError with a stable code.
 *
 * Correct: `rewrapOptions` (or rewrapBranchKeys) refuses a `signal` that is not an AbortSignal
 * with ERR_INVALID_INPUT naming `options.signal`, before any store or KMS call.
 *
 * Now: rewrapOptions checks the signal for both callers; rewrapBranchKeys rejects (async).
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, KmsError, LocalMasterKey, MemoryKeyStore, isKeywardenError, type MasterKeyProvider } from '../src/node.js';

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return isKeywardenError(err) ? `${err.code}` : `not a KeywardenError: ${String(err)}`;
  }
}

async function setup() {
  const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const branchStore = new MemoryKeyStore();
  const branches = new BranchKeyProvider({ masterKey: oldKey, store: branchStore });
  const kw = new Keywarden({ masterKey: branches, keyStore: new MemoryKeyStore() });
  await kw.encryptString('dm:1', 'hello'); // creates branch key default#1 under oldKey
  return { oldKey, branchStore, branches, kw };
}

describe('BranchKeyProvider.rewrapBranchKeys checks options.signal', () => {
  it('a signal that is not an AbortSignal is refused with ERR_INVALID_INPUT before any key moves', async () => {
    const { oldKey, branchStore, branches } = await setup();
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const res = await outcome(branches.rewrapBranchKeys({ to: newKey, signal: 'stop when I say' as unknown as AbortSignal }));
    expect(res).toBe('ERR_INVALID_INPUT');
    expect((await branchStore.getVersion('default', 1))!.masterKeyId).toBe(oldKey.keyId); // nothing written
  });

  it('a look-alike signal and a throttled KMS: the failure is a KeywardenError, not a TypeError', async () => {
    const { branches } = await setup();
    const real = new LocalMasterKey(LocalMasterKey.generateKey());
    let throttled = 0;
    const newKey: MasterKeyProvider = {
      keyId: real.keyId,
      generateDataKey: (c, o) => real.generateDataKey(c, o),
      unwrapDataKey: (w, c, id, o) => real.unwrapDataKey(w, c, id, o),
      wrapDataKey: (p, c, o) => (throttled++ === 0 ? Promise.reject(new KmsError('ERR_KMS_UNAVAILABLE', 'throttled')) : real.wrapDataKey(p, c, o)),
    };
    const res = await outcome(branches.rewrapBranchKeys({ to: newKey, signal: { aborted: false } as unknown as AbortSignal }));
    expect(res).toBe('ERR_INVALID_INPUT');
  });
});
