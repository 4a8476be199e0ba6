/**
 * `audit verify --dir` on a FileAuditStore directory checks the `checkpoint` file as well as the
 * checkpoint history. The file is the newest checkpoint that `AuditLog.open`, proofs and
 * `audit export` use; verify used to read only the history, so a signed fork, an older
 * checkpoint (a rollback of what is published) or a missing, empty or binary file passed as OK
 * (found by an outside review, 2026-11-30).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCheckpoint, signCheckpoint } from '../src/audit/checkpoint.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/verify-checkpoint-file', new Uint8Array(32).fill(5));
let dir: string;
let history: string[];

async function verify(d: string) {
  const out: string[] = [];
  const code = await main(['audit', 'verify', '--dir', d, '--key', keys.verifierKey], { out: (s) => void out.push(String(s)), err: (s) => void out.push(s) });
  return { code, out: out.join('') };
}

async function copyWith(checkpoint: string | Uint8Array | undefined): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kw-vcf-'));
  await cp(dir, d, { recursive: true });
  if (checkpoint === undefined) await rm(join(d, 'checkpoint'));
  else await writeFile(join(d, 'checkpoint'), checkpoint);
  return d;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-vcf-'));
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 12; i++) await log.append(sampleEvent(i));
  await log.close();
  const scan = scanFrames(new Uint8Array(await readFile(join(dir, 'checkpoints'))));
  history = scan.records.map((r) => new TextDecoder().decode(r));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('audit verify reads the checkpoint file', () => {
  it('0 when it is the newest checkpoint of the history', async () => {
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(await readFile(join(dir, 'checkpoint'), 'utf8')).toBe(history.at(-1));
    const r = await verify(await copyWith(history.at(-1)));
    expect(r.code, r.out).toBe(0);
  });

  it('1 when it was replaced by an older genuine checkpoint (rollback)', async () => {
    const r = await verify(await copyWith(history[3]));
    expect(r.code, r.out).toBe(1);
  });

  it('1 when it is a signed fork: the right size and key, another root', async () => {
    const newest = parseCheckpoint(history.at(-1)!.slice(0, history.at(-1)!.indexOf('\n\n') + 1));
    const forked = signCheckpoint({ ...newest, rootHash: new Uint8Array(32).fill(7) }, newNoteSigner(keys.signerKey));
    const r = await verify(await copyWith(forked));
    expect(r.code, r.out).toBe(1);
  });

  it('1 when it is missing, empty or not a note', async () => {
    for (const bad of [undefined, '', new Uint8Array([0xff, 0xfe, 0x00, 0x01]), 'not a checkpoint\n']) {
      const r = await verify(await copyWith(bad));
      expect(r.code, `${String(bad)}: ${r.out}`).toBe(1);
    }
  });
});
