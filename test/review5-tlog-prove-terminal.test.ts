/**
 * Outside review 5 (tlog read side): `keywarden audit prove` and `audit consistency` print the
 * stored checkpoint note verbatim. Signed-note verifiers ignore signature lines from unknown keys
 * (signed-note §Signatures), so whoever can write the store (no key needed) can add one to the
 * `checkpoint` file and it still opens; a key name may hold anything but white space and '+'
 * (our parser also refuses C0 controls) — so C1 controls (U+009B is CSI), DEL and Unicode format
 * characters (U+202E, a bidi override) reached the auditor's terminal raw, although every other
 * audit command escapes store-controlled text (src/cli/text.ts; test/review-verify-terminal.test.ts).
 *
 * Now: the note printed (text and --json) keeps every signature line that verified and every
 * unknown one whose name is plain text, and leaves out unknown lines whose names hold control or
 * format characters — nobody's key we could check. The output is still a valid tlog-proof /
 * tlog-witness request: the log's signature (and the witnesses') are untouched.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEntry } from '../src/audit/entry.js';
import { verifyTlogProof } from '../src/audit/formats.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const keys = generateNoteKey('keywarden.example/review5-prove-terminal', new Uint8Array(32).fill(53));
// C0 other than newline, DEL, C1, and Unicode format characters (what src/cli/text.ts escapes).
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}]/u;
let dir: string;
let genuine: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-r5-prove-'));
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
  await log.close();
  genuine = await readFile(join(dir, 'checkpoint'), 'utf8');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The genuine checkpoint with one more signature line, from a key nobody knows, named `name`. */
const withLine = (name: string) => `${genuine}\u2014 ${name} ${Buffer.alloc(68, 7).toString('base64')}\n`;

async function run(checkpoint: string) {
  await writeFile(join(dir, 'checkpoint'), checkpoint);
  const prove = await cli(['audit', 'prove', '2', '--dir', dir, '--key', keys.verifierKey]);
  const proveJson = await cli(['audit', 'prove', '2', '--dir', dir, '--key', keys.verifierKey, '--json']);
  const consistency = await cli(['audit', 'consistency', '1', '--dir', dir, '--key', keys.verifierKey]);
  return { prove, proveJson, consistency };
}

describe('audit prove / consistency and hostile signature lines in the stored checkpoint', () => {
  it('prints no control or format character a forged unknown signature line brings', async () => {
    const r = await run(withLine('\u009b2J\u009bH\u202eKO\u007f'));
    for (const [name, res] of Object.entries(r)) {
      expect(res.code, `${name}: ${res.err}`).toBe(0);
      expect(UNSAFE.test(res.out), `${name} output: ${JSON.stringify(res.out)}`).toBe(false);
    }
    // Still a proof anyone with the verifier key checks offline.
    expect(verifyTlogProof(r.prove.out, encodeEntry(sampleEvent(2)), keys.verifierKey)).toMatchObject({ ok: true, index: 2, size: 5 });
  });

  it('keeps unknown signature lines whose names are plain text', async () => {
    const r = await run(withLine('witness.example/unknown'));
    expect(r.prove.code).toBe(0);
    expect(r.prove.out).toContain('\u2014 witness.example/unknown ');
  });

  it('for all names a store writer may give such a line: the output is safe and still verifies', async () => {
    const alphabet = fc.constantFrom('a', '/', '.', 'é', '\u0085x', '\u007f', '\u0080', '\u009b', '\u009d', '\u00ad', '\u200b', '\u200e', '\u202e', '\u2066', '\ufeff', '\u{e0001}');
    await fc.assert(
      fc.asyncProperty(fc.array(alphabet, { minLength: 1, maxLength: 8 }).map((a) => a.join('').replace(/\u0085/g, '')).filter((s) => s.length > 0), async (name) => {
        const r = await run(withLine(name));
        for (const res of [r.prove, r.proveJson, r.consistency]) {
          expect(res.code, res.err).toBe(0);
          expect(UNSAFE.test(res.out), JSON.stringify(res.out)).toBe(false);
        }
        expect(verifyTlogProof(r.prove.out, encodeEntry(sampleEvent(2)), keys.verifierKey).ok).toBe(true);
      }),
      { numRuns: 25 },
    );
  });
});
