/**
 * A KMS-compatible HTTP endpoint for tests. The real `@aws-sdk/client-kms` talks to it over
 * HTTP on 127.0.0.1, so tests exercise the SDK's serializer, SigV4 signer, error deserializer
 * and retry strategy exactly as in production — a mocked client would hide all of that.
 *
 * Protocol: AWS JSON 1.1 (POST /, `X-Amz-Target: TrentService.<Op>`, base64 blobs in JSON).
 * Errors carry `__type` in the body and `x-amzn-ErrorType` in the headers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';

export interface KmsServerOptions { latencyMs?: number; accessKeyId?: string; secretAccessKey?: string; region?: string }
export type FakeKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';
/** Live view of a key: `enabled`/`keyState`/`deletionDate` follow `setKeyState`. Key material is never exposed. */
export interface FakeKmsKey {
  readonly keyId: string; readonly arn: string; readonly keyMaterialId: string; readonly creationDate: Date;
  description: string; enabled: boolean; keyState: FakeKeyState; deletionDate?: Date;
}
export interface KmsLogEntry { op: string; keyId?: string; encryptionContext?: Record<string, string>; status: number }
export interface KmsServer {
  endpoint: string; region: string; accessKeyId: string; secretAccessKey: string;
  createKey(opts?: { description?: string; alias?: string }): FakeKmsKey;
  /**
   * For seeding and checking large tests only, in process (no HTTP, not counted in `calls` or
   * `log`): `encryptDirect` makes the blob Encrypt would return for `plaintext` under `keyId` and
   * `context`; `decryptDirect` applies Decrypt's checks (the key the blob names, access, key
   * state, context) and returns the plaintext. Every other use goes through the real client.
   */
  encryptDirect(keyId: string, plaintext: Uint8Array, context: Record<string, string>): { ciphertextBlob: Buffer; keyArn: string };
  decryptDirect(blob: Uint8Array, context: Record<string, string>, keyId?: string): Buffer;
  addAlias(alias: string, keyId: string): void;
  setKeyState(keyId: string, state: FakeKeyState): void;
  denyAccess(keyId: string, ops?: string[]): void;
  allowAccess(keyId: string): void;
  faults: { throttleNext(n: number): void; failNext(n: number, status?: number): void; dropNext(n: number): void; hangNext(n: number): void; latencyMs: number; reset(): void };
  calls: Record<string, number>;
  log: KmsLogEntry[];
  resetCounters(): void;
  close(): Promise<void>;
}

const ACCOUNT = '111122223333';
const BLOB_VERSION = 0x01;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const MAX_SKEW_MS = 5 * 60_000; // what AWS tolerates between x-amz-date and its own clock
const ALG = 'SYMMETRIC_DEFAULT';

/** An error the server reports to the client in the AWS JSON error shape. */
class KmsError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) { super(message); }
}
const invalidCiphertext = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid or was not produced for this encryption context.');
const validation = (msg: string) => new KmsError('ValidationException', msg);

type Input = Record<string, unknown>;
interface KeyRecord { meta: FakeKmsKey; material: Buffer }

const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
/** RFC 3986 encoding exactly as the SDK signer's `escapeUri` does it. */
const escapeUri = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };

/**
 * Canonical encoding of an encryption context, used as AES-GCM associated data. Entries are sorted
 * by UTF-8 bytes (= Unicode code point order; JS's default sort uses UTF-16 code units, which
 * disagrees for astral characters) and every key and value is length-prefixed, so no two distinct
 * contexts share an encoding. An empty and an absent context are the same thing, as in KMS.
 */
function encodeContext(ec: Record<string, string>): Buffer {
  const entries = Object.entries(ec).map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  return Buffer.concat([u32(entries.length), ...entries.flatMap(([k, v]) => [u32(k.length), k, u32(v.length), v])]);
}

function readContext(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new KmsError('SerializationException', `${field} must be a map`);
  for (const [k, v] of Object.entries(value)) {
    // Lone surrogates would be replaced by U+FFFD in UTF-8, letting two contexts collide: reject them.
    if (typeof v !== 'string' || Buffer.from(k).toString() !== k || Buffer.from(v).toString() !== v) {
      throw validation(`${field} keys and values must be well-formed strings`);
    }
  }
  return value as Record<string, string>;
}

