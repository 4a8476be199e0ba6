/**
 * Known-answer tests, Project Wycheproof (test/vectors/wycheproof/, Apache-2.0), for the
 * primitives under keywarden's non-AEAD parts:
 * - Ed25519 verification (src/util/ed25519.ts), which signs and checks every audit checkpoint,
 *   signed note and witness cosignature: every `valid` vector verifies, every `invalid` one
 *   (malleable s, non-canonical points, truncated signatures, ...) is refused;
 * - HMAC-SHA-256 (@noble/hashes), behind the audit log's keyed identifiers and the local master
 *   key id, cross-checked with node:crypto;
 * - HKDF-SHA-256 (@noble/hashes), for key derivation, cross-checked with node:crypto.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { ed25519Verify } from '../src/util/ed25519.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

interface Test { tcId: number; comment: string; flags: string[]; result: 'valid' | 'invalid' | 'acceptable'; [k: string]: unknown }
interface Group { tests: Test[]; [k: string]: unknown }
function load(file: string): Group[] {
  const j = JSON.parse(readFileSync(new URL(`./vectors/wycheproof/${file}`, import.meta.url), 'utf8')) as { testGroups: Group[] };
  return j.testGroups;
}
const id = (t: Test) => `tcId ${t.tcId} [${t.result}; ${t.flags.join(',')}] ${t.comment}`;

describe('Wycheproof ed25519_test.json: strict Ed25519 verification', () => {
  it('accepts every valid signature and refuses every invalid one', () => {
    const failures: string[] = [];
    const counts = { valid: 0, invalid: 0 };
    for (const g of load('ed25519_test.json')) {
      const pk = unhex((g.publicKey as { pk: string }).pk);
      for (const t of g.tests) {
        const ok = ed25519Verify(unhex(t.sig as string), unhex(t.msg as string), pk);
        if (t.result === 'valid') counts.valid++;
        else if (t.result === 'invalid') counts.invalid++;
        if (t.result === 'valid' && !ok) failures.push(`${id(t)}: refused`);
        if (t.result === 'invalid' && ok) failures.push(`${id(t)}: accepted`);
      }
    }
    expect(failures, failures.slice(0, 20).join('\n')).toEqual([]);
    expect(counts.valid).toBeGreaterThanOrEqual(88);
    expect(counts.invalid).toBeGreaterThanOrEqual(63);
  });

  it('never throws on malformed inputs', () => {
    const pk = new Uint8Array(32);
    expect(ed25519Verify(new Uint8Array(63), new Uint8Array(0), pk)).toBe(false);
    expect(ed25519Verify(new Uint8Array(64), new Uint8Array(0), new Uint8Array(31))).toBe(false);
    expect(ed25519Verify('x' as unknown as Uint8Array, new Uint8Array(0), pk)).toBe(false);
    expect(ed25519Verify(new Uint8Array(64).fill(0xff), new Uint8Array(0), new Uint8Array(32).fill(0xff))).toBe(false);
  });
});

describe('Wycheproof hmac_sha256_test.json', () => {
  it('@noble/hashes HMAC-SHA-256 and node:crypto both reproduce every valid full-length tag', () => {
    const failures: string[] = [];
    let checked = 0;
    for (const g of load('hmac_sha256_test.json')) {
      const tagBytes = (g.tagSize as number) / 8;
      for (const t of g.tests) {
        const key = unhex(t.key as string);
        const msg = unhex(t.msg as string);
        const want = t.tag as string;
        const noble = hex(hmac(sha256, key, msg).subarray(0, tagBytes));
        const node = hex(createHmac('sha256', key).update(msg).digest().subarray(0, tagBytes));
        if (noble !== node) failures.push(`${id(t)}: noble and node disagree`);
        // A valid vector's tag is what the MAC gives; an invalid one's (modified) tag is not.
        if (t.result === 'valid' && noble !== want) failures.push(`${id(t)}: got ${noble}`);
        if (t.result === 'invalid' && noble === want) failures.push(`${id(t)}: modified tag matched`);
        checked++;
      }
    }
    expect(failures, failures.slice(0, 20).join('\n')).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(174);
  });
});

describe('Wycheproof hkdf_sha256_test.json', () => {
  it('@noble/hashes HKDF-SHA-256 and node:crypto both derive every valid output', () => {
    const failures: string[] = [];
    let valid = 0;
    for (const g of load('hkdf_sha256_test.json')) {
      for (const t of g.tests) {
        const ikm = unhex(t.ikm as string);
        const salt = unhex(t.salt as string);
        const info = unhex(t.info as string);
        const size = t.size as number;
        if (t.result === 'invalid') {
          // The only invalid vectors ask for more than 255 * 32 bytes: both refuse.
          expect(() => hkdf(sha256, ikm, salt, info, size), id(t)).toThrow();
          expect(() => hkdfSync('sha256', ikm, salt, info, size), id(t)).toThrow();
          continue;
        }
        valid++;
        const noble = hex(hkdf(sha256, ikm, salt, info, size));
        const node = hex(new Uint8Array(hkdfSync('sha256', ikm, salt, info, size)));
        if (noble !== t.okm) failures.push(`${id(t)}: noble gave ${noble}`);
        if (node !== t.okm) failures.push(`${id(t)}: node gave ${node}`);
      }
    }
    expect(failures, failures.slice(0, 20).join('\n')).toEqual([]);
    expect(valid).toBeGreaterThanOrEqual(83);
  });
});
