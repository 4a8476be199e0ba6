/**
 * A FileAuditStore directory whose `head` or `checkpoint` was damaged or replaced: opening it
 * fails with the library's own errors (ERR_AUDIT_CORRUPT / ERR_AUDIT_UNAVAILABLE), never a raw
 * SyntaxError, TypeError or EISDIR (found by an outside review, 2026-11-30).
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame, scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { isKeywardenError } from '../src/errors.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/hostile-head', new Uint8Array(32).fill(6));
const enc = (s: string) => new TextEncoder().encode(s);
let dir: string;
let note: Uint8Array;
let json: Uint8Array;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-head-'));
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
  await log.close();
  const scan = scanFrames(new Uint8Array(await readFile(join(dir, 'head'))));
  [note, json] = [scan.records[0]!, scan.records[1]!];
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const head = (n: Uint8Array, j: Uint8Array) => Buffer.concat([MAGIC, frame(n), frame(j)]);
const withJson = (f: (j: Record<string, unknown>) => unknown) => head(note, enc(JSON.stringify(f(JSON.parse(new TextDecoder().decode(json)) as Record<string, unknown>))));

describe('FileAuditStore refuses a damaged head with its own errors', () => {
  const cases: [string, (d: string) => Promise<void>][] = [
    ['head JSON not JSON', (d) => writeFile(join(d, 'head'), head(note, enc('{not json')))],
    ['head JSON null', (d) => writeFile(join(d, 'head'), head(note, enc('null')))],
    ['head JSON an array', (d) => writeFile(join(d, 'head'), head(note, enc('[1,2]')))],
    ['head history not a number', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, history: 'x' })))],
    ['head history negative', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, history: -5 })))],
    ['head cursors not an object', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, cursors: 7 })))],
    ['head receipts not an array', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, receipts: {} })))],
    ['head pending a number', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, pending: 3 })))],
    ['head replay guard a number', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, guard: 3 })))],
    ['head replay guard not base64', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, guard: '%%%' })))],
    ['head replay guard truncated', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, guard: String(j.guard).slice(0, 20) })))],
    ['head replay guard missing', (d) => writeFile(join(d, 'head'), withJson((j) => ({ ...j, guard: null })))],
    ['head note not UTF-8', (d) => writeFile(join(d, 'head'), head(new Uint8Array([0xff, 0xfe, 0x80]), json))],
    ['head is a directory', async (d) => {
      await rm(join(d, 'head'));
      await mkdir(join(d, 'head'));
    }],
    ['checkpoint is a directory', async (d) => {
      await rm(join(d, 'checkpoint'));
      await mkdir(join(d, 'checkpoint'));
    }],
  ];
  it.each(cases)('%s', async (_, damage) => {
    const d = await mkdtemp(join(tmpdir(), 'kw-head-'));
    await cp(dir, d, { recursive: true });
    await damage(d);
    const err = await (async () => {
      const store = await FileAuditStore.open(d);
      const log = await AuditLog.open({ store, signerKey: keys.signerKey });
      await log.close();
    })().then(() => undefined, (e: unknown) => e);
    expect(isKeywardenError(err), String(err)).toBe(true);
    expect(['ERR_AUDIT_CORRUPT', 'ERR_AUDIT_UNAVAILABLE']).toContain((err as { code: string }).code);
    await rm(d, { recursive: true, force: true });
  });
});
