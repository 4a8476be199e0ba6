/**
 * The built command (`dist/cli.js`, package.json "bin"), run as a separate process the way a
 * user runs it: help and --version exit 0, a usage error is one line and exit 2, and
 * `audit verify` reads a PostgreSQL log (exit 0; exit 1 once an entry is changed in the table).
 *
 * The PostgreSQL server may be PGlite in THIS process (test/support/pg.ts), so the children are
 * spawned asynchronously: a synchronous spawn would block the event loop that serves them.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateNoteKey } from '../../src/audit/note.js';
import { buildPostgresLog, otherEntry } from '../support/cli.js';
import { type TestPool, testPool } from '../support/pg.js';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'dist/cli.js');

/** The environment without any database settings of the machine running the tests. */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KEYWARDEN_|DATABASE_URL$)/.test(k)));

/** Runs `node dist/cli.js …`; resolves with the exit code and output (never rejects on exit != 0). */
function keywarden(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...argv], { cwd: root, env: { ...baseEnv, ...env }, encoding: 'utf8', timeout: 60_000 }, (error, out, err) => {
      const code = error ? (error as { code?: unknown }).code : 0;
      if (typeof code !== 'number') reject(error);
      else resolve({ code, out, err });
    });
  });
}

describe('dist/cli.js', () => {
  beforeAll(async () => {
    // `npm run test:ci` builds dist/ first; build here only when it is missing.
    if (!existsSync(bin)) await new Promise((resolve, reject) => execFile('npm', ['run', 'build', '--silent'], { cwd: root }, (e) => (e ? reject(e) : resolve(undefined))));
  }, 120_000);

  it('starts with a shebang, so the package.json "bin" runs it with node', () => {
    expect(readFileSync(bin, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it.each([
    [['--help'], 'usage: keywarden <command> [options]'],
    [['help'], 'usage: keywarden <command> [options]'],
    [['audit', '--help'], 'usage: keywarden audit <command> [options]'],
    [['token', '-h'], 'usage: keywarden token <command> [options]'],
    [['audit', 'verify', '--help'], 'usage: keywarden audit verify (--dir DIR | --database-url URL [--schema NAME]) --key VKEY'],
    [['help', 'audit', 'keygen'], 'usage: keywarden audit keygen ORIGIN --out-private FILE'],
    [['token', 'help', 'approve'], 'usage: keywarden token approve --token FILE'],
    [['migrate', '--help'], 'usage: keywarden migrate --database-url URL'],
  ])('%j: help on stdout, exit 0', async (argv, first) => {
    const r = await keywarden(argv);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out.startsWith(first)).toBe(true);
  });

  it('--version and version print the package version, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    for (const argv of [['--version'], ['version']]) expect(await keywarden(argv)).toEqual({ code: 0, out: `keywarden ${version}\n`, err: '' });
  });

  it('an unknown flag: exit 2, one line on stderr naming it', async () => {
    const r = await keywarden(['audit', 'verify', '--foo', '--dir', '.']);
    expect(r).toEqual({ code: 2, out: '', err: "keywarden audit verify: unknown option '--foo' (see 'keywarden audit verify --help')\n" });
  });
});

describe('dist/cli.js audit verify on a PostgreSQL log', () => {
  const keys = generateNoteKey('keywarden.example/cli-built', new Uint8Array(32).fill(11));
  let db: TestPool;
  let schema: string;

  beforeAll(async () => {
    db = await testPool();
    schema = `${db.schema}_bin`;
    await buildPostgresLog(db.pool, schema, keys.signerKey, 8);
  });
  afterAll(async () => {
    try {
      await db.releaseConnections();
      await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await db?.close();
    }
  });

  /** Runs the built CLI while the test holds no connection (PGlite takes one client at a time). */
  async function verify(argv: string[], env: Record<string, string> = {}) {
    await db.releaseConnections();
    try {
      return await keywarden(['audit', 'verify', '--key', keys.verifierKey, ...argv], env);
    } finally {
      await db.releaseConnections();
    }
  }

  it('exit 0 with --database-url, and with KEYWARDEN_DATABASE_URL; exit 1 after an entry was changed', async () => {
    const byFlag = await verify(['--database-url', db.url, '--schema', schema]);
    expect(byFlag.code, byFlag.err).toBe(0);
    expect(byFlag.out).toContain('entries: 8');
    const byEnv = await verify([], { KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_SCHEMA: schema });
    expect(byEnv.code, byEnv.err).toBe(0);

    await db.pool.query(`UPDATE "${schema}".audit_entries SET entry = $1 WHERE idx = 4`, [Buffer.from(otherEntry(4))]);
    const tampered = await verify(['--database-url', db.url, '--schema', schema]);
    expect(tampered.code, tampered.err).toBe(1);
    // Appended in batches of 3, so the change is pinned to the batch [3, 6) holding entry 4.
    expect(tampered.out).toMatch(/^PROBLEM checkpoint-root index=3 checkpoint=1: entries in \[3, 6\)/m);
    expect(tampered.out.trimEnd().split('\n').pop()).toMatch(/^FAILED: \d+ problem\(s\)$/);
    const tamperedByEnv = await verify(['--json'], { KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_SCHEMA: schema });
    expect(tamperedByEnv.code).toBe(1);
    expect(JSON.parse(tamperedByEnv.out)).toMatchObject({ ok: false, entries: 8 });
  });
});
