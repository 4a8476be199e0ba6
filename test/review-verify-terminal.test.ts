/**
 * Outside review (verify path): `keywarden audit verify` prints store-controlled text verbatim in
 * its human-readable report. Someone who can write the audit store (no key needed) can put
 * terminal control sequences into an entry (here: an unknown JSON field name, quoted in the
 * "does not parse" message) and so rewrite what the auditor sees on the terminal — erase the
 * PROBLEM lines and print "OK" — while the exit status is still 1.
 *
 * Correct behaviour: the text report never contains C0/C1 control characters other than the
 * newlines it writes itself (such bytes are escaped, e.g. as \u001b).
 *
 * Now: messages, names and evidence are printed with control characters escaped.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { MAGIC, frame } from '../src/audit/framing.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/review-terminal';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(11));
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

// Clear the screen, home the cursor, and draw a fake clean verdict.
const ESCAPES = '\u001b[2J\u001b[H\u001b]0;audit\u0007OK\u009b';

describe('audit verify text report and hostile store content', () => {
  it('does not write terminal control sequences taken from a forged entry', async () => {
    const genuine = [0, 1, 2, 3].map((i) => encodeEntry(sampleEvent(i)));
    const tree = new MerkleTree();
    for (const e of genuine) tree.append(leafHash(e));
    const cp = signCheckpoint({ origin: ORIGIN, size: 4, rootHash: tree.root(4), extensions: [] }, newNoteSigner(keys.signerKey));
    // A forged entry past the checkpoint: a valid event plus one extra field whose NAME is escapes.
    const forged = new Uint8Array([0x01, ...new TextEncoder().encode(JSON.stringify({ ...sampleEvent(4), [ESCAPES]: 'x' }))]);

    const dir = await mkdtemp(join(tmpdir(), 'kw-review-term-'));
    dirs.push(dir);
    await writeFile(join(dir, 'entries'), Buffer.concat([MAGIC, ...[...genuine, forged].map(frame)]));
    await writeFile(join(dir, 'checkpoints'), Buffer.concat([MAGIC, frame(new TextEncoder().encode(cp))]));

    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey], {
      out: (s) => void out.push(typeof s === 'string' ? s : new TextDecoder().decode(s)),
      err: (s) => void err.push(s),
    });
    const text = out.join('') + err.join('');
    expect(code).toBe(1);
    expect(text).toContain('entry 4 does not parse');
     
    const controls = text.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g) ?? [];
    expect(controls.map((c) => `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`)).toEqual([]);
  });
});
