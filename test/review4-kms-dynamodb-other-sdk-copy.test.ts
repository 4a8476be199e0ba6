/**
 * Review 2026-12-02 (second; suspected by the KMS/stores review, checked here and found to hold):
 * the DynamoDB store recognises a lost conditional write by `instanceof
 * ConditionalCheckFailedException` of its own copy of `@aws-sdk/client-dynamodb`. An application
 * whose DynamoDBClient comes from another copy of the SDK (two versions side by side) throws that
 * copy's class; if `instanceof` failed, every lost race would become a final `ERR_STORE_FAILED`.
 * It does not: the SDK's ServiceException answers `instanceof` by the error's name and `$fault`
 * across copies (@smithy/core, `Symbol.hasInstance`). This test keeps it so: a first key lost to
 * another writer through such a client resolves to the winner's record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { freshConversationId, makeRecord } from './support/store-contract.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

let dyn: TestDynamo;
beforeAll(async () => {
  dyn = await testDynamo();
});
afterAll(async () => {
  await dyn?.close();
});

/** The same client, its service exceptions re-thrown as another copy of the SDK would: same name, another class. */
function otherSdkCopy(real: DynamoDBClient, beforeFirstPut: () => Promise<void>): DynamoDBClient {
  class OtherCopyException extends Error {
    $metadata: unknown;
    $fault: unknown;
    constructor(from: Error & { $metadata?: unknown; $fault?: unknown }) {
      super(from.message);
      this.name = from.name;
      this.$metadata = from.$metadata;
      this.$fault = from.$fault;
    }
  }
  let hooked = false;
  return {
    send: async (cmd: { constructor: { name: string } }) => {
      if (!hooked && cmd.constructor.name === 'PutItemCommand') {
        hooked = true;
        await beforeFirstPut();
      }
      try {
        return await real.send(cmd as never);
      } catch (err) {
        throw new OtherCopyException(err as Error);
      }
    },
  } as unknown as DynamoDBClient;
}

describe('DynamoDB store with a client from another copy of the SDK', () => {
  it('a first key lost to another writer resolves to the winner\'s record, not a final ERR_STORE_FAILED', async () => {
    const other = new DynamoDbKeyStore(dyn.newClient(), { table: dyn.table });
    const c = freshConversationId('copy');
    const winner = makeRecord(c, { masterKeyId: 'winner' });
    // Another instance stores version 1 between this store's read and its conditional put.
    const store = new DynamoDbKeyStore(otherSdkCopy(dyn.client, async () => void (await other.insertFirst(winner))), { table: dyn.table });
    const res = await store.insertFirst(makeRecord(c, { masterKeyId: 'loser' })).catch((e) => e);
    expect(res).toMatchObject({ inserted: false, record: { masterKeyId: 'winner', version: 1 } });
  });
});
