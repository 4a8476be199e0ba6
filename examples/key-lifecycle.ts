/**
 * Key lifecycle: a rotation policy, crypto-shredding a conversation, and retention
 * (docs/KEYS.md). In memory with a local master key and a test clock here; the same calls work on
 * PostgreSQL and AWS KMS. Run: `npx tsx examples/key-lifecycle.ts`.
 */
import assert from 'node:assert/strict';
import { LocalMasterKey, MemoryKeyStore } from 'keywarden';
// #region readme
import { Keywarden, isKeywardenError, type KeyStore, type MasterKeyProvider } from 'keywarden';

const DAY = 86_400_000;

/** Every instance that seals: a new key version per conversation every ~30 days, on its next message. */
export function keywarden(masterKey: MasterKeyProvider, keyStore: KeyStore, now?: () => Date): Keywarden {
  return new Keywarden({ masterKey, keyStore, rotation: { maxAgeMs: 30 * DAY }, ...(now ? { now } : {}) });
}

/** A user deletes a conversation: every key version goes, on every instance, with a key.shredded record. */
export async function eraseConversation(kw: Keywarden, conversationId: string): Promise<void> {
  await kw.shred(conversationId);
}

/** Reading a message whose key was shredded: gone for good, for anyone. */
export async function readMessage(kw: Keywarden, conversationId: string, body: Uint8Array): Promise<string | undefined> {
  try {
    return await kw.decryptString(conversationId, body);
  } catch (err) {
    if (isKeywardenError(err, 'ERR_KEY_SHREDDED')) return undefined;
    throw err;
  }
}

/** Daily: messages older than 90 days become unreadable (key versions that sealed nothing since are shredded). */
export async function applyRetention(kw: Keywarden): Promise<number> {
  const preview = await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true, dryRun: true });
  console.log(`retention: ${preview.versions} key version(s) in ${preview.conversations} conversation(s) to shred`);
  const done = await kw.retain({ olderThanMs: 90 * DAY, includeIdle: true });
  return done.versions;
}
// #endregion readme

async function main(): Promise<void> {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const kw = keywarden(new LocalMasterKey(LocalMasterKey.generateKey()), new MemoryKeyStore(), () => new Date(now));
  const january = await kw.encryptString('dm:alice:bob', 'january');
  now += 200 * DAY; // months pass
  const july = await kw.encryptString('dm:alice:bob', 'july'); // rotated on this seal
  assert.equal(await applyRetention(kw), 1);
  assert.equal(await readMessage(kw, 'dm:alice:bob', january), undefined);
  assert.equal(await readMessage(kw, 'dm:alice:bob', july), 'july');

  const gone = await kw.encryptString('dm:carol:dave', 'delete my account');
  await eraseConversation(kw, 'dm:carol:dave');
  assert.equal(await readMessage(kw, 'dm:carol:dave', gone), undefined);
  await assert.rejects(kw.encryptString('dm:carol:dave', 'x'), (e: unknown) => isKeywardenError(e, 'ERR_KEY_SHREDDED'));
  await kw.startGeneration('dm:carol:dave'); // the same id may carry new messages again
  assert.equal(await readMessage(kw, 'dm:carol:dave', await kw.encryptString('dm:carol:dave', 'hello again')), 'hello again');
  console.log('key-lifecycle ok: retention and shredding');
  kw.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
