/**
 * What the benchmark compares, for one message size: keywarden's hot path (warm key) for each
 * suite, the raw primitives, and the AWS Encryption SDK for JavaScript configured as a user
 * would for the same job (raw AES keyring behind a caching materials manager, committing
 * non-signing suite, same message and encryption context).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  NodeCachingMaterialsManager,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
  getLocalCryptographicMaterialsCache,
} from '@aws-crypto/client-node';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { fillNonce } from '../src/util/random.js';
import type { Contender } from './harness.js';

export const CONVERSATION = 'dm:01HZX3K4M5N6P7Q8R9S0T1U2V3';
export const MESSAGE_ID = 'msg:01HZX3KA000000000000000000';

/** Ids of contenders, as they appear in results. */
export type ContenderId =
  | 'keywarden:AES-256-GCM:encrypt' | 'keywarden:AES-256-GCM:decrypt'
  | 'keywarden:XChaCha20-Poly1305:encrypt' | 'keywarden:XChaCha20-Poly1305:decrypt'
  | 'raw-node:AES-256-GCM:encrypt' | 'raw-node:AES-256-GCM:decrypt' | 'raw-node:AES-256-GCM+one-buffer:encrypt'
  | 'raw-noble:XChaCha20-Poly1305:encrypt' | 'raw-noble:XChaCha20-Poly1305:decrypt'
  | 'esdk:AES256_GCM_HKDF_SHA512_COMMIT_KEY:encrypt' | 'esdk:AES256_GCM_HKDF_SHA512_COMMIT_KEY:decrypt';

export interface Setup {
  contenders: Contender[];
  /** Ciphertext expansion of each implementation for this size. */
  overhead: Record<string, number>;
}

const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

