/**
 * Outside review 7 (verify, CLI): the storage problems `keywarden audit verify` collects while
 * READING a log were not bounded, although docs/AUDIT.md §5 says "at most 20 problems of each
 * kind are listed, and one more of that kind says how many were left out" (the verifier's own
 * problems are: test/review-verify-problems-bound.test.ts). The sources (src/cli/audit-source.ts)
 * kept a plain array:
 *
 * - PostgreSQL: one `storage` problem per gap in `audit_entries` — deleting every other row of a
 *   120-entry log printed 60 of them (a log of 10^7 entries: 5*10^6 problems held and printed;
 *   the test uses 60 entries, 30 gaps);
 * - a store directory: one per `checkpoints` record that is not UTF-8 (records are framed with an
 *   unkeyed checksum: anyone who can write the store appends them), each message first compared
 *   with every earlier one (`problems.some`) — quadratic time as well as unbounded memory;
 * - a damaged `head` file was reported twice (it is read once for the report, once for the size).
 *
 * Now: each source keeps a StorageProblems list (a ProblemList: the first MAX_PROBLEMS_PER_KIND
 * of a kind listed, the rest counted in one more problem); a file read twice reports once.
 */
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { frame } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { MAX_PROBLEMS_PER_KIND } from '../src/audit/verify.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { buildPostgresLog, cli } from './support/cli.js';
import { type TestPool, testPool } from './support/pg.js';

const keys = generateNoteKey('keywarden.example/review7-storage-bound', new Uint8Array(32).fill(71));
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function storage(out: string): { listed: number; more: string[] } {
  const problems = (JSON.parse(out) as { problems: { kind: string; message: string }[] }).problems.filter((p) => p.kind === 'storage');
  return { listed: problems.length, more: problems.filter((p) => / more storage problems were found/.test(p.message)).map((p) => p.message) };
}

async function fileLog(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kw-r7-storage-'));
  dirs.push(dir);
  const l = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 4; i++) await l.append(sampleEvent(i));
  await l.close();
  return dir;
}

describe('storage problems of audit verify are bounded', () => {
  it('a directory: 50 checkpoint records that are not UTF-8 list 20 problems and count the rest', async () => {
    const dir = await fileLog();
    for (let i = 0; i < 50; i++) await appendFile(join(dir, 'checkpoints'), frame(new Uint8Array([0xff, 0xfe, 0x41 + (i % 26)])));
    const r = await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey, '--json']);
    expect(r.code, r.err).toBe(1);
    const s = storage(r.out);
    expect(s.listed).toBe(MAX_PROBLEMS_PER_KIND + 1);
    expect(s.more).toEqual([`30 more storage problems were found and not listed (the first ${MAX_PROBLEMS_PER_KIND} are)`]);
  });

  it('a directory: a damaged head is reported once', async () => {
    const dir = await fileLog();
    const head = await readFile(join(dir, 'head'));
    await writeFile(join(dir, 'head'), head.subarray(0, head.length - 3));
    const r = await cli(['audit', 'verify', '--dir', dir, '--key', keys.verifierKey]);
    expect(r.code, r.err).toBe(1);
    expect(r.out.split('\n').filter((l) => l.startsWith('PROBLEM storage'))).toEqual([`PROBLEM storage: ${join(dir, 'head')} is damaged`]);
  });

  describe('PostgreSQL', () => {
    let db: TestPool;
    let schema: string;
    beforeAll(async () => {
      db = await testPool();
      schema = `${db.schema}_r7s`;
      await buildPostgresLog(db.pool, schema, keys.signerKey, 60);
    });
    afterAll(async () => {
      try {
        await db.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await db.close();
      }
    });

    it('every other row of audit_entries deleted: 30 gaps list 20 problems and count the rest', async () => {
      await db.pool.query(`DELETE FROM "${schema}".audit_entries WHERE idx % 2 = 1`);
      await db.releaseConnections();
      const r = await cli(['audit', 'verify', '--database-url', db.url, '--schema', schema, '--key', keys.verifierKey, '--json']);
      await db.releaseConnections();
      expect(r.code, r.err).toBe(1);
      const s = storage(r.out);
      expect(s.listed).toBe(MAX_PROBLEMS_PER_KIND + 1);
      expect(s.more).toEqual([`10 more storage problems were found and not listed (the first ${MAX_PROBLEMS_PER_KIND} are)`]);
    });
  });
});
