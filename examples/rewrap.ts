/**
 * Replacing the master key: every stored conversation key moves to the new master key; messages
 * are not touched (docs/KEYS.md §6). Local master keys here; with AWS KMS the same call uses
 * ReEncrypt, so data keys never leave KMS. Run: `npx tsx examples/rewrap.ts`.
 */
import assert from 'node:assert/strict';
import { LocalMasterKey, MemoryKeyStore } from 'keywarden';
// #region readme
import { Keywarden, MasterKeyRing, type KeyStore, type MasterKeyProvider } from 'keywarden';

/** Step 1, deploy every instance with both keys: new keys go under newKey, old ones still unwrap. */
export function duringTheMove(newKey: MasterKeyProvider, oldKey: MasterKeyProvider, keyStore: KeyStore): Keywarden {
  return new Keywarden({ masterKey: new MasterKeyRing(newKey, [oldKey]), keyStore });
}

/** Step 2, once (CLI: keywarden keys rewrap --to <key>): resumable, audited, bounded KMS concurrency. */
export async function moveEveryKey(kw: Keywarden): Promise<void> {
  const report = await kw.rewrap({ concurrency: 16, onProgress: (p) => console.log(`${p.rewrapped}/${p.total ?? '?'} keys`) });
  if (!report.complete) throw new Error(`re-wrap incomplete: ${report.failed} key(s) refused by KMS`);
}
// Step 3: drop oldKey from the ring, disable it in KMS, later schedule its deletion.
// #endregion readme

async function main(): Promise<void> {
  const oldKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const newKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const keyStore = new MemoryKeyStore();
  const before = new Keywarden({ masterKey: oldKey, keyStore });
  const bodies = await Promise.all(['a', 'b', 'c'].map((c) => before.encryptString(`dm:${c}`, `hello ${c}`)));
  const kw = duringTheMove(newKey, oldKey, keyStore);
  await moveEveryKey(kw);
  oldKey.destroy(); // the old master key is gone: everything still opens
  const after = new Keywarden({ masterKey: newKey, keyStore });
  for (const [i, c] of ['a', 'b', 'c'].entries()) assert.equal(await after.decryptString(`dm:${c}`, bodies[i]!), `hello ${c}`);
  console.log('rewrap ok: 3 keys moved to the new master key');
  for (const k of [before, kw, after]) k.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
