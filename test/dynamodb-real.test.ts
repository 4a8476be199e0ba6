/**
 * Opt-in: the DynamoDB key store against real Amazon DynamoDB. Runs only when
 * KEYWARDEN_DYNAMODB_TABLE names a table made by `DynamoDbKeyStore.createTable` (on-demand
 * capacity; the tests write a few thousand small items under fresh random ids and leave them);
 * credentials and region come from the standard AWS environment (AWS_REGION, AWS_PROFILE, ...).
 * Skipped, with a message, otherwise. The same contract suites as against dynalite
 * (test/store-dynamodb.test.ts), and a Keywarden round trip with a rotation seen by a second
 * instance through the polled change sequence.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { LocalMasterKey } from '../src/kms/local.js';
import { Keywarden } from '../src/node.js';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { freshConversationId, keyStoreContract } from './support/store-contract.js';
import { keyStoreLifecycleContract } from './support/store-lifecycle-contract.js';

const table = process.env.KEYWARDEN_DYNAMODB_TABLE;
if (!table) console.log('dynamodb-real: skipped — set KEYWARDEN_DYNAMODB_TABLE (a table made by DynamoDbKeyStore.createTable, and AWS credentials/region) to run against real DynamoDB');

// Real network round trips: the property tests of the contracts take minutes.
vi.setConfig({ testTimeout: 600_000 });

const client = table ? new DynamoDBClient({}) : undefined;
afterAll(() => client?.destroy());
const store = () => new DynamoDbKeyStore(client!, { table: table!, pollIntervalMs: 200 });

if (table) {
  keyStoreContract('DynamoDbKeyStore on real DynamoDB', store);
  keyStoreLifecycleContract('DynamoDbKeyStore on real DynamoDB', store, { notifications: true });
}

describe.skipIf(!table)('real DynamoDB (KEYWARDEN_DYNAMODB_TABLE)', () => {
  it('Keywarden round trip; a rotation by one instance reaches another through the change sequence', async () => {
    const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
    const a = new Keywarden({ masterKey, keyStore: store(), watchKeyChanges: true });
    const b = new Keywarden({ masterKey, keyStore: store(), watchKeyChanges: true });
    const conv = freshConversationId();
    const first = await a.encryptString(conv, 'hello from keywarden');
    expect(await b.decryptString(conv, first)).toBe('hello from keywarden');
    const { version } = await a.rotate(conv);
    expect(version).toBe(2);
    // b cached version 1; the change sequence (polled every 200 ms) makes it seal with 2.
    let seen = 0;
    for (let i = 0; i < 100 && seen !== 2; i++) {
      const ct = await b.encryptString(conv, 'after rotation');
      seen = new DataView(ct.buffer, ct.byteOffset).getUint32(2); // header: format, suite, u32 key version
      if (seen !== 2) await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toBe(2);
    a.close();
    b.close();
  });
});
