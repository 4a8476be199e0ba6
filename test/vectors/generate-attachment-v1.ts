/**
 * Generates test/vectors/attachment-v1.json: byte-level vectors of attachment format 1
 * (docs/FORMAT.md §9). Written from the specification with @noble primitives only — header,
 * HKDF info, key derivation, nonces and segments are assembled here by hand, not by src/stream/ —
 * so the test that checks the library against this file compares two implementations. Keys,
 * salts and times are fixed: `npm run vectors` rewrites the same bytes.
 */
import { writeFileSync } from 'node:fs';
import { gcm } from '@noble/ciphers/aes.js';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';

const enc = new TextEncoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const seq = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const at = (iso: string) => Date.parse(iso) / 1000;

interface Case { name: string; suiteId: 1 | 2; keyVersion: number; sealedAt: number; segmentSize: number; conversationId: string; aad: Uint8Array; plaintext: Uint8Array; dataKey: Uint8Array; salt: Uint8Array }

/** §9: header, info, key, then each segment under nonce 0^7 || u32be(i) || last. */
function seal(c: Case) {
  const header = cat(Uint8Array.of(0xa1, c.suiteId), u32(c.keyVersion), u32(c.sealedAt), u32(c.segmentSize), c.salt);
  const conv = enc.encode(c.conversationId);
  const info = cat(enc.encode('keywarden/attachment'), header, Uint8Array.of(conv.length >>> 8, conv.length & 0xff), conv, c.aad);
  const key = hkdf(sha256, c.dataKey, c.salt, info, 32);
  const n = Math.max(1, Math.ceil(c.plaintext.length / c.segmentSize));
  const segments = [];
  for (let i = 0; i < n; i++) {
    const nonce = cat(new Uint8Array(7), u32(i), Uint8Array.of(i === n - 1 ? 1 : 0));
    const pt = c.plaintext.subarray(i * c.segmentSize, (i + 1) * c.segmentSize);
    const aead = c.suiteId === 1 ? gcm(key, nonce) : chacha20poly1305(key, nonce);
    segments.push({ index: i, last: i === n - 1, nonce: hex(nonce), ciphertext: hex(aead.encrypt(pt)) });
  }
  return { header, conv, info, key, segments, ciphertext: hex(header) + segments.map((s) => s.ciphertext).join('') };
}

const dk = (i: number) => seq(32, 0x10 * i + 1);
const salt = (i: number) => seq(32, 0xc0 + i);
const cases: Case[] = [
  { name: 'AES-256-GCM, empty attachment (one empty last segment), no aad', suiteId: 1, keyVersion: 1, sealedAt: 0, segmentSize: 256, conversationId: 'c', aad: new Uint8Array(0), plaintext: new Uint8Array(0), dataKey: dk(1), salt: salt(1) },
  { name: 'AES-256-GCM, 1 byte, attachment id as aad', suiteId: 1, keyVersion: 1, sealedAt: at('2026-11-29T12:00:00Z'), segmentSize: 256, conversationId: 'dm:alice:bob', aad: enc.encode('att-0001'), plaintext: Uint8Array.of(0x2a), dataKey: dk(2), salt: salt(2) },
  { name: 'AES-256-GCM, segment size - 1 (one short segment)', suiteId: 1, keyVersion: 1, sealedAt: at('2026-11-29T12:00:01Z'), segmentSize: 256, conversationId: 'dm:alice:bob', aad: enc.encode('att-0002'), plaintext: seq(255, 0), dataKey: dk(2), salt: salt(3) },
  { name: 'AES-256-GCM, exactly one segment (the last segment is full)', suiteId: 1, keyVersion: 1, sealedAt: at('2026-11-29T12:00:02Z'), segmentSize: 256, conversationId: 'dm:alice:bob', aad: enc.encode('att-0003'), plaintext: seq(256, 1), dataKey: dk(2), salt: salt(4) },
  { name: 'AES-256-GCM, segment size + 1 (a full segment, then 1 byte)', suiteId: 1, keyVersion: 1, sealedAt: at('2026-11-29T12:00:03Z'), segmentSize: 256, conversationId: 'dm:alice:bob', aad: enc.encode('att-0004'), plaintext: seq(257, 2), dataKey: dk(2), salt: salt(5) },
  { name: 'AES-256-GCM, four segments, key version 7, non-ASCII conversation id, segment size 300', suiteId: 1, keyVersion: 7, sealedAt: at('2027-01-01T00:00:01Z'), segmentSize: 300, conversationId: 'grüße/😀', aad: enc.encode('att-0005'), plaintext: seq(1000, 3), dataKey: dk(3), salt: salt(6) },
  { name: 'AES-256-GCM, default segment size (64 KiB), largest key version and sealing time', suiteId: 1, keyVersion: 0xffffffff, sealedAt: 0xffffffff, segmentSize: 65536, conversationId: 'x'.repeat(256), aad: seq(3, 0xf0), plaintext: enc.encode('abc'), dataKey: dk(4), salt: salt(7) },
  { name: 'XChaCha20-Poly1305 key: ChaCha20-Poly1305 segments, three segments, bytes aad', suiteId: 2, keyVersion: 2, sealedAt: at('2026-12-31T23:59:59Z'), segmentSize: 256, conversationId: 'dm:alice:bob', aad: seq(17, 0x40), plaintext: seq(600, 0x80), dataKey: dk(5), salt: salt(8) },
  { name: 'XChaCha20-Poly1305 key, empty attachment', suiteId: 2, keyVersion: 300, sealedAt: at('2030-06-15T08:30:00Z'), segmentSize: 1024, conversationId: 'a\u0000b|v1:c', aad: new Uint8Array(0), plaintext: new Uint8Array(0), dataKey: dk(6), salt: salt(9) },
];

