/**
 * Generates test/vectors/format-v2.json: byte-level vectors of wire format v2 (docs/FORMAT.md
 * §2.2: the v1 header plus the authenticated sealing time) that a second implementation can check
 * itself against. Keys, nonces and times are fixed, so the output is deterministic; `npm run
 * vectors` rewrites the file, and the tests fail if the code ever stops producing these bytes.
 */
import { writeFileSync } from 'node:fs';
import { nobleAead } from '../../src/aead/noble.js';
import { SuiteId, suiteById } from '../../src/format/suites.js';
import { HEADER_LENGTH_V2, aadPrefixV2, writeHeaderV2 } from '../../src/format/wire.js';
import { toHex } from '../../src/util/bytes.js';

const enc = new TextEncoder();
const seq = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const at = (iso: string) => Date.parse(iso) / 1000;

interface Case { name: string; suite: SuiteId; keyVersion: number; sealedAt: number; conversationId: string; aad: Uint8Array; plaintext: Uint8Array }
const cases: Case[] = [
  { name: 'AES-256-GCM, empty plaintext, no aad, sealed at the epoch', suite: SuiteId.AES_256_GCM, keyVersion: 1, sealedAt: 0, conversationId: 'c', aad: new Uint8Array(0), plaintext: new Uint8Array(0) },
  { name: 'AES-256-GCM, short message with message id as aad', suite: SuiteId.AES_256_GCM, keyVersion: 1, sealedAt: at('2026-11-29T12:00:00Z'), conversationId: 'dm:alice:bob', aad: enc.encode('msg-0001'), plaintext: enc.encode('hello bob') },
  { name: 'AES-256-GCM, key version 7, non-ASCII conversation id', suite: SuiteId.AES_256_GCM, keyVersion: 7, sealedAt: at('2027-01-01T00:00:01Z'), conversationId: 'grüße/😀', aad: new Uint8Array(0), plaintext: enc.encode('version seven') },
  { name: 'AES-256-GCM, largest key version and sealing time, 256-byte conversation id, 100-byte message', suite: SuiteId.AES_256_GCM, keyVersion: 0xffffffff, sealedAt: 0xffffffff, conversationId: 'x'.repeat(256), aad: seq(3, 0xf0), plaintext: seq(100, 0) },
  { name: 'XChaCha20-Poly1305, empty plaintext, no aad', suite: SuiteId.XCHACHA20_POLY1305, keyVersion: 1, sealedAt: at('2026-11-29T12:00:00Z'), conversationId: 'c', aad: new Uint8Array(0), plaintext: new Uint8Array(0) },
  { name: 'XChaCha20-Poly1305, short message with aad', suite: SuiteId.XCHACHA20_POLY1305, keyVersion: 2, sealedAt: at('2026-12-31T23:59:59Z'), conversationId: 'dm:alice:bob', aad: enc.encode('msg-0002'), plaintext: enc.encode('hello alice') },
  { name: 'XChaCha20-Poly1305, conversation id containing NUL and separators', suite: SuiteId.XCHACHA20_POLY1305, keyVersion: 300, sealedAt: at('2030-06-15T08:30:00Z'), conversationId: 'a\u0000b|v1:c', aad: seq(17, 0x40), plaintext: seq(64, 0x80) },
];

const vectors = cases.map((c, i) => {
  const suite = suiteById(c.suite)!;
  const key = seq(32, 0x20 * (i + 1) + 3);
  const nonce = seq(suite.nonceLength, 0xb0 + i);
  const conv = enc.encode(c.conversationId);
  const aad = new Uint8Array([...aadPrefixV2(c.suite, c.keyVersion, c.sealedAt, conv), ...c.aad]);
  const prefix = new Uint8Array(HEADER_LENGTH_V2 + nonce.length);
  writeHeaderV2(prefix, c.suite, c.keyVersion, c.sealedAt);
  prefix.set(nonce, HEADER_LENGTH_V2);
  const ciphertext = nobleAead.seal(c.suite, key, nonce, c.plaintext, aad, prefix);
  return {
    name: c.name,
    suite: suite.name,
    suiteId: c.suite,
    key: toHex(key),
    conversationId: c.conversationId,
    conversationIdHex: toHex(conv),
    keyVersion: c.keyVersion,
    sealedAt: c.sealedAt,
    nonce: toHex(nonce),
    aad: toHex(c.aad),
    plaintext: toHex(c.plaintext),
    associatedData: toHex(aad),
    ciphertext: toHex(ciphertext),
  };
});

