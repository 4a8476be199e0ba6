/**
 * Quickstart: one conversation, in memory, with a development master key.
 * Run: `npx tsx examples/quickstart.ts`. The README shows the `#region readme` parts.
 */
import assert from 'node:assert/strict';
// #region readme
import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
// #endregion readme

async function main(): Promise<void> {
  // #region readme
  const kw = new Keywarden({
    masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), // development only: use AWS KMS in production
    keyStore: new MemoryKeyStore(),
  });

  const body = await kw.encryptString('dm:alice:bob', 'lunch tomorrow?', { aad: 'msg-0001' });
  const text = await kw.decryptString('dm:alice:bob', body, { aad: 'msg-0001' });
  // #endregion readme
  assert.equal(text, 'lunch tomorrow?');
  console.log(`quickstart ok: ${body.length} bytes sealed, decrypted ${JSON.stringify(text)}`);
  kw.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
