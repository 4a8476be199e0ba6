/**
 * What was wrong: DynamoDbKeyStore called a network failure retryable only for ECONNRESET,
 * ECONNREFUSED, EPIPE and ETIMEDOUT. A temporary DNS failure (EAI_AGAIN — the resolver timed out),
 * a host the route to is momentarily gone (EHOSTUNREACH) or a resolver answering NXDOMAIN for the
 * regional endpoint during an outage (ENOTFOUND) — errors the AWS SDK itself treats as transient
 * (it retries them) — reached callers as ERR_STORE_FAILED with `retryable: false`, so a caller that
 * honours `retryable` (README "Errors": ERR_STORE_FAILED is retryable "as the store says"; SECURITY.md:
 * faults give retryable typed errors) gave up on a blip. The KMS side (mapKmsError) already maps
 * the same codes to the retryable ERR_KMS_UNAVAILABLE: the two clients of the same SDK disagreed.
 *
 * Now: every network error code mapKmsError treats as transient is a retryable StoreError on the
 * DynamoDB store too, through the store and through Keywarden; a refused request (validation,
 * missing table) stays non-retryable.
 */
import { describe, expect, it } from 'vitest';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { mapKmsError } from '../src/kms/aws.js';
import { Keywarden, LocalMasterKey } from '../src/node.js';

/** A network error as the SDK's node http handler surfaces it (an Error with a system `code`). */
const netError = (code: string) => Object.assign(new Error(`connect ${code} dynamodb.eu-west-1.amazonaws.com`), { code, $metadata: { attempts: 3 } });
const failing = (err: unknown) => ({ send: async () => { throw err; } }) as unknown as DynamoDBClient;

const CODES = ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH'];

describe('DynamoDbKeyStore: network failures are retryable, as on the KMS side', () => {
  for (const code of CODES) {
    it(`${code}: ERR_STORE_FAILED, retryable (as mapKmsError says for KMS)`, async () => {
      expect(mapKmsError(netError(code), 'Decrypt').retryable).toBe(true);
      const store = new DynamoDbKeyStore(failing(netError(code)), { table: 'keywarden-keys' });
      await expect(store.getLatest('dm:a:b')).rejects.toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
      const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: store });
      await expect(kw.encrypt('dm:a:b', new Uint8Array(1))).rejects.toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
    });
  }

  it('a DNS failure from the real SDK (ENOTFOUND, which the SDK retried) is retryable', async () => {
    const client = new DynamoDBClient({ endpoint: 'http://keywarden-no-such-host.invalid:8000', region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const raw = await client.send(new GetItemCommand({ TableName: 'kwt', Key: { pk: { S: 'x' }, sk: { S: 'k' } } })).then(() => undefined, (e: unknown) => e);
    client.destroy();
    const code = (raw as { code?: string }).code;
    expect(code === 'ENOTFOUND' || code === 'EAI_AGAIN').toBe(true);
    const store = new DynamoDbKeyStore(failing(raw), { table: 'keywarden-keys' });
    await expect(store.listVersions('dm:a:b')).rejects.toMatchObject({ code: 'ERR_STORE_FAILED', retryable: true });
  });

  it('a refused request stays non-retryable', async () => {
    const err = Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException', $fault: 'client', $metadata: {} });
    const store = new DynamoDbKeyStore(failing(err), { table: 'keywarden-keys' });
    await expect(store.getLatest('dm:a:b')).rejects.toMatchObject({ code: 'ERR_STORE_FAILED', retryable: false });
  });
});