// Invalid: each is valid vector 1 with one thing changed; all must fail to decrypt.
const v = vectors[1]!;
const flip = (hex: string, byte: number) => hex.slice(0, 2 * byte) + ((parseInt(hex.slice(2 * byte, 2 * byte + 2), 16) ^ 1).toString(16).padStart(2, '0')) + hex.slice(2 * byte + 2);
const base = { base: 1, conversationId: v.conversationId, aad: v.aad };
const invalid = [
  { ...base, name: 'other conversation id', conversationId: 'dm:alice:mallory', ciphertext: v.ciphertext },
  { ...base, name: 'other aad (message id)', aad: toHex(enc.encode('msg-0003')), ciphertext: v.ciphertext },
  { ...base, name: 'sealing time moved one second later', ciphertext: v.ciphertext.slice(0, 12) + (v.sealedAt + 1).toString(16).padStart(8, '0') + v.ciphertext.slice(20) },
  { ...base, name: 'sealing time moved one hour earlier', ciphertext: v.ciphertext.slice(0, 12) + (v.sealedAt - 3600).toString(16).padStart(8, '0') + v.ciphertext.slice(20) },
  { ...base, name: 'key version relabelled 1 -> 2', ciphertext: v.ciphertext.slice(0, 4) + '00000002' + v.ciphertext.slice(12) },
  { ...base, name: 'suite relabelled AES-256-GCM -> XChaCha20-Poly1305', ciphertext: '0202' + v.ciphertext.slice(4) },
  { ...base, name: 'format version relabelled 2 -> 1', ciphertext: '01' + v.ciphertext.slice(2) },
  { ...base, name: 'unknown format version 3', ciphertext: '03' + v.ciphertext.slice(2) },
  { ...base, name: 'sealing time removed (a v1 message of the same bytes)', ciphertext: '01' + v.ciphertext.slice(2, 12) + v.ciphertext.slice(20) },
  { ...base, name: 'bit flipped in nonce', ciphertext: flip(v.ciphertext, 12) },
  { ...base, name: 'bit flipped in ciphertext body', ciphertext: flip(v.ciphertext, 23) },
  { ...base, name: 'bit flipped in tag', ciphertext: flip(v.ciphertext, v.ciphertext.length / 2 - 1) },
  { ...base, name: 'truncated by one byte', ciphertext: v.ciphertext.slice(0, -2) },
  { ...base, name: 'extended by one byte', ciphertext: v.ciphertext + '00' },
  { ...base, name: 'header only', ciphertext: v.ciphertext.slice(0, 20) },
  { ...base, name: 'key version 0', ciphertext: v.ciphertext.slice(0, 4) + '00000000' + v.ciphertext.slice(12) },
];

const out = {
  format: 'keywarden wire format v2',
  spec: 'docs/FORMAT.md',
  notes: 'All byte strings are lower-case hex. key is the 32-byte conversation data key; sealedAt is whole seconds since 1970 (u32be in the header). associatedData is the AEAD associated data of docs/FORMAT.md §4; ciphertext is the complete wire message (§3). Invalid vectors refer to valid vector `base` (its key) and must fail to decrypt.',
  valid: vectors,
  invalid,
};
writeFileSync(new URL('./format-v2.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${vectors.length} valid and ${invalid.length} invalid vectors`);
