/** Audit entry encoding: canonical, strict, with keyed identifiers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuditIdHasher, ciphertextsDigest, decodeEntry, encodeEntry, validateEvent } from '../src/audit/entry.js';
import { eventArb, ids, sampleEvent } from './support/audit-fixtures.js';

const enc = new TextEncoder();
const code = (f: () => unknown) => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code;
  }
};
const withJson = (json: string) => new Uint8Array([1, ...enc.encode(json)]);

describe('audit entries', () => {
  it('round-trip every event type; encoding starts with the version byte and is canonical JSON', () => {
    fc.assert(
      fc.property(eventArb, (ev) => {
        const bytes = encodeEntry(ev);
        expect(bytes[0]).toBe(1);
        expect(decodeEntry(bytes)).toEqual(ev);
        // Key order does not matter on input; the encoding is the same.
        const shuffled = Object.fromEntries(Object.entries(ev).reverse()) as typeof ev;
        expect(encodeEntry(shuffled)).toEqual(bytes);
        const text = new TextDecoder().decode(bytes.subarray(1));
        expect(text).not.toMatch(/\s(?=(?:[^"]*"[^"]*")*[^"]*$)/); // no whitespace outside strings
      }),
    );
  });

  it('rejects every non-canonical spelling of a valid entry', () => {
    const ev = sampleEvent(1);
    const canonical = new TextDecoder().decode(encodeEntry(ev).subarray(1));
    const variants = [
      canonical.replace('{', '{ '), // whitespace
      canonical + ' ', // trailing whitespace
      canonical + '{}', // trailing bytes
      canonical.replace('"actor"', '"actor":"x","actor"'), // duplicate field
      canonical.replace('"fromVersion":1', '"fromVersion":1.0'), // number spelling
      canonical.replace('"fromVersion":1', '"fromVersion":1e0'),
      canonical.replace('svc-1', 'svc\\u002d1'), // escape
      JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(canonical)).reverse())), // key order
    ];
    for (const v of variants) expect(code(() => decodeEntry(withJson(v)))).toBe('ERR_AUDIT_ENTRY');
    expect(code(() => decodeEntry(withJson(canonical)))).toBe('ok');
  });

  it('rejects unknown and missing fields, wrong types, unknown types and versions, invalid UTF-8', () => {
    const ev = sampleEvent(0) as Record<string, unknown>;
    expect(code(() => encodeEntry({ ...ev, extra: 1 } as never))).toBe('ERR_AUDIT_ENTRY');
    const { suite: _s, ...missing } = ev;
    expect(code(() => encodeEntry(missing as never))).toBe('ERR_AUDIT_ENTRY');
    expect(code(() => encodeEntry({ ...ev, version: -1 } as never))).toBe('ERR_AUDIT_ENTRY');
    expect(code(() => encodeEntry({ ...ev, conversation: 'dm:alice:bob' } as never))).toBe('ERR_AUDIT_ENTRY'); // raw id, not an HMAC
    expect(code(() => encodeEntry({ ...ev, time: '2026-11-27T10:00:00Z' } as never))).toBe('ERR_AUDIT_ENTRY'); // other spelling
    expect(code(() => encodeEntry({ ...ev, type: 'key.deleted' } as never))).toBe('ERR_AUDIT_ENTRY');
    const bytes = encodeEntry(ev as never);
    expect(code(() => decodeEntry(Uint8Array.from([2, ...bytes.subarray(1)])))).toBe('ERR_AUDIT_ENTRY');
    const badUtf8 = Uint8Array.from(bytes);
    badUtf8[bytes.indexOf(0x73)] = 0xff; // a byte inside a string
    expect(code(() => decodeEntry(badUtf8))).toBe('ERR_AUDIT_ENTRY');
    expect(code(() => decodeEntry(new Uint8Array(0)))).toBe('ERR_AUDIT_ENTRY');
  });

  it('never accepts arbitrary bytes other than exact encodings (parser robustness)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = code(() => decodeEntry(bytes));
        if (r === 'ok') expect(encodeEntry(decodeEntry(bytes))).toEqual(bytes);
        else expect(r).toBe('ERR_AUDIT_ENTRY');
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(eventArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (ev, pos, x) => {
        const bytes = encodeEntry(ev);
        const changed = Uint8Array.from(bytes);
        changed[pos % bytes.length]! ^= x;
        const r = code(() => decodeEntry(changed));
        if (r === 'ok') expect(decodeEntry(changed)).not.toEqual(ev); // a different valid entry, never the same one
      }),
    );
  });

  it('keyed identifiers: stable per key, different per key and per kind, no raw id in the output', () => {
    const other = new AuditIdHasher(new Uint8Array(32).fill(10));
    expect(ids.conversation('dm:a:b')).toBe(ids.conversation('dm:a:b'));
    expect(ids.conversation('dm:a:b')).toMatch(/^[0-9a-f]{64}$/);
    expect(ids.conversation('dm:a:b')).not.toBe(other.conversation('dm:a:b'));
    expect(ids.conversation('x')).not.toBe(ids.case('x'));
    expect(() => new AuditIdHasher(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_INPUT', param: 'auditKey' }));
    const bytes = new TextDecoder().decode(encodeEntry(sampleEvent(4)));
    expect(bytes).not.toContain('case-4');
    expect(bytes).not.toContain('dm:4');
  });

  it('generateKey: 32 fresh random bytes, usable as an audit key', () => {
    const a = AuditIdHasher.generateKey();
    const b = AuditIdHasher.generateKey();
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    expect(new AuditIdHasher(a).conversation('x')).not.toBe(new AuditIdHasher(b).conversation('x'));
  });

  it('digests exactly the ciphertexts opened, in order', () => {
    const a = new Uint8Array([1]);
    const b = new Uint8Array([2]);
    expect(ciphertextsDigest([a, b])).not.toBe(ciphertextsDigest([b, a]));
    expect(ciphertextsDigest([a, b])).not.toBe(ciphertextsDigest([a]));
    expect(ciphertextsDigest([a, b])).toMatch(/^[0-9a-f]{64}$/);
    expect(() => validateEvent({ ...sampleEvent(5), ciphertexts: ciphertextsDigest([a]) })).not.toThrow();
  });
});
