/**
 * Outside review 5 (tlog read side): `audit verify --dir` read the `checkpoint` file (and the
 * history records and the head) through a lenient decoder — `new TextDecoder('utf-8',
 * { fatal: false })`, which silently DROPS a leading byte-order mark and turns invalid UTF-8 into
 * U+FFFD (src/cli/audit-source.ts). A signed note is bytes: signed-note §Format requires valid
 * UTF-8, and Go's golang.org/x/mod/sumdb/note `Open` refuses a note with an invalid byte
 * anywhere, and verifies the log's signature over the text with its BOM (which then fails). So a
 * published `checkpoint` file that every tlog-tiles client and witness refuses — a BOM put in
 * front, an invalid byte in a signature line of a key nobody knows — passed the auditor's verify
 * with exit 0; in a FileAuditStore directory, the BOM'd file even compared equal to the history's
 * newest checkpoint and was not checked at all — while `AuditLog.open` refuses that very store
 * ("latest stored checkpoint does not verify"): the auditor was told OK for a log that cannot open.
 *
 * Now: the bytes are decoded exactly (BOM kept, so the note does not verify); bytes that are not
 * UTF-8 are reported as a `storage` problem. Exit 1 in both cases; the genuine file still exits 0.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';

const keys = generateNoteKey('keywarden.example/review5-checkpoint-bytes', new Uint8Array(32).fill(54));
let base: string;
let storeDir: string;
let exported: string;
let genuine: Buffer;
const dirs: string[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kw-r5-cpbytes-'));
  storeDir = join(base, 'store');
  exported = join(base, 'public');
  const log = await AuditLog.open({ store: await FileAuditStore.open(storeDir), signerKey: keys.signerKey });
  for (let i = 0; i < 6; i++) await log.append(sampleEvent(i));
  await log.close();
  const r = await cli(['audit', 'export', '--dir', storeDir, '--key', keys.verifierKey, '--out', exported]);
  expect(r.code, r.err).toBe(0);
  genuine = await readFile(join(exported, 'checkpoint'));
});
afterAll(async () => Promise.all([base, ...dirs].map((d) => rm(d, { recursive: true, force: true }))));

/** `audit verify` over a copy of `dir` whose `checkpoint` file holds `bytes`. */
async function verifyWith(dir: string, bytes: Uint8Array) {
  const d = await mkdtemp(join(tmpdir(), 'kw-r5-cpbytes-'));
  dirs.push(d);
  await cp(dir, d, { recursive: true });
  await writeFile(join(d, 'checkpoint'), bytes);
  return cli(['audit', 'verify', '--dir', d, '--key', keys.verifierKey]);
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** An extra signature line, from a key nobody knows, whose name holds the byte 0xff. */
const invalidLine = Buffer.concat([Buffer.from('\u2014 stranger'), Buffer.from([0xff]), Buffer.from(` ${Buffer.alloc(68, 1).toString('base64')}\n`)]);

describe('audit verify and the exact bytes of the checkpoint file', () => {
  it('the genuine files verify (exit 0)', async () => {
    for (const dir of [exported, storeDir]) {
      const r = await verifyWith(dir, genuine);
      expect(r.code, r.out + r.err).toBe(0);
    }
  });

  it('a byte-order mark in front of the checkpoint is found (exit 1), exported or in the store', async () => {
    for (const dir of [exported, storeDir]) {
      const r = await verifyWith(dir, Buffer.concat([BOM, genuine]));
      expect(r.code, r.out + r.err).toBe(1);
    }
  });

  it('an invalid UTF-8 byte in an unknown signature line is found (exit 1)', async () => {
    for (const dir of [exported, storeDir]) {
      const r = await verifyWith(dir, Buffer.concat([genuine, invalidLine]));
      expect(r.code, r.out + r.err).toBe(1);
    }
  });

  it('for all names and bytes: an unknown signature line whose name holds a byte that is not UTF-8 is found', async () => {
    const name = fc.stringMatching(/^[a-z0-9./é]{1,12}$/);
    await fc.assert(
      fc.asyncProperty(name, fc.nat(), fc.integer({ min: 0x80, max: 0xff }), async (n, at, byte) => {
        const bytes = Buffer.from(n);
        const i = at % (bytes.length + 1);
        const line = Buffer.concat([Buffer.from('\u2014 '), bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i), Buffer.from(` ${Buffer.alloc(68, 2).toString('base64')}\n`)]);
        const r = await verifyWith(exported, Buffer.concat([genuine, line]));
        expect(r.code, r.out + r.err).toBe(1);
      }),
      { numRuns: 25 },
    );
  });
});
