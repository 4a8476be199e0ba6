/**
 * One error contract (issue #10, and issue #11 defect 4): every error a public function throws
 * is a KeywardenError with a stable code — never a RangeError from a Date, a TypeError or
 * DOMException from atob, or a foreign error class.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { AuditLog } from '../src/audit/log.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { generateNoteKey, openNote, parseNote } from '../src/audit/note.js';
import { parseCheckpoint } from '../src/audit/checkpoint.js';
import { parseTlogProof, verifyTlogProof } from '../src/audit/formats.js';
import { isKeywardenError } from '../src/errors.js';
import { sampleEvent } from './support/audit-fixtures.js';

/** The code of what `f` throws; fails the test if it does not throw keywarden's own error. */
async function codeOf(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    expect(isKeywardenError(e), `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`).toBe(true);
    return (e as { code: string }).code;
  }
  return 'no error';
}

const BAD_TIMES = ['2026-13-01T00:00:00.000Z', '2026-02-30T00:00:00.000Z', '2026-01-01T24:00:00.000Z', '+275760-09-13T00:00:00.001Z'];

describe('audit entries with impossible times', () => {
  for (const time of BAD_TIMES) {
    it(`encodeEntry, decodeEntry and AuditLog.append refuse ${time} with ERR_AUDIT_ENTRY`, async () => {
      const event = { ...sampleEvent(1), time };
      expect(await codeOf(() => encodeEntry(event))).toBe('ERR_AUDIT_ENTRY');
      const bytes = new TextEncoder().encode(`\u0001${JSON.stringify({ ...event })}`);
      expect(await codeOf(() => decodeEntry(bytes))).toBe('ERR_AUDIT_ENTRY');
      const log = await AuditLog.open({ store: new MemoryAuditStore(), signerKey: generateNoteKey('x.example/log').signerKey });
      expect(await codeOf(() => log.append(event))).toBe('ERR_AUDIT_ENTRY');
      expect(log.size).toBe(0);
    });
  }
});

describe('tlog-proof, note and checkpoint parsers', () => {
  const cases: [string, string][] = [
    ['extra line that is not base64', 'c2sp.org/tlog-proof@v1\nextra !!!!\nindex 0\n\nx\n'],
    ['extra line with a bad length', 'c2sp.org/tlog-proof@v1\nextra QQ\nindex 0\n\nx\n'],
    ['no blank line', 'c2sp.org/tlog-proof@v1\nindex 0\n'],
    ['bad header', 'nope\nindex 0\n\nx\n'],
    ['bad hash line', 'c2sp.org/tlog-proof@v1\nindex 0\n%%%%\n\nx\n'],
  ];
  for (const [name, text] of cases) {
    it(`parseTlogProof: ${name} -> ERR_PROOF_MALFORMED`, async () => {
      expect(await codeOf(() => parseTlogProof(text))).toBe('ERR_PROOF_MALFORMED');
      expect(verifyTlogProof(text, new Uint8Array(1), generateNoteKey('x.example/log').verifierKey).ok).toBe(false);
    });
  }
  it('parseTlogProof refuses a non-string with its own error', async () => {
    expect(await codeOf(() => parseTlogProof(42 as unknown as string))).toBe('ERR_PROOF_MALFORMED');
  });
  it('note and checkpoint errors are KeywardenErrors', async () => {
    expect(await codeOf(() => parseNote('no signature here\n'))).toMatch(/^ERR_NOTE_/);
    expect(await codeOf(() => openNote('x\n\n— k AAAA\n', []))).toMatch(/^ERR_NOTE_/);
    expect(await codeOf(() => parseCheckpoint('origin\nnot-a-number\nAAAA\n'))).toBe('ERR_CHECKPOINT_MALFORMED');
  });
});