function readBlob(value: unknown, field: string): Buffer {
  if (value === undefined || value === null) throw validation(`1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw new KmsError('SerializationException', `${field} is not valid base64`);
  return Buffer.from(value, 'base64');
}

function checkAlgorithm(value: unknown): void {
  if (value !== undefined && value !== ALG) throw new KmsError('InvalidKeyUsageException', `Encryption algorithm ${String(value)} is not supported by a symmetric key`);
}

/** Canonical URI as the SDK signer builds it: normalise `.`/`..` and empty segments, then escape. */
function canonicalUri(path: string): string {
  const segs: string[] = [];
  for (const s of path.split('/')) { if (s === '' || s === '.') continue; if (s === '..') segs.pop(); else segs.push(s); }
  return escapeUri(`/${segs.join('/')}${segs.length > 0 && path.endsWith('/') ? '/' : ''}`).replace(/%2F/g, '/');
}

const AUTH_RE = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

/** Full SigV4 verification (header form), so a client with wrong credentials or a broken signer fails loudly. */
function verifySigV4(req: IncomingMessage, body: Buffer, creds: { accessKeyId: string; secretAccessKey: string; region: string }): void {
  const auth = req.headers.authorization;
  if (!auth) throw new KmsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH_RE.exec(auth);
  const amzDate = req.headers['x-amz-date'];
  if (!m || typeof amzDate !== 'string' || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw new KmsError('IncompleteSignatureException', 'Malformed SigV4 Authorization header or x-amz-date');
  const [, akid, date, region, service, signedHeaders, signature] = m as unknown as string[];
  if (akid !== creds.accessKeyId) throw new KmsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (date !== amzDate.slice(0, 8) || region !== creds.region || service !== 'kms') {
    throw new KmsError('InvalidSignatureException', `Credential should be scoped to ${amzDate.slice(0, 8)}/${creds.region}/kms`);
  }
  const signedAt = Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  if (Math.abs(Date.now() - signedAt) > MAX_SKEW_MS) throw new KmsError('InvalidSignatureException', `Signature expired: ${amzDate} is outside the allowed clock skew`);
  const names = (signedHeaders as string).split(';');
  if (!names.includes('host')) throw new KmsError('InvalidSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  const payloadHash = sha256Hex(body);
  const claimed = req.headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadHash) throw new KmsError('InvalidSignatureException', 'x-amz-content-sha256 does not match the request body');
  // Repeated headers are comma-joined; values are trimmed with inner whitespace runs collapsed.
  const canonHeaders = names.map((n) => `${n}:${(req.headersDistinct[n] ?? []).map((v) => v.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim()).join(',')}\n`).join('');
  // The JSON protocol never uses a query string, so the canonical query is always empty.
  const [path = '/', query] = (req.url ?? '/').split('?', 2);
  if (query) throw new KmsError('InvalidSignatureException', 'Unexpected query string on a KMS JSON request');
  const canonicalRequest = [req.method, canonicalUri(path), '', canonHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/kms/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${creds.secretAccessKey}`, date as string);
  for (const part of [region as string, 'kms', 'aws4_request']) key = hmac(key, part);
  if (!timingSafeEqual(hmac(key, stringToSign), Buffer.from(signature as string, 'hex'))) {
    throw new KmsError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Waits until `deadline` (performance.now() ms). Loops because timers may fire a little early. */
async function sleepUntil(deadline: number): Promise<void> {
  while (performance.now() < deadline) await new Promise((r) => setTimeout(r, Math.ceil(deadline - performance.now())));
}

export async function startKmsServer(opts: KmsServerOptions = {}): Promise<KmsServer> {
  const region = opts.region ?? 'us-east-1';
  const creds = { region, accessKeyId: opts.accessKeyId ?? 'AKIAKEYWARDENTEST001', secretAccessKey: opts.secretAccessKey ?? randomBytes(30).toString('base64') };
  const keys = new Map<string, KeyRecord>();
  const aliases = new Map<string, string>(); // "alias/x" -> key id
  const denied = new Map<string, Set<string> | 'all'>();
  const calls: Record<string, number> = {};
  const log: KmsLogEntry[] = [];
  let throttles = 0, failures = 0, failStatus = 500, drops = 0, hangs = 0;
  const hung = new Set<ServerResponse>();
  const keyArn = (id: string) => `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;
  const aliasArn = (alias: string) => `arn:aws:kms:${region}:${ACCOUNT}:${alias}`;
  const count = (n: number) => { if (!Number.isInteger(n) || n < 0) throw new RangeError(`fault count must be a non-negative integer, got ${n}`); return n; };

  /** Accepts key id, key ARN, alias name or alias ARN, like every KMS KeyId parameter. */
  function resolve(id: unknown, field = 'KeyId'): KeyRecord {
    if (typeof id !== 'string' || id.length === 0 || id.length > 2048) throw validation(`1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length between 1 and 2048`);
    let ref = id;
    const arn = /^arn:aws:kms:([^:]*):([^:]*):(key|alias)\/(.+)$/.exec(id);
    if (arn) {
      if (arn[1] !== region || arn[2] !== ACCOUNT) throw new KmsError('NotFoundException', `Invalid arn ${id}`);
      ref = arn[3] === 'alias' ? `alias/${arn[4]}` : (arn[4] as string);
    }
    if (ref.startsWith('alias/')) {
      const target = aliases.get(ref);
      if (target === undefined) throw new KmsError('NotFoundException', `Alias ${aliasArn(ref)} is not found.`);
      ref = target;
    }
    const rec = keys.get(ref);
    if (!rec) throw new KmsError('NotFoundException', `Key '${keyArn(ref)}' does not exist`);
    return rec;
  }

  function checkAccess(rec: KeyRecord, op: string): void {
    const d = denied.get(rec.meta.keyId);
    // "ReEncrypt" in a deny list covers both halves (kms:ReEncryptFrom / kms:ReEncryptTo).
    if (d === 'all' || d?.has(op) || (op.startsWith('ReEncrypt') && d?.has('ReEncrypt'))) {
      throw new KmsError('AccessDeniedException', `User: arn:aws:iam::${ACCOUNT}:user/test is not authorized to perform: kms:${op} on resource: ${rec.meta.arn} because no resource-based policy allows the kms:${op} action`);
    }
  }

  /** Authorisation first, then key state — the order KMS applies. */
  function usable(rec: KeyRecord, op: string): void {
    checkAccess(rec, op);
    if (rec.meta.keyState === 'Disabled') throw new KmsError('DisabledException', `${rec.meta.arn} is disabled.`);
    if (rec.meta.keyState === 'PendingDeletion') throw new KmsError('KMSInvalidStateException', `${rec.meta.arn} is pending deletion.`);
  }

  /**
   * Blob = version(1) | idLen(1) | keyId | nonce(12) | AES-256-GCM ciphertext | tag(16).
   * The AAD is the header plus the canonical context, so neither the key id nor the context can
   * be swapped without the tag failing.
   */
  function seal(rec: KeyRecord, plaintext: Buffer, ec: Record<string, string>): Buffer {
    const id = Buffer.from(rec.meta.keyId, 'utf8');
    const header = Buffer.concat([Buffer.from([BLOB_VERSION, id.length]), id]);
    const nonce = randomBytes(NONCE_LEN);
    const cipher = createCipheriv('aes-256-gcm', rec.material, nonce, { authTagLength: TAG_LEN });
    cipher.setAAD(Buffer.concat([header, encodeContext(ec)]));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, nonce, ct, cipher.getAuthTag()]);
  }

  /** Finds the key a blob names. A blob naming no key here is treated as tampered, not as NotFound. */
  function blobKey(blob: Buffer): KeyRecord {
    const idLen = blob[1] ?? 0;
    if (blob[0] !== BLOB_VERSION || blob.length < 2 + idLen + NONCE_LEN + TAG_LEN) throw invalidCiphertext();
    const rec = keys.get(blob.subarray(2, 2 + idLen).toString('utf8'));
    if (!rec) throw invalidCiphertext();
    return rec;
  }

  function open(rec: KeyRecord, blob: Buffer, ec: Record<string, string>): Buffer {
    const headerLen = 2 + (blob[1] ?? 0);
    const decipher = createDecipheriv('aes-256-gcm', rec.material, blob.subarray(headerLen, headerLen + NONCE_LEN), { authTagLength: TAG_LEN });
    decipher.setAAD(Buffer.concat([blob.subarray(0, headerLen), encodeContext(ec)]));
    decipher.setAuthTag(blob.subarray(blob.length - TAG_LEN));
    try {
      return Buffer.concat([decipher.update(blob.subarray(headerLen + NONCE_LEN, blob.length - TAG_LEN)), decipher.final()]);
    } catch {
      throw invalidCiphertext();
    }
  }

  /** Decrypt/ReEncrypt source side: the blob names its key; an explicit key id must agree with it. */
  function sourceKey(blob: Buffer, expected: unknown, op: string): KeyRecord {
    const rec = blobKey(blob);
    if (expected !== undefined && resolve(expected) !== rec) {
      throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
    }
    usable(rec, op);
    return rec;
  }

  function dataKeyLength(input: Input): number {
    const { KeySpec: spec, NumberOfBytes: n } = input;
    if ((spec === undefined) === (n === undefined)) throw validation('Please specify either number of bytes or key spec.');
    if (spec !== undefined) {
      if (spec !== 'AES_256' && spec !== 'AES_128') throw validation(`1 validation error detected: Value '${String(spec)}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
      return spec === 'AES_256' ? 32 : 16;
    }
    if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 1024) throw validation(`1 validation error detected: Value '${String(n)}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024`);
    return n as number;
  }

  const b64 = (b: Buffer) => b.toString('base64');

  function generateDataKey(input: Input, entry: KmsLogEntry, withPlaintext: boolean): Input {
    const len = dataKeyLength(input);
    const ec = readContext(input.EncryptionContext, 'EncryptionContext');
    const rec = resolve(input.KeyId);
    entry.keyId = rec.meta.keyId;
    usable(rec, entry.op);
    const plaintext = randomBytes(len);
    const out: Input = { CiphertextBlob: b64(seal(rec, plaintext, ec)), KeyId: rec.meta.arn, KeyMaterialId: rec.meta.keyMaterialId };
    if (withPlaintext) out.Plaintext = b64(plaintext);
    return out;
  }

  // Each handler validates input, resolves keys (recording the resolved key id in the log), then
  // enforces access and key state before doing any cryptography.
  const operations: Record<string, (input: Input, entry: KmsLogEntry) => Input> = {
    GenerateDataKey: (input, entry) => generateDataKey(input, entry, true),
    GenerateDataKeyWithoutPlaintext: (input, entry) => generateDataKey(input, entry, false),
    Encrypt(input, entry) {
      const plaintext = readBlob(input.Plaintext, 'plaintext');
      if (plaintext.length < 1 || plaintext.length > 4096) throw validation("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096");
      const ec = readContext(input.EncryptionContext, 'EncryptionContext');
      checkAlgorithm(input.EncryptionAlgorithm);
      const rec = resolve(input.KeyId);
      entry.keyId = rec.meta.keyId;
      usable(rec, 'Encrypt');
      return { CiphertextBlob: b64(seal(rec, plaintext, ec)), KeyId: rec.meta.arn, EncryptionAlgorithm: ALG };
    },
    Decrypt(input, entry) {
      const blob = readBlob(input.CiphertextBlob, 'ciphertextBlob');
      const ec = readContext(input.EncryptionContext, 'EncryptionContext');
      checkAlgorithm(input.EncryptionAlgorithm);
      const rec = sourceKey(blob, input.KeyId, 'Decrypt');
      entry.keyId = rec.meta.keyId;
      const plaintext = open(rec, blob, ec);
      return { Plaintext: b64(plaintext), KeyId: rec.meta.arn, EncryptionAlgorithm: ALG, KeyMaterialId: rec.meta.keyMaterialId };
    },
    ReEncrypt(input, entry) {
      const blob = readBlob(input.CiphertextBlob, 'ciphertextBlob');
      const srcEc = readContext(input.SourceEncryptionContext, 'SourceEncryptionContext');
      const dstEc = readContext(input.DestinationEncryptionContext, 'DestinationEncryptionContext');
      checkAlgorithm(input.SourceEncryptionAlgorithm);
      checkAlgorithm(input.DestinationEncryptionAlgorithm);
      const dst = resolve(input.DestinationKeyId, 'DestinationKeyId');
      entry.keyId = dst.meta.keyId;
      const src = sourceKey(blob, input.SourceKeyId, 'ReEncryptFrom');
      usable(dst, 'ReEncryptTo');
      const plaintext = open(src, blob, srcEc);
      return {
        CiphertextBlob: b64(seal(dst, plaintext, dstEc)), SourceKeyId: src.meta.arn, KeyId: dst.meta.arn,
        SourceEncryptionAlgorithm: ALG, DestinationEncryptionAlgorithm: ALG,
        SourceKeyMaterialId: src.meta.keyMaterialId, DestinationKeyMaterialId: dst.meta.keyMaterialId,
      };
    },
    DescribeKey(input, entry) {
      const rec = resolve(input.KeyId);
      entry.keyId = rec.meta.keyId;
      checkAccess(rec, 'DescribeKey'); // describing a disabled or pending-deletion key is allowed
      const k = rec.meta;
      return {
        KeyMetadata: {
          AWSAccountId: ACCOUNT, KeyId: k.keyId, Arn: k.arn, CreationDate: k.creationDate.getTime() / 1000,
          Enabled: k.enabled, Description: k.description, KeyUsage: 'ENCRYPT_DECRYPT', KeyState: k.keyState,
          Origin: 'AWS_KMS', KeyManager: 'CUSTOMER', CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT', KeySpec: 'SYMMETRIC_DEFAULT',
          EncryptionAlgorithms: [ALG], MultiRegion: false, CurrentKeyMaterialId: k.keyMaterialId,
          ...(k.deletionDate ? { DeletionDate: k.deletionDate.getTime() / 1000, PendingDeletionWindowInDays: 30 } : {}),
        },
      };
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const body = await readBody(req);
    const target = req.headers['x-amz-target'];
    const op = typeof target === 'string' && target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : String(target ?? '');
    calls[op] = (calls[op] ?? 0) + 1;
    const entry: KmsLogEntry = { op, status: 0 };
    log.push(entry);
    let status = 200;
    let payload: unknown;
    let errorType: string | undefined;
    try {
      // Authentication happens at the front door, before throttling or any operation logic.
      verifySigV4(req, body, creds);
      let input: unknown;
      try { input = JSON.parse(body.length ? body.toString('utf8') : '{}'); } catch { input = null; }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new KmsError('SerializationException', 'Request body is not a JSON object');
      const fields = input as Input;
      const rawKeyId = fields.KeyId ?? fields.DestinationKeyId;
      if (typeof rawKeyId === 'string') entry.keyId = rawKeyId;
      const rawEc = fields.EncryptionContext ?? fields.DestinationEncryptionContext;
      if (rawEc && typeof rawEc === 'object') entry.encryptionContext = { ...(rawEc as Record<string, string>) };
      // Injected faults: at most one per request, hang > drop > fail > throttle.
      if (hangs > 0) {
        hangs--;
        hung.add(res); // accepted, never answered (until reset() or close())
        return;
      }
      if (drops > 0) {
        drops--;
        await sleepUntil(started + faults.latencyMs);
        req.socket.destroy(); // status stays 0 in the log: no response was sent
        return;
      }
      if (failures > 0) {
        failures--;
        // 500 uses KMS's modelled KMSInternalException; other statuses the generic AWS InternalFailure.
        throw failStatus === 500 ? new KmsError('KMSInternalException', 'An internal error occurred.', 500) : new KmsError('InternalFailure', 'The request processing has failed because of an unknown error.', failStatus);
      }
      if (throttles > 0) {
        throttles--;
        throw new KmsError('ThrottlingException', 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.');
      }
      const handler = Object.hasOwn(operations, op) ? operations[op] : undefined;
      if (req.method !== 'POST' || !handler) throw new KmsError('UnknownOperationException', `Unknown operation ${op || '(no X-Amz-Target)'}`);
      payload = handler(fields, entry);
    } catch (err) {
      const e = err instanceof KmsError ? err : new KmsError('InternalFailure', String(err), 500);
      status = e.status;
      errorType = e.type;
      payload = { __type: e.type, message: e.message };
    }
    await sleepUntil(started + faults.latencyMs);
    entry.status = status;
    const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() };
    if (errorType) headers['x-amzn-errortype'] = errorType;
    res.writeHead(status, headers).end(JSON.stringify(payload));
  }

  const server = createServer((req, res) => { handle(req, res).catch(() => res.destroy()); });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;

  function addAlias(alias: string, keyId: string): void {
    if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(alias) || alias.startsWith('alias/aws/')) throw new Error(`invalid alias name ${alias}`);
    if (aliases.has(alias)) throw new Error(`alias ${alias} already exists`);
    aliases.set(alias, resolve(keyId).meta.keyId);
  }

  const faults: KmsServer['faults'] = {
    latencyMs: opts.latencyMs ?? 0,
    throttleNext: (n) => { throttles = count(n); },
    failNext: (n, status = 500) => {
      if (!Number.isInteger(status) || status < 500 || status > 599) throw new RangeError(`failNext status must be 5xx, got ${status}`);
      failures = count(n);
      failStatus = status;
    },
    dropNext: (n) => { drops = count(n); },
    /** The next `n` requests are read and never answered: a KMS that does not respond at all. */
    hangNext: (n) => { hangs = count(n); },
    /** Clears every injected fault, including latency (back to 0, not to the start-up option); hung requests are cut. */
    reset: () => {
      throttles = failures = drops = hangs = 0; failStatus = 500; faults.latencyMs = 0;
      for (const r of hung) r.destroy();
      hung.clear();
    },
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    ...creds,
    createKey({ description = '', alias } = {}) {
      const keyId = randomUUID();
      const meta: FakeKmsKey = {
        keyId, arn: keyArn(keyId), keyMaterialId: randomBytes(32).toString('hex'),
        creationDate: new Date(), description, enabled: true, keyState: 'Enabled',
      };
      keys.set(keyId, { meta, material: randomBytes(32) });
      if (alias !== undefined) addAlias(alias, keyId);
      return meta;
    },
    addAlias,
    encryptDirect(keyId, plaintext, context) {
      const rec = resolve(keyId);
      usable(rec, 'Encrypt');
      return { ciphertextBlob: seal(rec, Buffer.from(plaintext), readContext(context, 'EncryptionContext')), keyArn: rec.meta.arn };
    },
    decryptDirect(blob, context, keyId) {
      const b = Buffer.from(blob);
      return open(sourceKey(b, keyId, 'Decrypt'), b, readContext(context, 'EncryptionContext'));
    },
    setKeyState(keyId, state) {
      const k = resolve(keyId).meta;
      k.keyState = state;
      k.enabled = state === 'Enabled';
      if (state === 'PendingDeletion') k.deletionDate = new Date(Date.now() + 30 * 86_400_000);
      else delete k.deletionDate;
    },
    denyAccess(keyId, ops) { denied.set(resolve(keyId).meta.keyId, ops ? new Set(ops) : 'all'); },
    allowAccess(keyId) { denied.delete(resolve(keyId).meta.keyId); },
    faults,
    calls,
    log,
    resetCounters() {
      for (const k of Object.keys(calls)) delete calls[k]; // in place: callers may hold references
      log.length = 0;
    },
    close() {
      for (const r of hung) r.destroy();
      server.closeAllConnections(); // keep-alive sockets from the SDK would otherwise hold close() open
      return new Promise<void>((r, reject) => server.close((err) => (err ? reject(err) : r())));
    },
  };
}

/** A real KMSClient pointed at `server` with its region and static credentials; `config` overrides. */
export function kmsClientFor(server: KmsServer, config: Partial<KMSClientConfig> = {}): KMSClient {
  return new KMSClient({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    ...config,
  });
}
