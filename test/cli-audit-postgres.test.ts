/**
 * `keywarden audit verify|prove|entry|consistency` over an audit log in PostgreSQL (PGlite over
 * a socket, or the server at DATABASE_URL): the same outputs as for a directory, exit 1 for any
 * tampering with the tables, environment fallbacks, and `keywarden migrate`.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, parseCheckpoint } from '../src/audit/checkpoint.js';
import { verifyTlogProof } from '../src/audit/formats.js';
import { MerkleTree, leafHash, verifyConsistency } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteVerifier } from '../src/audit/note.js';
import { IncompleteError } from '../src/cli/common.js';
import { withPool } from '../src/cli/options.js';
import { LATEST_MIGRATION } from '../src/store/migrations.js';
import { buildPostgresLog, cli, otherEntry } from './support/cli.js';
import { type TestPool, testPool } from './support/pg.js';

const ORIGIN = 'keywarden.example/cli-pg';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(5));
const N = 10;
let db: TestPool;
let schema: string;
let entries: Uint8Array[];
const created: string[] = [];

beforeAll(async () => {
  db = await testPool();
  schema = `${db.schema}_log`;
  created.push(schema);
  entries = await buildPostgresLog(db.pool, schema, keys.signerKey, N);
});
afterAll(async () => {
  try {
    for (const s of created) await db.pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await db?.close();
  }
});

/**
 * Runs the CLI once the test's own connection is out of the way, and waits until the CLI's has
 * gone too before the test queries again (PGlite takes one client at a time).
 */
async function run(argv: string[], env: Record<string, string> = {}) {
  await db.releaseConnections();
  try {
    return await cli(argv, env);
  } finally {
    await db.releaseConnections();
  }
}
const pgArgs = (s = schema) => ['--database-url', db.url, '--schema', s];

describe('keywarden audit over PostgreSQL', () => {
  it('verify: exit 0 and the same report as the library, in text and JSON', async () => {
    const r = await run(['audit', 'verify', ...pgArgs(), '--key', keys.verifierKey]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`entries: ${N}, checkpoints: 4`);
    expect(r.out.trimEnd().split('\n').pop()).toBe('OK');
    const j = await run(['audit', 'verify', ...pgArgs(), '--key', keys.verifierKey, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.out)).toMatchObject({ ok: true, entries: N, checkpoints: 4, unsignedTail: 0, problems: [] });
  });

  it('reads the URL and schema from the environment, KEYWARDEN_DATABASE_URL before DATABASE_URL', async () => {
    const verify = ['audit', 'verify', '--key', keys.verifierKey];
    const unreachable = 'postgres://postgres@127.0.0.1:1/none';
    expect((await run(verify, { KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_SCHEMA: schema })).code).toBe(0);
    expect((await run(verify, { DATABASE_URL: db.url, KEYWARDEN_SCHEMA: schema })).code).toBe(0);
    expect((await run(verify, { KEYWARDEN_DATABASE_URL: db.url, DATABASE_URL: unreachable, KEYWARDEN_SCHEMA: schema })).code).toBe(0);
    // The command line wins over the environment.
    expect((await run([...verify, '--database-url', db.url, '--schema', schema], { KEYWARDEN_DATABASE_URL: unreachable, KEYWARDEN_SCHEMA: 'other' })).code).toBe(0);
    // --dir on the command line wins over a URL in the environment: the directory is read.
    const dir = await run([...verify, '--dir', '/nonexistent-kw-dir'], { KEYWARDEN_DATABASE_URL: db.url });
    expect([dir.code, dir.err]).toEqual([3, 'keywarden audit verify: could not complete: /nonexistent-kw-dir does not exist\n']);
  });

  it('prove, entry and consistency give what verifies offline', async () => {
    const p = await run(['audit', 'prove', '7', ...pgArgs(), '--key', keys.verifierKey]);
    expect(p.code, p.err).toBe(0);
    expect(verifyTlogProof(p.out, entries[7]!, keys.verifierKey)).toMatchObject({ ok: true, index: 7, size: N });
    const pj = JSON.parse((await run(['audit', 'prove', '7', ...pgArgs(), '--key', keys.verifierKey, '--json'])).out);
    expect(pj).toMatchObject({ index: 7, size: N, tlogProof: p.out });

    const e = await run(['audit', 'entry', '3', ...pgArgs()]);
    expect(e.code).toBe(0);
    expect(e.raw).toHaveLength(1);
    expect(Buffer.from(e.raw[0] as Uint8Array).equals(Buffer.from(entries[3]!))).toBe(true);
    const ej = JSON.parse((await run(['audit', 'entry', '3', ...pgArgs(), '--json'])).out);
    expect(ej).toEqual({ index: 3, base64: Buffer.from(entries[3]!).toString('base64') });

    const c = await run(['audit', 'consistency', '4', ...pgArgs(), '--key', keys.verifierKey]);
    expect(c.code, c.err).toBe(0);
    const [head, note] = [c.out.slice(0, c.out.indexOf('\n\n')), c.out.slice(c.out.indexOf('\n\n') + 2)];
    const proof = head.split('\n').slice(1).map((l) => new Uint8Array(Buffer.from(l, 'base64')));
    const latest = openCheckpoint(note, newNoteVerifier(keys.verifierKey), ORIGIN).checkpoint;
    expect(parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1)).size).toBe(N);
    const old = new MerkleTree(entries.slice(0, 4).map(leafHash)).root();
    expect(verifyConsistency(4, latest.size, old, latest.rootHash, proof)).toBe(true);
  });

  it('exit 3 for an unmigrated schema and an unreachable server, without the URL or its password in the message', async () => {
    const bare = await run(['audit', 'verify', ...pgArgs('kw_no_such_schema'), '--key', keys.verifierKey]);
    expect(bare.code).toBe(3);
    expect(bare.err).toMatch(/^keywarden audit verify: could not complete: .*SQLSTATE 42P01.*\n$/);
    const down = await run(['audit', 'verify', '--database-url', 'postgres://auditor:hunter2@127.0.0.1:1/db', '--key', keys.verifierKey]);
    expect(down.code).toBe(3);
    expect(down.err.split('\n')).toHaveLength(2);
    expect(down.err).not.toContain('hunter2');
    expect(down.err).not.toContain('127.0.0.1:1');
  });
});

