/**
 * AWS KMS `KeyUnavailableException` is classified as a permanent `ERR_KMS_KEY_UNAVAILABLE`
 * (retryable: false) instead of the retryable `ERR_KMS_UNAVAILABLE`.
 *
 * Where: src/kms/aws.ts:44 puts 'KeyUnavailableException' in KEY_UNAVAILABLE, and mapKmsError
 * (src/kms/aws.ts:63-66) tests that set before `$fault === 'server'`.
 *
 * Why it is wrong: the AWS KMS API (and @aws-sdk/client-kms's own model: `$fault: "server"`,
 * HTTP 500) describes KeyUnavailableException as "The request was rejected because the specified
 * KMS key was not available. You can retry the request." — a transient server-side fault. README
 * "Errors" documents ERR_KMS_KEY_UNAVAILABLE as "the master key is disabled, pending deletion or
 * not found" (not retryable) and ERR_KMS_UNAVAILABLE as "throttled, timed out, network failure or
 * KMS server fault" (retryable). So a transient KMS fault is reported as a permanent key problem:
 * callers that honour `retryable` do not retry, `kw.rewrap` (withRetry, src/keys/rewrap.ts) stops
 * the whole run on the first one instead of backing off, and `keywarden keys rewrap` says the key
 * is disabled or denied (exit 3).
 *
 * Correct: KeyUnavailableException → ERR_KMS_UNAVAILABLE, retryable (keep the permanent code for
 * NotFound/Disabled/KMSInvalidState).
 *
 * Now: KeyUnavailableException is ERR_KMS_UNAVAILABLE (retryable).
 */
import { DecryptCommand, KeyUnavailableException } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { AwsKmsMasterKey, mapKmsError } from '../src/kms/aws.js';

const ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const keyUnavailable = () => new KeyUnavailableException({ message: 'The specified KMS key is not available. You can retry the request.', $metadata: { httpStatusCode: 500 } });

describe('KeyUnavailableException (a retryable KMS server fault)', () => {
  it('mapKmsError maps it to the retryable ERR_KMS_UNAVAILABLE', () => {
    const e = mapKmsError(keyUnavailable(), 'Decrypt');
    expect({ code: e.code, retryable: e.retryable }).toEqual({ code: 'ERR_KMS_UNAVAILABLE', retryable: true });
  });

  it('AwsKmsMasterKey.unwrapDataKey reports it as retryable', async () => {
    const client = { send: async (cmd: unknown) => { if (cmd instanceof DecryptCommand) throw keyUnavailable(); throw new Error('unexpected'); } };
    const key = new AwsKmsMasterKey({ client: client as never, keyId: ARN });
    const err = await key.unwrapDataKey(new Uint8Array(64), { 'keywarden:conversation': 'dm:a' }, ARN).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_KMS_UNAVAILABLE', retryable: true });
  });
});
