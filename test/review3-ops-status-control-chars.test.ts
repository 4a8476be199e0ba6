/**
 * `keywarden keys status` prints store-controlled master key ids (and re-wrap job destinations)
 * to the operator's terminal without escaping control characters.
 *
 * Where: src/cli/keys-status.ts:82,86 renderSummary (`lines.push(\`  ${id}  ${n}\`)` for every
 * `byMasterKey` id; `to ${j.to}` for each job, read from keywarden_jobs) and :114 renderConversation
 * (`master key ${v.masterKeyId}`). The ids come from `keywarden_master_keys.name` and the job's
 * JSON state, i.e. from whoever can write the key store — an adversary in SECURITY.md's threat
 * model ("someone who can write those databases").
 *
 * Why it matters: `keys status` is what the operator reads to decide that a re-wrap is done and
 * the old KMS key can be disabled (docs/KEYS.md §6 step 4). A name holding a newline, CR or an
 * ANSI escape can erase or forge lines (e.g. hide "arn:…:key/OLD  12345" so every key seems to be
 * under the new key). The project already treats this as a defect elsewhere: src/cli/audit.ts:74-83
 * escapes store-controlled text ("so that nobody who can write the store can rewrite what the
 * auditor's terminal shows", outside review 2026-12-01).
 *
 * Correct: escape C0/C1 controls (as src/cli/audit.ts `oneLine` does) in every store-derived
 * string the text output prints: master key ids, job names/destinations.
 *
 * Now: keys status prints store text through src/cli/text.ts (controls and format characters escaped).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { migrate } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { makeRecord } from './support/store-contract.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
let schema: string;

beforeAll(async () => {
  db = await testPool();
  schema = `${db.schema}_ctl`;
  await migrate(db.pool, { schema });
});
afterAll(async () => {
  await db?.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await db?.close();
});

async function status(extra: string[] = []): Promise<{ code: number; out: string }> {
  await db.releaseConnections();
  const out: string[] = [];
  const code = await main(['keys', 'status', ...extra, '--database-url', db.url, '--schema', schema], { out: (s) => void out.push(String(s)), err: () => undefined, env: {} });
  await db.releaseConnections();
  return { code, out: out.join('') };
}

const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('keys status and store-controlled master key ids', () => {
  it('prints no raw control character and no forged line', async () => {
    const store = new PostgresKeyStore(db.pool, { schema });
    const old = 'arn:aws:kms:eu-west-1:111122223333:key/old';
    await store.insertFirst(makeRecord('dm:a', { masterKeyId: old }));
    // A key-store writer's master key name: erases the line it is on (CR + ANSI erase line) and
    // forges a reassuring one after a newline.
    await store.insertFirst(makeRecord('dm:b', { masterKeyId: '\r\u001b[2K\u001b[1A\r\u001b[2K  arn:aws:kms:eu-west-1:111122223333:key/new  2\nx' }));
    const summary = await status();
    expect(summary.code).toBe(0);
    expect(summary.out).not.toMatch(RAW_CONTROL);
    // Every line of the text output comes from keywarden, not from the store: 3 header lines + 2 ids.
    expect(summary.out.trimEnd().split('\n')).toHaveLength(5);

    const one = await status(['dm:b']);
    expect(one.code).toBe(0);
    expect(one.out).not.toMatch(RAW_CONTROL);
  });
});
