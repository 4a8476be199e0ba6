/**
 * Review 6 (mutation review of SECURITY.md's guarantee table). Guarantee: "… ids only as keyed
 * HMACs in the log" — held, the table said, by test/secret-hygiene.test.ts.
 *
 * Survived: in src/audit/entry.ts `AuditIdHasher` hashing without its key
 * (`toHex(hmacSha256(this.#key, utf8(…)))` → `toHex(sha256(utf8(…)))`). Every conversation and case
 * id in the log is then a plain SHA-256 that anyone can recompute from a guessed id (a
 * `dm:alice:bob`, a case number): who talked to whom is readable without the audit key.
 * secret-hygiene.test.ts still passed: it searches the output for the ids' own bytes and their
 * hex/base64 spellings, which an unkeyed hash does not contain either.
 *
 * Now asserted: the id written is HMAC-SHA-256 under the audit key of the documented input
 * (`keywarden-audit-id:<kind>\0<id>`), computed here independently with node:crypto; two
 * hashers with different keys give different ids for one conversation; the unkeyed SHA-256 of the
 * same input is not what is written.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AuditIdHasher } from '../src/audit/entry.js';
import { deployment, token } from './support/breakglass-fixtures.js';
import { decodeEntry } from '../src/audit/entry.js';

const hmac = (key: Uint8Array, s: string) => createHmac('sha256', key).update(s, 'utf8').digest('hex');
const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

describe('audit ids are keyed HMACs', () => {
  it('conversation and case ids: HMAC-SHA-256 under the audit key, not a plain hash', () => {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    const a = new AuditIdHasher(k1);
    const b = new AuditIdHasher(k2);
    for (const id of ['dm:alice:bob', 'c0', 'ü-😀']) {
      expect(a.conversation(id)).toBe(hmac(k1, `keywarden-audit-id:conversation\u0000${id}`));
      expect(a.case(id)).toBe(hmac(k1, `keywarden-audit-id:case\u0000${id}`));
      expect(a.conversation(id)).not.toBe(b.conversation(id));
      expect(a.conversation(id)).not.toBe(sha(`keywarden-audit-id:conversation\u0000${id}`));
    }
  });

  it('a break-glass access entry names its conversation and case only under the audit key', async () => {
    const d = await deployment(); // audit key: 32 bytes of 11
    const { t1, t2, l1 } = d.approvers;
    const tok = await token(d, [t1, t2, l1]);
    await d.bg.decrypt(tok.text, 'c0', [{ ciphertext: d.messages.c0![0]!.ct, aad: d.messages.c0![0]!.aad }]);
    const access = (await d.auditStore.read(0, await d.auditStore.size())).map(decodeEntry).find((e) => e.type === 'breakglass.access')!;
    const key = new Uint8Array(32).fill(11);
    expect(access.case).toBe(hmac(key, 'keywarden-audit-id:case\u0000case-2026-0042'));
    expect((access.scope as { conversations: string[] }).conversations).toEqual([hmac(key, 'keywarden-audit-id:conversation\u0000c0')]);
  });
});
