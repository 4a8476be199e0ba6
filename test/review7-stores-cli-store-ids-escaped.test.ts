/**
 * Review 7 (stores, operator CLI): `keys retain --dry-run` and `keys rewrap` printed conversation
 * ids read from the key store with JSON.stringify only, so C1 controls (U+0080-U+009F, e.g. the
 * 8-bit CSI U+009B) and Unicode format characters (bidi overrides such as U+202E, zero-width
 * characters) reached the operator's terminal raw.
 *
 * Where: src/cli/keys-retain.ts `render` (one line per version a dry run would shred) and
 * src/cli/keys-rewrap.ts `render` (one `FAILED` line per key KMS refused). The ids come from the
 * key store (retention's scan, the re-wrap's scan), i.e. from whoever can write it — SECURITY.md's
 * threat model. JSON.stringify escapes only C0 controls, `"` and `\`. A dry run is what the
 * operator reads to decide what retention will erase; a bidi override reorders the rest of its
 * line (the version, the times), and an 8-bit CSI drives a terminal that honours C1 controls.
 * `keys status` prints the same ids through src/cli/text.ts (`quoted`: controls and format
 * characters escaped) since review 3 (test/review3-ops-status-control-chars.test.ts).
 *
 * Now: both commands print store-controlled conversation ids with `quoted`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { makeRecord } from './support/store-contract.js';
import { type KeyFiles, keyFiles, seedConversations } from './support/keys-cli.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
let files: KeyFiles;
let schema: string;

/** An id a store writer chose: a bidi override and an 8-bit CSI sequence. */
const HOSTILE = 'dm:\u202eevil\u009b2J\u200b';
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\p{Cf}]/u;

beforeAll(async () => {
  db = await testPool();
  files = await keyFiles();
  schema = `${db.schema}_ids`;
  await seedConversations(db.pool, schema, files.master, [HOSTILE]);
});
afterAll(async () => {
  await db?.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await files?.cleanup();
  await db?.close();
});

async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  await db.releaseConnections();
  const out: string[] = [];
  const code = await main([...argv, '--database-url', db.url, '--schema', schema], { out: (s) => void out.push(String(s)), err: () => undefined, env: {} });
  await db.releaseConnections();
  return { code, out: out.join('') };
}

describe('store-controlled conversation ids on the terminal', () => {
  it('keys retain --dry-run escapes them', async () => {
    // A version of the hostile conversation superseded long ago (written by the store's writer).
    const store = new PostgresKeyStore(db.pool, { schema });
    const old = `${HOSTILE}:old`;
    const masterKeyId = files.master.keyId; // bytes no master key opens: the re-wrap below lists them as FAILED
    await store.insertFirst(makeRecord(old, { masterKeyId, activatedAt: new Date('2020-01-01T00:00:00Z'), createdAt: new Date('2020-01-01T00:00:00Z') }));
    await store.insertNext(makeRecord(old, { masterKeyId, version: 2, activatedAt: new Date('2020-02-01T00:00:00Z') }), 1);
    const r = await cli(['keys', 'retain', '--older-than', '30d', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('v1 superseded');
    expect(r.out).not.toMatch(RAW);
  });

  it('keys rewrap escapes them in its FAILED lines', async () => {
    // The hostile conversation's key is damaged: the master key refuses it.
    await db.pool.query(`UPDATE "${schema}".conversation_keys SET wrapped_key = set_byte(wrapped_key, 20, (get_byte(wrapped_key, 20) + 1) % 256) WHERE conversation_id = $1 AND version = 2`, [HOSTILE]);
    const r = await cli(['keys', 'rewrap', '--to-local-key-file', files.otherFile, '--from-local-key-file', files.masterFile, '--no-audit']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAILED');
    expect(r.out).not.toMatch(RAW);
  });
});
