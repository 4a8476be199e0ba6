/**
 * Branch keys and re-wrap (outside review, 2026-12-01): seven reproduced defects, each a case.
 * B-1 a branch shred reaches conversation keys cached elsewhere within the larger cache max age;
 * B-2 a re-wrap to a new master key in branch mode is not complete while direct-mode keys stay
 * under the old one; B-3 a fresh branch re-wrap looks again behind its cursor; B-4 key versions
 * beyond 32 bits are refused by the binding; B-5 wrapDataKey refuses a key that is not 32 bytes
 * before touching the branch store; B-6 a non-object context is ERR_INVALID_INPUT; B-7 `branch`
 * with another destination is refused.
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, LocalMasterKey, MasterKeyRing, MemoryKeyStore } from '../src/node.js';
import { errorCode } from './support/fixtures.js';
import { expectBranchShredReachesCachedKeys } from './support/branch.js';

const ctxOf = (conversation: string, version: string) => ({ 'keywarden:purpose': 'conversation-data-key', 'keywarden:conversation': conversation, 'keywarden:key-version': version });

describe('branch keys and re-wrap (outside review, 2026-12-01)', () => {
  it('B-1: a conversation key unwrapped under a branch key expires with it: a shred elsewhere reaches it within the larger max age', async () => {
    await expectBranchShredReachesCachedKeys(50_000, 61_000);
  });

  it('B-2: a new master key in branch mode is not complete while a direct-mode key stays under the old one', async () => {
    const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const keyStore = new MemoryKeyStore();
    const branchStore = new MemoryKeyStore();
    const direct = new Keywarden({ masterKey: oldKey, keyStore });
    const legacy = await direct.encryptString('legacy', 'from direct mode');
    const kw = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: new MasterKeyRing(newKey, [oldKey]), store: branchStore }), keyStore });
    const fresh = await kw.encryptString('fresh', 'branch mode');
    const first = await kw.rewrap({ to: newKey });
    expect(first.complete).toBe(false); // 'legacy' is still under the old master key
    expect(first.failed).toBe(0);
    // Into branch keys, then the master key again: now nothing needs the old key.
    expect((await kw.rewrap()).complete).toBe(true);
    expect((await kw.rewrap({ to: newKey })).complete).toBe(true);
    oldKey.destroy();
    const after = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: newKey, store: branchStore }), keyStore });
    expect(await after.decryptString('fresh', fresh)).toBe('branch mode');
    expect(await after.decryptString('legacy', legacy)).toBe('from direct mode');
  });

  it('B-3: a fresh branch re-wrap finds a key created behind its cursor before it says complete', async () => {
    const kms = new LocalMasterKey(LocalMasterKey.generateKey());
    const branchStore = new MemoryKeyStore();
    const keyStore = new MemoryKeyStore();
    const ops = new BranchKeyProvider({ masterKey: kms, store: branchStore });
    const kwOps = new Keywarden({ masterKey: ops, keyStore });
    const svc = new BranchKeyProvider({ masterKey: kms, store: branchStore }); // version 1 cached as active
    const kwSvc = new Keywarden({ masterKey: svc, keyStore });
    for (const id of ['m1', 'm2', 'm3', 'm4']) await kwSvc.encryptString(id, id);
    await ops.rotateBranch('default');
    let made: Promise<unknown> | undefined;
    const report = await kwOps.rewrap({
      branch: 'default', batchSize: 1,
      onProgress: () => {
        made ??= kwSvc.encryptString('a-new', 'hello'); // behind the job's cursor, under version 1
      },
    });
    await made;
    const left = await keyStore.scanWrapped!({ notMasterKeyId: 'branch:default#2', masterKeyIdPrefix: 'branch:default#', limit: 100 });
    expect(report.complete).toBe(true);
    expect(left.map((r) => `${r.conversationId}@${r.masterKeyId}`)).toEqual([]);
  });

  it('B-4: a key version beyond 32 bits is refused, never bound as another version', async () => {
    const p = new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store: new MemoryKeyStore() });
    expect(await errorCode(p.wrapDataKey(new Uint8Array(32).fill(7), ctxOf('c', String(2 ** 32 + 1))))).toBe('ERR_INVALID_INPUT');
    expect(await errorCode(p.generateDataKey(ctxOf('c', String(2 ** 32))))).toBe('ERR_INVALID_INPUT');
    const w = await p.wrapDataKey(new Uint8Array(32).fill(7), ctxOf('c', String(2 ** 32 - 1)));
    expect(await errorCode(p.unwrapDataKey(w.wrappedKey, ctxOf('c', '1'), w.masterKeyId))).toBe('ERR_KMS_INVALID_CIPHERTEXT');
  });

  it('B-5: wrapDataKey refuses a data key that is not 32 bytes, before any branch key exists', async () => {
    const branchStore = new MemoryKeyStore();
    const p = new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store: branchStore });
    for (const bad of [new Uint8Array(16), 'not bytes', null]) {
      expect(await errorCode(p.wrapDataKey(bad as unknown as Uint8Array, ctxOf('c', '1')))).toBe('ERR_INVALID_INPUT');
    }
    expect(await branchStore.listVersions('default')).toEqual([]);
  });

  it('B-6: a context that is not an object is ERR_INVALID_INPUT, not a TypeError', async () => {
    const p = new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store: new MemoryKeyStore() });
    expect(await errorCode(p.generateDataKey(null as never))).toBe('ERR_INVALID_INPUT');
    expect(await errorCode(p.unwrapDataKey(new Uint8Array(65), null as never, 'branch:default#1'))).toBe('ERR_INVALID_INPUT');
  });

  it('B-7: `branch` with another destination is refused, and nothing moves', async () => {
    const branchStore = new MemoryKeyStore();
    const kw = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store: branchStore }), keyStore: new MemoryKeyStore() });
    await kw.encryptString('c', 'x');
    const before = (await branchStore.getLatest('default'))!.masterKeyId;
    for (const branch of [123, 'default']) {
      expect(await errorCode(kw.rewrap({ to: new LocalMasterKey(LocalMasterKey.generateKey()), branch: branch as never }))).toBe('ERR_INVALID_INPUT');
    }
    expect((await branchStore.getLatest('default'))!.masterKeyId).toBe(before);
  });
});
