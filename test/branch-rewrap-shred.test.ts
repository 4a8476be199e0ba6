/**
 * A branch re-wrap never brings back a key of a shredded branch version (outside review,
 * 2026-12-01). `kw.rewrap({ branch })` moves a branch's conversation keys to its newest version;
 * it unwrapped them with whatever branch key the process had cached, and its compare-and-set
 * checked only the conversation record — so a process that still had the shredded version cached
 * (10 minutes by default), or a shred that committed while a page was under way, moved the keys
 * under the live version, and the "shredded" messages opened again for good.
 */
import { describe, expect, it } from 'vitest';
import { BranchKeyProvider, Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { errorCode } from './support/fixtures.js';

/** A branch provider over a local master key, and a Keywarden on it, with their stores. */
function branchMode() {
  const kms = new LocalMasterKey(LocalMasterKey.generateKey());
  const branchStore = new MemoryKeyStore();
  const keyStore = new MemoryKeyStore();
  const p = new BranchKeyProvider({ masterKey: kms, store: branchStore });
  return { kms, branchStore, keyStore, p, kw: new Keywarden({ masterKey: p, keyStore }) };
}

describe('branch re-wrap and a shredded branch version', () => {
  it('a process with the shredded version still cached does not move its keys', async () => {
    const kms = new LocalMasterKey(LocalMasterKey.generateKey());
    const branchStore = new MemoryKeyStore();
    const keyStore = new MemoryKeyStore();
    const service = new BranchKeyProvider({ masterKey: kms, store: branchStore });
    const ct = await new Keywarden({ masterKey: service, keyStore }).encryptString('conv-1', 'secret');
    // A maintenance process read a message: branch version 1 is in its cache.
    const job = new BranchKeyProvider({ masterKey: kms, store: branchStore });
    const kwJob = new Keywarden({ masterKey: job, keyStore });
    expect(await kwJob.decryptString('conv-1', ct)).toBe('secret');
    await service.rotateBranch('default');
    await service.shredBranch('default', { versions: [1] });
    const fresh = () => new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: kms, store: branchStore }), keyStore });
    expect(await errorCode(fresh().decrypt('conv-1', ct))).toBe('ERR_KEY_SHREDDED');
    const report = await kwJob.rewrap({ branch: 'default' });
    expect(report).toMatchObject({ rewrapped: 0, skipped: 1 });
    expect((await keyStore.getLatest('conv-1'))!.masterKeyId).toBe('branch:default#1');
    expect(await errorCode(fresh().decrypt('conv-1', ct))).toBe('ERR_KEY_SHREDDED');
  });

  it('a shred that commits while a page is under way: the page does not move that version\'s keys', async () => {
    const { kms, branchStore, keyStore, p, kw } = branchMode();
    const ct = await kw.encryptString('conv-1', 'secret');
    const other = await kw.encryptString('conv-2', 'kept');
    await p.rotateBranch('default');
    await kw.rotate('conv-2'); // conv-2's version 2 is under branch version 2 already
    // The shred commits right after the page's first unwrap (its keys were checked before it).
    let hook: (() => Promise<void>) | undefined = async () => {
      await p.shredBranch('default', { versions: [1] });
    };
    const unwrap = p.unwrapDataKey.bind(p);
    p.unwrapDataKey = async (...a) => {
      const key = await unwrap(...a);
      const h = hook;
      hook = undefined;
      if (h !== undefined) await h();
      return key;
    };
    const report = await kw.rewrap({ branch: 'default' });
    expect(hook).toBeUndefined(); // the shred did run mid-page
    expect(report).toMatchObject({ rewrapped: 0, skipped: 2 });
    const fresh = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: kms, store: branchStore }), keyStore });
    expect(await errorCode(fresh.decrypt('conv-1', ct))).toBe('ERR_KEY_SHREDDED');
    expect(await errorCode(fresh.decrypt('conv-2', other))).toBe('ERR_KEY_SHREDDED'); // its version 1 was under branch version 1 too
  });

  it('keys under a live version still move (the control)', async () => {
    const { kms, branchStore, keyStore, p, kw } = branchMode();
    const ct = await kw.encryptString('conv-1', 'secret');
    await p.rotateBranch('default');
    expect(await kw.rewrap({ branch: 'default' })).toMatchObject({ rewrapped: 1, complete: true });
    await p.shredBranch('default', { versions: [1] });
    const fresh = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: kms, store: branchStore }), keyStore });
    expect(await fresh.decryptString('conv-1', ct)).toBe('secret');
  });
});
