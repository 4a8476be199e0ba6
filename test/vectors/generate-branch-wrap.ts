/**
 * Generates test/vectors/branch-wrap.json: vectors of a conversation data key wrapped under a
 * branch key (docs/FORMAT.md §6.3), deterministic (fixed keys and salts). `npm run vectors`
 * rewrites the file; test/branch-wrap-vectors.test.ts checks the code against it and against a
 * second implementation (node:crypto HKDF and AES-GCM).
 */
import { writeFileSync } from 'node:fs';
import { bindingBytes, branchWrap } from '../../src/kms/branch-wrap.js';
import { toHex } from '../../src/util/bytes.js';

const seq = (n: number, start: number) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const cases = [
  { name: 'default branch, version 1, first key of a conversation', branch: 'default', branchVersion: 1, conversationId: 'dm:alice:bob', keyVersion: 1 },
  { name: 'tenant branch, later versions', branch: 'tenant-42', branchVersion: 7, conversationId: 'dm:alice:bob', keyVersion: 3 },
  { name: 'branch id with separators, non-ASCII conversation id', branch: 'eu-west-1/shard:09', branchVersion: 0xffffffff, conversationId: 'grüße/😀', keyVersion: 0xfffffffe },
  { name: 'conversation id with NUL, 256-byte id', branch: 'b', branchVersion: 2, conversationId: `a\u0000${'x'.repeat(254)}`, keyVersion: 1 },
];
const valid = cases.map((c, i) => {
  const branchKey = seq(32, 0x30 + i * 7);
  const dataKey = seq(32, 0x90 + i * 3);
  const salt = seq(16, 0xd0 + i);
  const wrapped = branchWrap(branchKey, c, dataKey, salt);
  return { ...c, branchKey: toHex(branchKey), dataKey: toHex(dataKey), salt: toHex(salt), binding: toHex(bindingBytes(c)), wrapped: toHex(wrapped) };
});
const v = valid[1]!;
const flip = (hex: string, byte: number) => hex.slice(0, 2 * byte) + (parseInt(hex.slice(2 * byte, 2 * byte + 2), 16) ^ 1).toString(16).padStart(2, '0') + hex.slice(2 * byte + 2);
const invalid = [
  { name: 'other conversation', base: 1, change: { conversationId: 'dm:alice:mallory' } },
  { name: 'other key version', base: 1, change: { keyVersion: 4 } },
  { name: 'other branch', base: 1, change: { branch: 'tenant-43' } },
  { name: 'other branch version', base: 1, change: { branchVersion: 8 } },
  { name: 'salt bit flipped', base: 1, change: { wrapped: flip(v.wrapped, 1) } },
  { name: 'encrypted key bit flipped', base: 1, change: { wrapped: flip(v.wrapped, 20) } },
  { name: 'tag bit flipped', base: 1, change: { wrapped: flip(v.wrapped, 64) } },
  { name: 'wrong version byte', base: 1, change: { wrapped: `01${v.wrapped.slice(2)}` } },
  { name: 'truncated', base: 1, change: { wrapped: v.wrapped.slice(0, -2) } },
];
writeFileSync(new URL('./branch-wrap.json', import.meta.url), `${JSON.stringify({
  format: 'keywarden branch-wrapped data key v1',
  spec: 'docs/FORMAT.md §6.3',
  notes: 'Hex byte strings. binding = u16be(len(branch)) || branch || u32be(branchVersion) || u16be(len(conversation)) || conversation || u32be(keyVersion); K = HKDF-SHA-256(branchKey, salt, "keywarden/branch-wrap/v1" || 0x00 || binding, 32); wrapped = 0x02 || salt || AES-256-GCM(K, 0^96, dataKey, binding). Invalid vectors change one thing of valid vector `base` and must not unwrap.',
  valid,
  invalid,
}, null, 2)}\n`);
console.log(`wrote ${valid.length} valid and ${invalid.length} invalid branch-wrap vectors`);
