/**
 * Generates test/vectors/format-v1.json: byte-level vectors of wire format v1
 * (docs/FORMAT.md) that a second implementation can check itself against. Keys and nonces are
 * fixed, so the output is deterministic; `npm run vectors` rewrites the file, and the tests fail
 * if the code ever stops producing exactly these bytes.
 */
import { writeFileSync } from 'node:fs';
import { nobleAead } from '../../src/aead/noble.js';
import { SuiteId, suiteById } from '../../src/format/suites.js';
import { HEADER_LENGTH, aadPrefix, writeHeader } from '../../src/format/wire.js';
import { toHex } from '../../src/util/bytes.js';

const enc = new TextEncoder();
const seq = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

interface Case { name: string; suite: SuiteId; keyVersion: number; conversationId: string; aad: Uint8Array; plaintext: Uint8Array }
const cases: Case[] = [
  { name: 'AES-256-GCM, empty plaintext, no aad', suite: SuiteId.AES_256_GCM, keyVersion: 1, conversationId: 'c', aad: new Uint8Array(0), plaintext: new Uint8Array(0) },
  { name: 'AES-256-GCM, short message with message id as aad', suite: SuiteId.AES_256_GCM, keyVersion: 1, conversationId: 'dm:alice:bob', aad: enc.encode('msg-0001'), plaintext: enc.encode('hello bob') },
  { name: 'AES-256-GCM, key version 7, non-ASCII conversation id', suite: SuiteId.AES_256_GCM, keyVersion: 7, conversationId: 'grüße/😀', aad: new Uint8Array(0), plaintext: enc.encode('version seven') },
  { name: 'AES-256-GCM, large key version, 256-byte conversation id, 100-byte message', suite: SuiteId.AES_256_GCM, keyVersion: 0xfffffffe, conversationId: 'x'.repeat(256), aad: seq(3, 0xf0), plaintext: seq(100, 0) },
  { name: 'XChaCha20-Poly1305, empty plaintext, no aad', suite: SuiteId.XCHACHA20_POLY1305, keyVersion: 1, conversationId: 'c', aad: new Uint8Array(0), plaintext: new Uint8Array(0) },
  { name: 'XChaCha20-Poly1305, short message with aad', suite: SuiteId.XCHACHA20_POLY1305, keyVersion: 2, conversationId: 'dm:alice:bob', aad: enc.encode('msg-0002'), plaintext: enc.encode('hello alice') },
  { name: 'XChaCha20-Poly1305, conversation id containing NUL and separators', suite: SuiteId.XCHACHA20_POLY1305, keyVersion: 300, conversationId: 'a\u0000b|v1:c', aad: seq(17, 0x40), plaintext: seq(64, 0x80) },
];

const vectors = cases.map((c, i) => {
  const suite = suiteById(c.suite)!;
  const key = seq(32, 0x10 * (i + 1));
  const nonce = seq(suite.nonceLength, 0xa0 + i);
  const conv = enc.encode(c.conversationId);
  const aad = new Uint8Array([...aadPrefix(c.suite, c.keyVersion, conv), ...c.aad]);
  const prefix = new Uint8Array(HEADER_LENGTH + nonce.length);
  writeHeader(prefix, c.suite, c.keyVersion);
  prefix.set(nonce, HEADER_LENGTH);
  const ciphertext = nobleAead.seal(c.suite, key, nonce, c.plaintext, aad, prefix);
  return {
    name: c.name,
    suite: suite.name,
    suiteId: c.suite,
    key: toHex(key),
    conversationId: c.conversationId,
    conversationIdHex: toHex(conv),
    keyVersion: c.keyVersion,
    nonce: toHex(nonce),
    aad: toHex(c.aad),
    plaintext: toHex(c.plaintext),
    associatedData: toHex(aad),
    ciphertext: toHex(ciphertext),
  };
});

// Invalid: each is a valid vector above with one thing changed; all must fail to decrypt.
const v1 = vectors[1]!;
const flip = (hex: string, byte: number) => hex.slice(0, 2 * byte) + ((parseInt(hex.slice(2 * byte, 2 * byte + 2), 16) ^ 1).toString(16).padStart(2, '0')) + hex.slice(2 * byte + 2);
const invalid = [
  { name: 'other conversation id', base: 1, conversationId: 'dm:alice:mallory', aad: v1.aad, ciphertext: v1.ciphertext },
  { name: 'other aad (message id)', base: 1, conversationId: v1.conversationId, aad: toHex(enc.encode('msg-0003')), ciphertext: v1.ciphertext },
  { name: 'key version relabelled 1 -> 2', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: v1.ciphertext.slice(0, 4) + '00000002' + v1.ciphertext.slice(12) },
  { name: 'suite relabelled AES-256-GCM -> XChaCha20-Poly1305', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: '0102' + v1.ciphertext.slice(4) },
  { name: 'format version relabelled 1 -> 2', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: '02' + v1.ciphertext.slice(2) },
  { name: 'bit flipped in nonce', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: flip(v1.ciphertext, 8) },
  { name: 'bit flipped in ciphertext body', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: flip(v1.ciphertext, 19) },
  { name: 'bit flipped in tag', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: flip(v1.ciphertext, v1.ciphertext.length / 2 - 1) },
  { name: 'truncated by one byte', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: v1.ciphertext.slice(0, -2) },
  { name: 'extended by one byte', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: v1.ciphertext + '00' },
  { name: 'header only', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: v1.ciphertext.slice(0, 12) },
  { name: 'key version 0', base: 1, conversationId: v1.conversationId, aad: v1.aad, ciphertext: v1.ciphertext.slice(0, 4) + '00000000' + v1.ciphertext.slice(12) },
];

const out = {
  format: 'keywarden wire format v1',
  spec: 'docs/FORMAT.md',
  notes: 'All byte strings are lower-case hex. key is the 32-byte conversation data key. associatedData is the AEAD associated data of docs/FORMAT.md §4; ciphertext is the complete wire message (§3). Invalid vectors refer to valid vector `base` (its key) and must fail to decrypt.',
  valid: vectors,
  invalid,
};
writeFileSync(new URL('./format-v1.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${vectors.length} valid and ${invalid.length} invalid vectors`);
