/**
 * Shared by test/review6-audit-file-*.test.ts and test/ci/audit-file-crash-matrix.test.ts: runs test/support/review6-audit-file-crash-child.ts
 * (killed at a chosen file system call), then reopens the directory in this process and checks
 * what docs/AUDIT.md §4 promises: every acknowledged record integrated exactly once, the log
 * verifies (verifyAuditLog and `keywarden audit verify --dir`), the checkpoint history never goes
 * back, and `keywarden audit export` writes tiles equal to the store's.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { expect } from 'vitest';
import { decodeEntry } from '../../src/audit/entry.js';
import { FileAuditStore } from '../../src/audit/file-store.js';
import { AuditLog } from '../../src/audit/log.js';
import { generateNoteKey } from '../../src/audit/note.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { cli } from './cli.js';

export const crashKeys = generateNoteKey('keywarden.example/review6-file-crash', new Uint8Array(32).fill(66));
export const O = { signerKey: crashKeys.signerKey, checkpointIntervalMs: 3_600_000, lingerMs: 0, pollMs: 5 };

export interface Kill { op: 'rename' | 'write'; match: string; nth?: number; when: 'before' | 'after'; signal?: 'SIGKILL' | 'SIGSTOP' }

/** Starts the child; `done` resolves with the ids it acknowledged and whether it was killed. */
export function startChild(env: Record<string, string>, kill?: Kill): { child: ChildProcess; output: () => string; done: Promise<{ acked: string[]; killed: boolean; out: string }> } {
  const child = fork(join(import.meta.dirname, 'review6-audit-file-crash-child.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SIGNER_KEY: crashKeys.signerKey, ...env, ...(kill !== undefined && { KILL: JSON.stringify(kill) }) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => void (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal }))).then(({ code, signal }) => {
    if (signal !== 'SIGKILL' && code !== 0) throw new Error(`child exited with ${code}: ${err}`);
    return { acked: [...out.matchAll(/acked (\S+)/g)].map((m) => m[1]!), killed: signal === 'SIGKILL', out };
  });
  return { child, output: () => out, done };
}

/** Runs the child to its end (or its kill). */
export function runChild(env: Record<string, string>, kill?: Kill): Promise<{ acked: string[]; killed: boolean; out: string }> {
  return startChild(env, kill).done;
}

/** Resolves once process `pid` is stopped (SIGSTOP): its state in /proc is `T`. */
export async function stopped(pid: number): Promise<void> {
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function files(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(relative(root, join(d, e.name)));
    }
  };
  await walk(root);
  return out;
}

/**
 * Reopens `dir` (repairing only when `repair` — a crash before the head leaves a tail the docs
 * say is refused until repaired), integrates what waits, and checks every promise. Returns the
 * entries' ids.
 */
export async function checkAfterCrash(dir: string, acked: string[], out: string, options?: { repair?: boolean }): Promise<string[]> {
  const open = () => FileAuditStore.open(dir).then((store) => AuditLog.open({ store, ...O, ...(options?.repair === true && { repair: { unsignedTail: 'drop' as const, actor: 'ops' } }) }));
  const log = await open();
  // flush() waits for this instance's records; other instances' outbox records are integrated
  // by the sequencer's next rounds: wait (bounded) until the acknowledged ones are in.
  const ids: string[] = [];
  for (let round = 0; round < 500; round++) {
    await log.flush();
    for (let i = ids.length; i < log.size; i++) ids.push(decodeEntry(await log.entry(i)).id);
    if (acked.every((id) => ids.includes(id))) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await log.close();
  // Exactly once: the acknowledged ones, and nothing twice.
  for (const id of acked) expect(ids.filter((x) => x === id), `acknowledged ${id}`).toHaveLength(1);
  expect(new Set(ids).size, `no entry twice: ${ids.join(',')}`).toBe(ids.length);

  const store = await FileAuditStore.open(dir);
  try {
    const checkpoints = await store.checkpoints();
    const sizes = checkpoints.map((c) => Number(c.split('\n')[1]));
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]!, `history sizes ${sizes.join(',')}`).toBeGreaterThanOrEqual(sizes[i - 1]!);
    const entries = await store.read(0, await store.size());
    const report = verifyAuditLog({ verifierKey: crashKeys.verifierKey, entries, checkpoints, head: (await store.state()).head!, requireHead: true });
    expect(report.problems).toEqual([]);
  } finally {
    await store.close();
  }
  const v = await cli(['audit', 'verify', '--dir', dir, '--key', crashKeys.verifierKey]);
  expect(v.code, v.out + v.err).toBe(0);
  const e = await cli(['audit', 'export', '--dir', dir, '--key', crashKeys.verifierKey, '--out', out, '--json']);
  expect(e.code, e.out + e.err).toBe(0);
  const ve = await cli(['audit', 'verify', '--dir', out, '--key', crashKeys.verifierKey]);
  expect(ve.code, ve.out + ve.err).toBe(0);
  // Every exported tile or bundle the store holds at the same path has the same bytes.
  let compared = 0;
  for (const f of await files(join(out, 'tile'))) {
    const mine = await readFile(join(dir, 'tile', f)).catch(() => undefined);
    if (mine === undefined) continue;
    expect(Buffer.compare(mine, await readFile(join(out, 'tile', f))), `tile/${f}`).toBe(0);
    compared++;
  }
  expect(compared).toBeGreaterThan(0);
  expect((await stat(join(out, 'checkpoint'))).isFile()).toBe(true);
  return ids;
}
