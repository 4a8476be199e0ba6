// Exercises test/support/kms-server.ts through the REAL @aws-sdk/client-kms over HTTP, so the
// assertions below also document how the SDK surfaces each failure (for error-code mapping).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DecryptCommand, DescribeKeyCommand, DisabledException, EncryptCommand, GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand, IncorrectKeyException, InvalidCiphertextException, KMSClient,
  KMSInternalException, KMSInvalidStateException, KMSServiceException, ListKeysCommand, NotFoundException,
  ReEncryptCommand,
} from '@aws-sdk/client-kms';
import { kmsClientFor, startKmsServer, type FakeKmsKey, type KmsServer } from './support/kms-server.js';

type SdkError = Error & {
  code?: string; $fault?: string; $retryable?: unknown;
  $metadata: { httpStatusCode?: number; attempts?: number; requestId?: string };
};

/** Resolves with the rejection of `p`; fails the test if `p` resolves. */
async function rejection(p: Promise<unknown>): Promise<SdkError> {
  try {
    await p;
  } catch (err) {
    return err as SdkError;
  }
  throw new Error('expected the promise to reject');
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

let server: KmsServer;
let client: KMSClient; // maxAttempts: 1 — every server error surfaces as-is
let retrying: KMSClient; // SDK defaults (standard retry mode, 3 attempts)
let primary: FakeKmsKey;
let secondary: FakeKmsKey;

beforeAll(async () => {
  server = await startKmsServer();
  client = kmsClientFor(server, { maxAttempts: 1 });
  retrying = kmsClientFor(server);
  primary = server.createKey({ description: 'primary key', alias: 'alias/primary' });
  secondary = server.createKey();
});

beforeEach(() => {
  server.faults.reset();
  server.resetCounters();
});

afterAll(async () => {
  client.destroy();
  retrying.destroy();
  await server.close();
});

describe('server basics', () => {
  it('listens on 127.0.0.1 and reports its configuration', () => {
    expect(server.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.region).toBe('us-east-1');
    expect(primary.arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${primary.keyId}`);
    expect(primary.keyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});

describe('round trips', () => {
  it('GenerateDataKey then Decrypt returns the same data key', async () => {
    const ec = { conversation: 'c-1', tenant: 't' };
    const dk = await client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, KeySpec: 'AES_256', EncryptionContext: ec }));
    expect(dk.Plaintext).toHaveLength(32);
    expect(dk.KeyId).toBe(primary.arn);
    expect(dk.KeyMaterialId).toBe(primary.keyMaterialId);
    expect(Buffer.from(dk.CiphertextBlob!).includes(Buffer.from(dk.Plaintext!))).toBe(false);
    const out = await client.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec }));
    expect(Buffer.from(out.Plaintext!).equals(Buffer.from(dk.Plaintext!))).toBe(true);
    expect(out.KeyId).toBe(primary.arn);
    expect(out.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
  });

  it('every data key and blob is fresh', async () => {
    const a = await client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, KeySpec: 'AES_256' }));
    const b = await client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, KeySpec: 'AES_256' }));
    expect(Buffer.from(a.Plaintext!).equals(Buffer.from(b.Plaintext!))).toBe(false);
    expect(Buffer.from(a.CiphertextBlob!).equals(Buffer.from(b.CiphertextBlob!))).toBe(false);
  });

  it('honours KeySpec AES_128 and NumberOfBytes, and validates them', async () => {
    const k128 = await client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, KeySpec: 'AES_128' }));
    expect(k128.Plaintext).toHaveLength(16);
    const k64 = await client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, NumberOfBytes: 64 }));
    expect(k64.Plaintext).toHaveLength(64);
    const both = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, KeySpec: 'AES_256', NumberOfBytes: 32 })));
    expect(both.name).toBe('ValidationException');
    const neither = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId })));
    expect(neither.name).toBe('ValidationException');
    const tooMany = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: primary.keyId, NumberOfBytes: 1025 })));
    expect(tooMany.name).toBe('ValidationException');
    expect(tooMany.$metadata.httpStatusCode).toBe(400);
  });

  it('GenerateDataKeyWithoutPlaintext returns only a blob that decrypts', async () => {
    const ec = { purpose: 'wrap' };
    const dk = await client.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: 'alias/primary', NumberOfBytes: 32, EncryptionContext: ec }));
    expect(dk).not.toHaveProperty('Plaintext');
    expect(dk.KeyId).toBe(primary.arn);
    const out = await client.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec }));
    expect(out.Plaintext).toHaveLength(32);
  });

  it('Encrypt then Decrypt, with a 4096-byte limit on Plaintext', async () => {
    const enc = await client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: bytes('hello'), EncryptionContext: { a: '1' } }));
    expect(enc.KeyId).toBe(primary.arn);
    expect(enc.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT');
    const dec = await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { a: '1' } }));
    expect(text(dec.Plaintext)).toBe('hello');
    await expect(client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: new Uint8Array(4096) }))).resolves.toBeDefined();
    const big = await rejection(client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: new Uint8Array(4097) })));
    expect(big.name).toBe('ValidationException');
  });

  it('ReEncrypt moves a blob to another key and context', async () => {
    const enc = await client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: bytes('secret'), EncryptionContext: { v: '1' } }));
    const re = await client.send(new ReEncryptCommand({
      CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: { v: '1' },
      DestinationKeyId: secondary.arn, DestinationEncryptionContext: { v: '2' },
    }));
    expect(re.SourceKeyId).toBe(primary.arn);
    expect(re.KeyId).toBe(secondary.arn);
    const dec = await client.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { v: '2' } }));
    expect(text(dec.Plaintext)).toBe('secret');
    expect(dec.KeyId).toBe(secondary.arn);
    // Source side enforces its context and, if given, the source key id.
    const badCtx = await rejection(client.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: secondary.keyId })));
    expect(badCtx).toBeInstanceOf(InvalidCiphertextException);
    const badSrc = await rejection(client.send(new ReEncryptCommand({
      CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: { v: '1' }, SourceKeyId: secondary.keyId, DestinationKeyId: secondary.keyId,
    })));
    expect(badSrc).toBeInstanceOf(IncorrectKeyException);
  });
});

describe('encryption context and ciphertext integrity', () => {
  let blob: Uint8Array;
  const ec = { conversation: 'c-42', 'emoji-\u{1F600}': 'v', z: '' };

  beforeAll(async () => {
    blob = (await client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: bytes('pt'), EncryptionContext: ec }))).CiphertextBlob!;
  });

  it('decrypts with the same context in any key order', async () => {
    const reordered = Object.fromEntries(Object.entries(ec).reverse());
    const out = await client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: reordered }));
    expect(text(out.Plaintext)).toBe('pt');
  });

  it.each([
    ['missing', undefined],
    ['empty', {}],
    ['wrong value', { ...ec, conversation: 'c-43' }],
    ['extra key', { ...ec, extra: 'x' }],
    ['dropped key', { conversation: 'c-42', z: '' }],
  ])('rejects a %s context with InvalidCiphertextException', async (_label, context) => {
    const err = await rejection(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })));
    expect(err).toBeInstanceOf(InvalidCiphertextException);
    expect(err.name).toBe('InvalidCiphertextException');
    expect(err.$fault).toBe('client');
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  it('length-prefixes context entries so shifted boundaries do not collide', async () => {
    const enc = await client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: bytes('x'), EncryptionContext: { a: 'bc' } }));
    const err = await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { ab: 'c' } })));
    expect(err).toBeInstanceOf(InvalidCiphertextException);
  });

  it('rejects tampered, truncated and garbage blobs with InvalidCiphertextException', async () => {
    const variants: Uint8Array[] = [];
    for (const i of [0, 1, 5, blob.length - 20, blob.length - 1]) {
      const t = Uint8Array.from(blob);
      t[i] = (t[i] ?? 0) ^ 0x01;
      variants.push(t);
    }
    variants.push(blob.subarray(0, blob.length - 1), blob.subarray(0, 10), bytes('not a kms blob at all, not at all'));
    for (const v of variants) {
      const err = await rejection(client.send(new DecryptCommand({ CiphertextBlob: v, EncryptionContext: ec })));
      expect(err).toBeInstanceOf(InvalidCiphertextException);
    }
  });
});

describe('key identifiers', () => {
  it('resolves key id, key ARN, alias name and alias ARN to the same key', async () => {
    const aliasArn = 'arn:aws:kms:us-east-1:111122223333:alias/primary';
    for (const id of [primary.keyId, primary.arn, 'alias/primary', aliasArn]) {
      const enc = await client.send(new EncryptCommand({ KeyId: id, Plaintext: bytes('x') }));
      expect(enc.KeyId).toBe(primary.arn);
      const meta = (await client.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
      expect(meta.KeyId).toBe(primary.keyId);
    }
  });

  it('supports aliases added after creation', async () => {
    server.addAlias('alias/later', secondary.keyId);
    const enc = await client.send(new EncryptCommand({ KeyId: 'alias/later', Plaintext: bytes('x') }));
    expect(enc.KeyId).toBe(secondary.arn);
    expect(() => server.addAlias('alias/later', primary.keyId)).toThrow(/already exists/);
  });

  it.each([
    ['unknown key id', '00000000-0000-4000-8000-000000000000'],
    ['unknown alias', 'alias/nope'],
    ['ARN in another region', `arn:aws:kms:eu-west-1:111122223333:key/PLACEHOLDER`],
    ['ARN in another account', `arn:aws:kms:us-east-1:999999999999:key/PLACEHOLDER`],
  ])('%s -> NotFoundException', async (_label, raw) => {
    const id = raw.replace('PLACEHOLDER', primary.keyId);
    const err = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: id, KeySpec: 'AES_256' })));
    expect(err).toBeInstanceOf(NotFoundException);
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  it('DescribeKey returns KMS-shaped metadata', async () => {
    const before = Date.now();
    const key = server.createKey({ description: 'described' });
    const meta = (await client.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
    expect(meta).toMatchObject({
      KeyId: key.keyId, Arn: key.arn, Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT',
      KeySpec: 'SYMMETRIC_DEFAULT', Description: 'described', AWSAccountId: '111122223333',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    });
    expect(meta.CreationDate).toBeInstanceOf(Date);
    expect(Math.abs(meta.CreationDate!.getTime() - before)).toBeLessThan(5_000);
  });

  it('Decrypt with a non-matching KeyId -> IncorrectKeyException; a matching alias is fine', async () => {
    const enc = await client.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: bytes('x') }));
    const err = await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: secondary.keyId })));
    expect(err).toBeInstanceOf(IncorrectKeyException);
    expect(err.name).toBe('IncorrectKeyException');
    const ok = await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: 'alias/primary' }));
    expect(text(ok.Plaintext)).toBe('x');
  });
});

describe('key state and access', () => {
  it('disabled key -> DisabledException for crypto; DescribeKey still works; re-enabling restores', async () => {
    const key = server.createKey();
    const enc = await client.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x') }));
    server.setKeyState(key.keyId, 'Disabled');
    expect(key.enabled).toBe(false);
    const gen = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' })));
    expect(gen).toBeInstanceOf(DisabledException);
    expect(gen.$metadata.httpStatusCode).toBe(400);
    expect(await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).toBeInstanceOf(DisabledException);
    const meta = (await client.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
    expect(meta).toMatchObject({ Enabled: false, KeyState: 'Disabled' });
    server.setKeyState(key.keyId, 'Enabled');
    expect(text((await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext)).toBe('x');
  });

  it('pending deletion -> KMSInvalidStateException', async () => {
    const key = server.createKey();
    server.setKeyState(key.keyId, 'PendingDeletion');
    const err = await rejection(client.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x') })));
    expect(err).toBeInstanceOf(KMSInvalidStateException);
    const meta = (await client.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
    expect(meta.KeyState).toBe('PendingDeletion');
    expect(meta.DeletionDate).toBeInstanceOf(Date);
  });

  it('denyAccess -> AccessDeniedException (unmodelled: KMSServiceException), not retried', async () => {
    const key = server.createKey();
    server.denyAccess(key.keyId);
    const err = await rejection(retrying.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' })));
    expect(err).toBeInstanceOf(KMSServiceException);
    expect(err.name).toBe('AccessDeniedException');
    expect(err.$fault).toBe('client');
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(server.calls.GenerateDataKey).toBe(1);
    server.allowAccess(key.keyId);
    await expect(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' }))).resolves.toBeDefined();
  });

  it('denyAccess with an op list only blocks those ops', async () => {
    const key = server.createKey({ alias: 'alias/decrypt-denied' });
    server.denyAccess('alias/decrypt-denied', ['Decrypt']);
    const enc = await client.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: bytes('x') }));
    const err = await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })));
    expect(err.name).toBe('AccessDeniedException');
    expect(err.message).toContain('kms:Decrypt');
    server.denyAccess(key.keyId, ['ReEncrypt']);
    const re = await rejection(client.send(new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: primary.keyId })));
    expect(re.name).toBe('AccessDeniedException');
    expect(text((await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }))).Plaintext)).toBe('x');
  });
});

describe('fault injection', () => {
  const describePrimary = (c: KMSClient) => c.send(new DescribeKeyCommand({ KeyId: primary.keyId }));

  it('throttling with maxAttempts 1 surfaces ThrottlingException', async () => {
    server.faults.throttleNext(1);
    const err = await rejection(describePrimary(client));
    expect(err).toBeInstanceOf(KMSServiceException);
    expect(err.name).toBe('ThrottlingException');
    expect(err.$fault).toBe('client');
    expect(err.$retryable).toBeUndefined();
    expect(err.$metadata.httpStatusCode).toBe(400);
    expect(err.$metadata.attempts).toBe(1);
    expect(server.log.at(-1)).toMatchObject({ op: 'DescribeKey', status: 400 });
    await expect(describePrimary(client)).resolves.toBeDefined(); // only the next n requests
  });

  it('a single throttle is retried transparently with default retries', async () => {
    server.faults.throttleNext(1);
    const out = await describePrimary(retrying);
    expect(out.KeyMetadata?.KeyId).toBe(primary.keyId);
    expect(out.$metadata.attempts).toBe(2);
    expect(server.calls.DescribeKey).toBe(2);
  });

  it('HTTP 500 surfaces KMSInternalException with maxAttempts 1 and is retried by default', async () => {
    server.faults.failNext(1);
    const err = await rejection(describePrimary(client));
    expect(err).toBeInstanceOf(KMSInternalException);
    expect(err.name).toBe('KMSInternalException');
    expect(err.$fault).toBe('server');
    expect(err.$metadata.httpStatusCode).toBe(500);
    server.faults.failNext(1);
    await expect(describePrimary(retrying)).resolves.toBeDefined();
    expect(server.calls.DescribeKey).toBe(3);
  });

  it('failNext with another status uses InternalFailure', async () => {
    server.faults.failNext(1, 503);
    const err = await rejection(describePrimary(client));
    expect(err).toBeInstanceOf(KMSServiceException);
    expect(err.name).toBe('InternalFailure');
    expect(err.$fault).toBe('server');
    expect(err.$metadata.httpStatusCode).toBe(503);
  });

  it('dropped connection surfaces a network error, and is retried by default', async () => {
    server.faults.dropNext(1);
    const err = await rejection(describePrimary(client));
    expect(err).not.toBeInstanceOf(KMSServiceException);
    expect(err.name).toBe('TimeoutError'); // node-http-handler renames ECONNRESET errors
    expect(err.code).toBe('ECONNRESET');
    expect(err.$metadata.httpStatusCode).toBeUndefined();
    expect(server.log.at(-1)).toMatchObject({ op: 'DescribeKey', status: 0 });
    server.faults.dropNext(1);
    await expect(describePrimary(retrying)).resolves.toBeDefined();
    expect(server.calls.DescribeKey).toBe(3);
  });

  it('counts faults per request and reset() clears them', async () => {
    server.faults.throttleNext(2);
    expect((await rejection(describePrimary(client))).name).toBe('ThrottlingException');
    expect((await rejection(describePrimary(client))).name).toBe('ThrottlingException');
    await expect(describePrimary(client)).resolves.toBeDefined();
    server.faults.throttleNext(1);
    server.faults.failNext(1);
    server.faults.dropNext(1);
    server.faults.reset();
    await expect(describePrimary(client)).resolves.toBeDefined();
    expect(() => server.faults.throttleNext(-1)).toThrow(RangeError);
    expect(() => server.faults.failNext(1, 404)).toThrow(RangeError);
  });

  it('latency delays every response, success or error', async () => {
    server.faults.latencyMs = 150;
    let t0 = performance.now();
    await describePrimary(client);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    server.faults.throttleNext(1);
    t0 = performance.now();
    await rejection(describePrimary(client));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    server.faults.latencyMs = 0;
    t0 = performance.now();
    await describePrimary(client);
    expect(performance.now() - t0).toBeLessThan(150);
  });

  it('latencyMs can be set at start-up', async () => {
    const slow = await startKmsServer({ latencyMs: 100 });
    const c = kmsClientFor(slow, { maxAttempts: 1 });
    try {
      const key = slow.createKey();
      const t0 = performance.now();
      await c.send(new DescribeKeyCommand({ KeyId: key.keyId }));
      expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    } finally {
      c.destroy();
      await slow.close();
    }
  });
});

describe('counters and log', () => {
  it('counts calls per operation and logs key, context and status', async () => {
    const dk = await client.send(new GenerateDataKeyCommand({ KeyId: 'alias/primary', KeySpec: 'AES_256', EncryptionContext: { c: '1' } }));
    await client.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { c: '1' } }));
    await rejection(client.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { c: '2' } })));
    await client.send(new DescribeKeyCommand({ KeyId: secondary.keyId }));
    expect(server.calls).toEqual({ GenerateDataKey: 1, Decrypt: 2, DescribeKey: 1 });
    expect(server.log).toEqual([
      { op: 'GenerateDataKey', keyId: primary.keyId, encryptionContext: { c: '1' }, status: 200 },
      { op: 'Decrypt', keyId: primary.keyId, encryptionContext: { c: '1' }, status: 200 },
      { op: 'Decrypt', keyId: primary.keyId, encryptionContext: { c: '2' }, status: 400 },
      { op: 'DescribeKey', keyId: secondary.keyId, status: 200 },
    ]);
    const calls = server.calls;
    server.resetCounters();
    expect(calls).toEqual({});
    expect(server.log).toEqual([]);
  });
});

describe('protocol and authentication', () => {
  it('rejects operations it does not implement with UnknownOperationException', async () => {
    const err = await rejection(client.send(new ListKeysCommand({})));
    expect(err).toBeInstanceOf(KMSServiceException);
    expect(err.name).toBe('UnknownOperationException');
    expect(err.$metadata.httpStatusCode).toBe(400);
  });

  it('rejects unsigned requests, with __type and x-amzn-ErrorType', async () => {
    const res = await fetch(server.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.DescribeKey' },
      body: JSON.stringify({ KeyId: primary.keyId }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('x-amzn-errortype')).toBe('MissingAuthenticationTokenException');
    expect(await res.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
  });

  it('rejects a wrong secret key (InvalidSignatureException) and an unknown access key id', async () => {
    const wrongSecret = kmsClientFor(server, { maxAttempts: 1, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: 'wrong' } });
    const wrongId = kmsClientFor(server, { maxAttempts: 1, credentials: { accessKeyId: 'AKIAOTHER', secretAccessKey: server.secretAccessKey } });
    try {
      expect((await rejection(wrongSecret.send(new DescribeKeyCommand({ KeyId: primary.keyId })))).name).toBe('InvalidSignatureException');
      expect((await rejection(wrongId.send(new DescribeKeyCommand({ KeyId: primary.keyId })))).name).toBe('UnrecognizedClientException');
    } finally {
      wrongSecret.destroy();
      wrongId.destroy();
    }
  });

  it('verifies the signature over signed headers and the body', async () => {
    const tampering = kmsClientFor(server, { maxAttempts: 1 });
    // Runs after signing (deserialize step wraps the transport), so it alters a signed request.
    tampering.middlewareStack.add((next) => async (args) => {
      const req = args.request as { headers: Record<string, string>; body: string | Uint8Array };
      if (req.headers['x-amz-target'] === 'TrentService.Encrypt') req.headers['x-amz-target'] = 'TrentService.DescribeKey';
      else req.body = (typeof req.body === 'string' ? req.body : text(req.body)).replace(primary.keyId, secondary.keyId);
      return next(args);
    }, { step: 'deserialize', name: 'tamperAfterSigning' });
    try {
      const header = await rejection(tampering.send(new EncryptCommand({ KeyId: primary.keyId, Plaintext: bytes('x') })));
      expect(header.name).toBe('InvalidSignatureException');
      const body = await rejection(tampering.send(new DescribeKeyCommand({ KeyId: primary.keyId })));
      expect(body.name).toBe('InvalidSignatureException');
      expect(body.message).toMatch(/x-amz-content-sha256/); // the signed body hash no longer matches
    } finally {
      tampering.destroy();
    }
  });

  it('rejects signatures outside the allowed clock skew', async () => {
    const skewed = kmsClientFor(server, { maxAttempts: 1, systemClockOffset: -10 * 60_000 });
    try {
      const err = await rejection(skewed.send(new DescribeKeyCommand({ KeyId: primary.keyId })));
      expect(err.name).toBe('InvalidSignatureException');
      expect(err.message).toMatch(/^Signature expired/);
    } finally {
      skewed.destroy();
    }
  });
});