const valid = cases.map((c) => {
  const s = seal(c);
  return {
    name: c.name,
    suite: c.suiteId === 1 ? 'AES-256-GCM' : 'XChaCha20-Poly1305',
    suiteId: c.suiteId,
    dataKey: hex(c.dataKey),
    conversationId: c.conversationId,
    conversationIdHex: hex(s.conv),
    keyVersion: c.keyVersion,
    sealedAt: c.sealedAt,
    segmentSize: c.segmentSize,
    salt: hex(c.salt),
    aad: hex(c.aad),
    header: hex(s.header),
    info: hex(s.info),
    attachmentKey: hex(s.key),
    plaintext: hex(c.plaintext),
    segments: s.segments,
    ciphertext: s.ciphertext,
  };
});

// Invalid: each is valid vector BASE (four segments of 300 bytes, the last of 100) with one thing
// changed; every one must fail to decrypt, whichever API reads it.
const BASE = 5;
const b = valid[BASE]!;
const H = 46 * 2; // header, in hex digits
const segHex = b.segments.map((s) => s.ciphertext);
const join = (...segs: string[]) => b.header + segs.join('');
const [s0, s1, s2, s3] = segHex as [string, string, string, string];
const flip = (h: string, byte: number) => h.slice(0, 2 * byte) + (parseInt(h.slice(2 * byte, 2 * byte + 2), 16) ^ 1).toString(16).padStart(2, '0') + h.slice(2 * byte + 2);
const headerWith = (field: number, bytes: Uint8Array) => b.ciphertext.slice(0, 2 * field) + hex(bytes) + b.ciphertext.slice(2 * field + 2 * bytes.length);
// A sibling: same key, conversation, aad and segment size, another salt — its segments are valid, just not here.
const sibling = seal({ ...cases[BASE]!, salt: salt(10) });
const base = { base: BASE, conversationId: b.conversationId, aad: b.aad };
const invalid = [
  { ...base, name: 'other conversation id', conversationId: 'grüße/😁', ciphertext: b.ciphertext },
  { ...base, name: 'other aad (attachment id)', aad: hex(enc.encode('att-0006')), ciphertext: b.ciphertext },
  { ...base, name: 'no aad', aad: '', ciphertext: b.ciphertext },
  { ...base, name: 'format byte 0xA1 -> 0xA2 (unknown attachment format)', ciphertext: 'a2' + b.ciphertext.slice(2) },
  { ...base, name: 'format byte 0xA1 -> 0x02 (a message format)', ciphertext: '02' + b.ciphertext.slice(2) },
  { ...base, name: 'suite relabelled AES-256-GCM -> XChaCha20-Poly1305', ciphertext: headerWith(1, Uint8Array.of(2)) },
  { ...base, name: 'key version relabelled 7 -> 6', ciphertext: headerWith(2, u32(6)) },
  { ...base, name: 'key version 0', ciphertext: headerWith(2, u32(0)) },
  { ...base, name: 'sealing time one second later', ciphertext: headerWith(6, u32(b.sealedAt + 1)) },
  { ...base, name: 'segment size relabelled 300 -> 301', ciphertext: headerWith(10, u32(301)) },
  { ...base, name: 'segment size relabelled 300 -> 255 (below the minimum)', ciphertext: headerWith(10, u32(255)) },
  { ...base, name: 'bit flipped in the salt', ciphertext: flip(b.ciphertext, 20) },
  { ...base, name: 'segments 0 and 1 swapped', ciphertext: join(s1, s0, s2, s3) },
  { ...base, name: 'segments 1 and 2 swapped', ciphertext: join(s0, s2, s1, s3) },
  { ...base, name: 'segment 1 dropped', ciphertext: join(s0, s2, s3) },
  { ...base, name: 'segment 1 duplicated', ciphertext: join(s0, s1, s1, s2, s3) },
  { ...base, name: 'last segment dropped (truncated at a segment boundary)', ciphertext: join(s0, s1, s2) },
  { ...base, name: 'last segment moved to the front', ciphertext: join(s3, s0, s1, s2) },
  { ...base, name: 'truncated by one byte', ciphertext: b.ciphertext.slice(0, -2) },
  { ...base, name: 'last segment cut to 15 bytes (shorter than a tag)', ciphertext: join(s0, s1, s2) + s3.slice(0, 30) },
  { ...base, name: 'truncated to the header and the first segment', ciphertext: join(s0) },
  { ...base, name: 'header only', ciphertext: b.header },
  { ...base, name: 'header and 15 bytes', ciphertext: b.header + s0.slice(0, 30) },
  { ...base, name: 'extended by one byte', ciphertext: b.ciphertext + '00' },
  { ...base, name: 'extended by 16 bytes (an empty segment)', ciphertext: b.ciphertext + '00'.repeat(16) },
  { ...base, name: 'extended by a copy of the last segment', ciphertext: join(s0, s1, s2, s3, s3) },
  { ...base, name: 'extended by a copy of the first segment', ciphertext: join(s0, s1, s2, s3, s0) },
  { ...base, name: 'bit flipped in segment 2 ciphertext', ciphertext: flip(b.ciphertext, 46 + 2 * 316 + 5) },
  { ...base, name: 'bit flipped in segment 3 tag', ciphertext: flip(b.ciphertext, b.ciphertext.length / 2 - 1) },
  { ...base, name: 'segment 1 from another attachment (same key, other salt)', ciphertext: join(s0, sibling.segments[1]!.ciphertext, s2, s3) },
  { ...base, name: 'header from another attachment (same key, other salt)', ciphertext: hex(sibling.header) + b.ciphertext.slice(H) },
  { ...base, name: 'a message-format (v2) ciphertext', ciphertext: '02010000000100000000' + b.ciphertext.slice(H, H + 200) },
];

const out = {
  format: 'keywarden attachment format 1',
  spec: 'docs/FORMAT.md §9',
  notes: 'All byte strings are lower-case hex. dataKey is the 32-byte conversation data key; header is the 46-byte attachment header (§9.1); info and attachmentKey are the HKDF-SHA-256 info and output (§9.2); each segment is its AEAD ciphertext and tag under nonce (§9.3); ciphertext is header || segments. Invalid vectors refer to valid vector `base` (its data key) and must fail to decrypt.',
  valid,
  invalid,
};
writeFileSync(new URL('./attachment-v1.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${valid.length} valid and ${invalid.length} invalid attachment vectors`);
