/**
 * Opening a new FileAuditStore directory from several processes at once (found running
 * `npm run bench:audit -- --quick`: a worker read the `layout` file another had created but not
 * yet written, and refused the store as "unknown layout"). The layout file must appear whole.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';

function opener(dir: string): { ready: Promise<void>; out: Promise<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support/audit-open.ts')], { env: { ...process.env, AUDIT_DIR: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return { ready: new Promise((r) => setTimeout(r, 0)), out: new Promise((resolve) => child.on('exit', () => resolve(out.trim()))) };
}

describe('FileAuditStore.open on a new directory from several processes at once', () => {
  it('a layout file another opener has created but not yet written (or left empty by a crash) is not refused', async () => {
    const base = await mkdtemp(join(tmpdir(), 'kw-open-race-'));
    try {
      await mkdir(join(base, 'log'));
      await writeFile(join(base, 'log', 'layout'), '');
      const store = await FileAuditStore.open(join(base, 'log'));
      await store.close();
      expect(await readFile(join(base, 'log', 'layout'), 'utf8')).toBe('keywarden-audit-tiles/v1\n');
      // Another layout is still refused.
      await writeFile(join(base, 'log', 'layout'), 'keywarden-audit-tiles/v9\n');
      await expect(FileAuditStore.open(join(base, 'log'))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE', message: expect.stringContaining('unknown layout') });
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });


  it('every open succeeds and the layout file is whole', async () => {
    const failures: string[] = [];
    for (let round = 0; round < 3; round++) {
      const base = await mkdtemp(join(tmpdir(), 'kw-open-race-'));
      try {
        const dir = join(base, 'log');
        const procs = Array.from({ length: 6 }, () => opener(dir));
        await new Promise((r) => setTimeout(r, 1500)); // every process loaded, polling for GO
        await writeFile(join(base, 'GO'), '');
        const outs = await Promise.all(procs.map((p) => p.out));
        failures.push(...outs.filter((o) => o !== 'ok'));
        expect(await readFile(join(dir, 'layout'), 'utf8')).toBe('keywarden-audit-tiles/v1\n');
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
