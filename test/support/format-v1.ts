/**
 * Seals a format v1 message (docs/FORMAT.md §2.1) with a conversation's stored key, as keywarden
 * 0.1 did: v1 ciphertexts written before the format change must keep opening, and break-glass
 * windows them by key version. Only tests seal v1.
 */
import { randomBytes } from 'node:crypto';
import { nodeAead } from '../../src/aead/node.js';
import { HEADER_LENGTH, aadPrefix, writeHeader } from '../../src/format/wire.js';
import { suiteByName } from '../../src/format/suites.js';
import { keyContext } from '../../src/keys/records.js';
import type { MasterKeyProvider } from '../../src/kms/provider.js';
import type { KeyStore } from '../../src/store/types.js';

export async function sealV1(store: KeyStore, masterKey: MasterKeyProvider, conversationId: string, version: number, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  const record = await store.getVersion(conversationId, version);
  if (!record) throw new Error(`no key version ${version} for ${conversationId}`);
  const suite = suiteByName(record.suite)!;
  const key = await masterKey.unwrapDataKey(record.wrappedKey, keyContext(conversationId, version), record.masterKeyId);
  const nonce = randomBytes(suite.nonceLength);
  const prefix = new Uint8Array(HEADER_LENGTH + nonce.length);
  writeHeader(prefix, suite.id, version);
  prefix.set(nonce, HEADER_LENGTH);
  const ad = new Uint8Array([...aadPrefix(suite.id, version, new TextEncoder().encode(conversationId)), ...aad]);
  const ct = nodeAead.seal(suite.id, key, nonce, plaintext, ad, prefix);
  key.fill(0);
  return ct;
}