describe('keywarden audit verify over PostgreSQL exits 1 for any tampering with the tables (property)', () => {
  const q = async (sql: string, params: unknown[] = []) => db.pool.query(sql.replaceAll('S.', `"${schema}".`), params);

  it('modify, delete or swap entry rows, or alter a checkpoint byte: exit 1; restored: exit 0', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(N - 1), fc.nat(), fc.constantFrom('modify', 'delete', 'swap', 'checkpoint-byte'), async (i, seed, how) => {
        const j = (i + 1) % N;
        const notes = (await q('SELECT seq, note FROM S.audit_checkpoints ORDER BY seq')).rows as { seq: string; note: string }[];
        const cp = notes[seed % notes.length]!;
        if (how === 'modify') await q('UPDATE S.audit_entries SET entry = $1 WHERE idx = $2', [Buffer.from(otherEntry(100 + i)), i]);
        if (how === 'delete') await q('DELETE FROM S.audit_entries WHERE idx = $1', [i]);
        if (how === 'swap') {
          await q('UPDATE S.audit_entries SET entry = $1 WHERE idx = $2', [Buffer.from(entries[j]!), i]);
          await q('UPDATE S.audit_entries SET entry = $1 WHERE idx = $2', [Buffer.from(entries[i]!), j]);
        }
        if (how === 'checkpoint-byte') {
          const pos = seed % cp.note.length;
          const flipped = cp.note.slice(0, pos) + String.fromCharCode(cp.note.charCodeAt(pos) ^ 1) + cp.note.slice(pos + 1);
          await q('UPDATE S.audit_checkpoints SET note = $1 WHERE seq = $2', [flipped, cp.seq]);
        }
        try {
          const r = await run(['audit', 'verify', ...pgArgs(), '--key', keys.verifierKey]);
          expect(r.code, `${how} ${i}: ${r.out}${r.err}`).toBe(1);
          expect(r.out).toMatch(/^PROBLEM /m);
          if (how === 'delete') expect(r.out).toContain(`PROBLEM storage index=${i}: audit_entries: the entries ${i}..${i} are missing`);
        } finally {
          // Put the table back exactly as it was.
          await q('DELETE FROM S.audit_entries WHERE idx = $1 OR idx = $2', [i, j]);
          for (const k of new Set([i, j])) await q('INSERT INTO S.audit_entries (idx, entry, leaf_hash) VALUES ($1, $2, $3)', [k, Buffer.from(entries[k]!), Buffer.from(leafHash(entries[k]!))]);
          await q('UPDATE S.audit_checkpoints SET note = $1 WHERE seq = $2', [cp.note, cp.seq]);
        }
        expect((await run(['audit', 'verify', ...pgArgs(), '--key', keys.verifierKey])).code).toBe(0);
      }),
      { numRuns: 16 },
    );
  });
});

describe('withPool', () => {
  it('readOnly: the server refuses writes, and nothing outlives the command (PGlite shares one session)', async () => {
    await db.releaseConnections();
    const write = await withPool(db.url, { readOnly: true }, (pool) => pool.query(`CREATE TABLE "${schema}".kw_cli_probe (x int)`)).catch((e: Error) => e);
    await db.releaseConnections();
    expect(write).toBeInstanceOf(IncompleteError);
    expect((write as Error).message).toBe('database: SQLSTATE 25006');
    // The test's own session can still write: no read-only setting or open transaction was left behind.
    await db.pool.query(`CREATE TABLE "${schema}".kw_cli_probe (x int)`);
    await db.pool.query(`DROP TABLE "${schema}".kw_cli_probe`);
  });
});

describe('keywarden migrate', () => {
  it('applies the migrations, then reports the schema up to date; --json and the environment', async () => {
    const s = `${db.schema}_migrate`;
    created.push(s);
    const first = await run(['migrate', '--json'], { KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_SCHEMA: s });
    expect(first.code, first.err).toBe(0);
    expect(JSON.parse(first.out)).toEqual({ schema: s, applied: Array.from({ length: LATEST_MIGRATION }, (_, k) => k + 1), version: LATEST_MIGRATION });
    const again = await run(['migrate', '--database-url', db.url, '--schema', s]);
    expect([again.code, again.out]).toEqual([0, 'schema is up to date\n']);
    const bad = await run(['migrate', '--database-url', db.url], { KEYWARDEN_SCHEMA: 'Bad-Name' });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^keywarden migrate: KEYWARDEN_SCHEMA: expected a schema name/);
  });
});