/** Builds every contender for `bytes`-long messages, with warm keys and verified round trips. */
export async function setup(bytes: number): Promise<Setup> {
  const pt = randomBytes(bytes);
  const masterKey = new LocalMasterKey(LocalMasterKey.generateKey());
  const aes = new Keywarden({ masterKey, keyStore: new MemoryKeyStore() });
  const xc = new Keywarden({ masterKey, keyStore: new MemoryKeyStore(), suite: 'XChaCha20-Poly1305' });
  const opts = { aad: MESSAGE_ID };
  const ctAes = await aes.encrypt(CONVERSATION, pt, opts);
  const ctXc = await xc.encrypt(CONVERSATION, pt, opts);
  check(await aes.decrypt(CONVERSATION, ctAes, opts), pt, 'keywarden AES');
  check(await xc.decrypt(CONVERSATION, ctXc, opts), pt, 'keywarden XChaCha');

  // The raw ceiling: node:crypto AES-256-GCM with a fresh random 12-byte nonce per message, drawn
  // the way keywarden draws its nonces (a pooled CSPRNG, src/util/random.ts), so that the
  // encrypt ratio measures keywarden's own overhead, not a randomBytes() call per message.
  const key = randomBytes(32);
  const aad = Buffer.from(MESSAGE_ID);
  const pooledNonce = () => {
    const iv = Buffer.allocUnsafe(12);
    fillNonce(iv, 0, 12);
    return iv;
  };
  const rawEncrypt = () => {
    const iv = pooledNonce();
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    const body = c.update(pt);
    c.final();
    return [iv, body, c.getAuthTag()];
  };
  // The same, but assembling one output buffer as any self-contained format must.
  const prefix = Buffer.alloc(6);
  const rawEncryptOneBuffer = () => {
    const iv = pooledNonce();
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    const body = c.update(pt);
    c.final();
    return Buffer.concat([prefix, iv, body, c.getAuthTag()]);
  };
  const [rawIv, rawBody, rawTag] = rawEncrypt() as Buffer[];
  const rawDecrypt = () => {
    const d = createDecipheriv('aes-256-gcm', key, rawIv!);
    d.setAAD(aad);
    d.setAuthTag(rawTag!);
    const out = d.update(rawBody!);
    d.final();
    return out;
  };
  check(rawDecrypt(), pt, 'raw AES');

  const xkey = randomBytes(32);
  const nobleEncrypt = () => {
    const nonce = new Uint8Array(24);
    fillNonce(nonce, 0, 24);
    return [nonce, xchacha20poly1305(xkey, nonce, aad).encrypt(pt)];
  };
  const [xNonce, xCt] = nobleEncrypt() as Uint8Array[];
  const nobleDecrypt = () => xchacha20poly1305(xkey, xNonce!, aad).decrypt(xCt!);
  check(nobleDecrypt(), pt, 'noble XChaCha');

  // AWS Encryption SDK: raw AES keyring, caching CMM (warm), committing non-signing suite.
  const keyring = new RawAesKeyringNode({
    keyNamespace: 'keywarden-bench',
    keyName: 'master',
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const cmm = new NodeCachingMaterialsManager({
    backingMaterials: keyring,
    cache: getLocalCryptographicMaterialsCache(1000),
    maxAge: 60_000,
    maxMessagesEncrypted: 2 ** 32,
  });
  const encryptionContext = { conversation: CONVERSATION, message: MESSAGE_ID };
  const suiteId = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
  const esdkEncrypt = () => esdk.encrypt(cmm, pt, { encryptionContext, suiteId });
  const { result: esdkCt } = await esdkEncrypt();
  const esdkDecrypt = () => esdk.decrypt(cmm, esdkCt);
  check((await esdkDecrypt()).plaintext, pt, 'ESDK');

  const contenders: Contender[] = [
    { name: 'keywarden:AES-256-GCM:encrypt', op: () => aes.encrypt(CONVERSATION, pt, opts), async: true },
    { name: 'keywarden:AES-256-GCM:decrypt', op: () => aes.decrypt(CONVERSATION, ctAes, opts), async: true },
    { name: 'keywarden:XChaCha20-Poly1305:encrypt', op: () => xc.encrypt(CONVERSATION, pt, opts), async: true },
    { name: 'keywarden:XChaCha20-Poly1305:decrypt', op: () => xc.decrypt(CONVERSATION, ctXc, opts), async: true },
    { name: 'raw-node:AES-256-GCM:encrypt', op: rawEncrypt, async: false },
    { name: 'raw-node:AES-256-GCM:decrypt', op: rawDecrypt, async: false },
    { name: 'raw-node:AES-256-GCM+one-buffer:encrypt', op: rawEncryptOneBuffer, async: false },
    { name: 'raw-noble:XChaCha20-Poly1305:encrypt', op: nobleEncrypt, async: false },
    { name: 'raw-noble:XChaCha20-Poly1305:decrypt', op: nobleDecrypt, async: false },
    { name: 'esdk:AES256_GCM_HKDF_SHA512_COMMIT_KEY:encrypt', op: esdkEncrypt, async: true },
    { name: 'esdk:AES256_GCM_HKDF_SHA512_COMMIT_KEY:decrypt', op: esdkDecrypt, async: true },
  ];
  return {
    contenders,
    overhead: { keywarden_aes: ctAes.length - bytes, keywarden_xchacha: ctXc.length - bytes, esdk: esdkCt.length - bytes },
  };
}

/** A page of 50 messages of 200 bytes in one conversation, opened with decryptMany. */
export async function setupPage(): Promise<{ contenders: Contender[]; messages: number }> {
  const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
  const items: { ciphertext: Uint8Array; aad: string }[] = [];
  for (let i = 0; i < 50; i++) {
    const aad = `msg:${i}`;
    items.push({ ciphertext: await kw.encrypt(CONVERSATION, randomBytes(200), { aad }), aad });
  }
  const res = await kw.decryptMany(CONVERSATION, items);
  if (!res.every((r) => r.ok)) throw new Error('decryptMany round trip failed');
  const key = randomBytes(32);
  const pt = randomBytes(200);
  const raw = items.map((_, i) => {
    const iv = randomBytes(12);
    const aad = Buffer.from(`msg:${i}`);
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.setAAD(aad);
    const body = c.update(pt);
    c.final();
    return { iv, aad, body, tag: c.getAuthTag() };
  });
  const rawPage = () =>
    raw.map(({ iv, aad, body, tag }) => {
      const d = createDecipheriv('aes-256-gcm', key, iv);
      d.setAAD(aad);
      d.setAuthTag(tag);
      const out = d.update(body);
      d.final();
      return out;
    });
  // The same messages as an application stores them: one buffer per message (nonce ‖ body ‖
  // tag, as a bytea column returns it), split with subarray on every open, as any stored
  // format must be. The pre-split page above is the floor no stored format reaches.
  const stored = raw.map(({ iv, aad, body, tag }) => ({ aad, blob: Buffer.concat([iv, body, tag]) }));
  const rawStoredPage = () =>
    stored.map(({ aad, blob }) => {
      const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
      d.setAAD(aad);
      d.setAuthTag(blob.subarray(blob.length - 16));
      const out = d.update(blob.subarray(12, blob.length - 16));
      d.final();
      return out;
    });
  for (const [i, out] of rawStoredPage().entries()) check(out, pt, `raw stored message ${i}`);
  return {
    messages: 50,
    contenders: [
      { name: 'keywarden:AES-256-GCM:decryptMany', op: () => kw.decryptMany(CONVERSATION, items), async: true },
      { name: 'raw-node:AES-256-GCM:decrypt-50', op: rawPage, async: false },
      { name: 'raw-node:AES-256-GCM+one-buffer:decrypt-50', op: rawStoredPage, async: false },
    ],
  };
}

function check(got: Uint8Array, want: Uint8Array, what: string): void {
  if (!Buffer.from(got).equals(Buffer.from(want))) throw new Error(`${what}: round trip failed`);
}
