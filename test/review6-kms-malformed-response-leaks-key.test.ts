/**
 * Review 6 (kms): a KMS answer that carries the plaintext data key but is not well-formed JSON
 * put that key into the error keywarden threw. SECURITY.md lists "a faulty or hostile KMS ...
 * return garbage" as a threat with typed errors as the answer, and errors never carry key
 * material. The SDK's JSON parser fails with a SyntaxError whose message quotes the text around
 * the fault (V8: `Unexpected token 'x', ..."8xg=","K":x}" is not valid JSON`: the last bytes of
 * the key in base64), and the SDK hangs the raw response on the error (hidden `$response`; with
 * its other JSON parser, the whole body as `$responseBodyText`). `mapKmsError` kept that SDK error as the KmsError's `cause`: the
 * base64 plaintext of a real conversation key (Decrypt) or of a new one (GenerateDataKey) rode
 * along in the error, to any logger that prints causes (util.inspect does by default; the hidden
 * fields with showHidden) or error tracker that serialises them.
 *
 * Where: src/kms/aws.ts `mapKmsError` (the cause of every KMS failure is the SDK's error as is).
 *
 * Now: a response the SDK could not read (a deserialization error: `$response` with a 2xx
 * status) is ERR_KMS_FAILED "returned an unexpected response" with no cause; the key appears
 * nowhere in the error, hidden properties included.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { isKeywardenError } from '../src/node.js';

const ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const KEY_B64 = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 0x9d) & 0xff)).toString('base64'); // …8xg=

let server: Server;
let client: KMSClient;
/** Each operation's answer: a 200 whose JSON goes wrong right after the plaintext key. */
const bodies: Record<string, string> = {
  Decrypt: `{"KeyId":"${ARN}","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","Plaintext":"${KEY_B64}","K":x}`,
  GenerateDataKey: `{"KeyId":"${ARN}","CiphertextBlob":"AAAA","Plaintext":"${KEY_B64}","K":x}`,
};

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const op = String(req.headers['x-amz-target'] ?? '').replace('TrentService.', '');
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' }).end(bodies[op] ?? '{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  client = new KMSClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', maxAttempts: 1,
    credentials: { accessKeyId: 'AKIAKEYWARDENTEST001', secretAccessKey: 'test-secret' },
  });
});

afterAll(async () => {
  client.destroy();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** Everything reachable from the error, hidden properties and causes included. */
const everything = (err: unknown) => inspect(err, { showHidden: true, depth: 8, maxStringLength: Infinity, maxArrayLength: Infinity });

describe('a KMS response that cannot be read', () => {
  const mk = () => new AwsKmsMasterKey({ client, keyId: ARN });
  const ctx = { 'keywarden:purpose': 'conversation-data-key', 'keywarden:conversation': 'c', 'keywarden:key-version': '1' };

  it('Decrypt: typed ERR_KMS_FAILED, and the key is nowhere in the error', async () => {
    const err = await mk().unwrapDataKey(new Uint8Array(40), ctx, ARN).then(() => undefined, (e: unknown) => e);
    expect(isKeywardenError(err) && err.code).toBe('ERR_KMS_FAILED');
    const all = everything(err);
    expect(all).not.toContain(KEY_B64);
    expect(all).not.toContain(KEY_B64.slice(-4)); // not even the part the parser's message quotes
  });

  it('GenerateDataKey: typed ERR_KMS_FAILED, and the key is nowhere in the error', async () => {
    const err = await mk().generateDataKey(ctx).then(() => undefined, (e: unknown) => e);
    expect(isKeywardenError(err) && err.code).toBe('ERR_KMS_FAILED');
    const all = everything(err);
    expect(all).not.toContain(KEY_B64);
    expect(all).not.toContain(KEY_B64.slice(-4));
  });
});
