/**
 * Branch keys (docs/KEYS.md §9): one KMS call per branch key version per cache period instead
 * of one per conversation. Conversation keys are wrapped locally under a branch key (per tenant
 * here); the branch keys are wrapped by the KMS key. Local master keys here; with AWS KMS the
 * code is the same. Run: `npx tsx examples/branch-keys.ts`.
 */
import assert from 'node:assert/strict';
import { LocalMasterKey, MemoryKeyStore } from 'keywarden';
// #region readme
import { BranchKeyProvider, Keywarden, type KeyStore, type MasterKeyProvider } from 'keywarden';

/**
 * Every instance: conversation keys wrapped under their tenant's branch key. `kmsKey` is called
 * once per branch key version per cache period; `branchStore` is a key store of its own
 * (PostgreSQL: `new PostgresKeyStore(pool, { keys: 'branches' })`).
 */
export function keywarden(kmsKey: MasterKeyProvider, branchStore: KeyStore, keyStore: KeyStore) {
  const branches = new BranchKeyProvider({
    masterKey: kmsKey,
    store: branchStore,
    branchFor: (conversationId) => `tenant-${conversationId.split(':')[0]}`,
    cache: { maxAgeMs: 10 * 60_000 },
  });
  return { branches, kw: new Keywarden({ masterKey: branches, keyStore }) };
}

/** A tenant leaves: every conversation under its branch becomes unreadable at once (audited). */
export async function offboard(branches: BranchKeyProvider, tenant: string): Promise<void> {
  await branches.shredBranch(`tenant-${tenant}`);
}
// #endregion readme

async function main(): Promise<void> {
  let kmsCalls = 0;
  const local = new LocalMasterKey(LocalMasterKey.generateKey());
  const kmsKey: MasterKeyProvider = {
    keyId: local.keyId,
    generateDataKey: (c, o) => (kmsCalls++, local.generateDataKey(c, o)),
    unwrapDataKey: (w, c, id, o) => (kmsCalls++, local.unwrapDataKey(w, c, id, o)),
  };
  const branchStore = new MemoryKeyStore();
  const keyStore = new MemoryKeyStore();
  const { branches, kw } = keywarden(kmsKey, branchStore, keyStore);
  const ids = Array.from({ length: 100 }, (_, i) => `${i % 2 ? 'acme' : 'globex'}:dm-${i}`);
  const bodies = await Promise.all(ids.map((id) => kw.encryptString(id, `hello ${id}`)));
  assert.equal(kmsCalls, 2); // one branch key per tenant, not one data key per conversation
  await offboard(branches, 'globex');
  const fresh = keywarden(kmsKey, branchStore, keyStore); // another instance, nothing cached
  for (const [i, id] of ids.entries()) {
    if (id.startsWith('acme:')) assert.equal(await fresh.kw.decryptString(id, bodies[i]!), `hello ${id}`);
    else await assert.rejects(fresh.kw.decryptString(id, bodies[i]!), { code: 'ERR_KEY_SHREDDED' });
  }
  console.log(`branch-keys ok: ${ids.length} conversations, ${kmsCalls} KMS calls`);
  for (const k of [kw, fresh.kw]) await k.close();
  for (const b of [branches, fresh.branches]) await b.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
