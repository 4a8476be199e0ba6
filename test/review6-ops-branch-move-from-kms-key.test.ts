/**
 * Review 6 (operator CLI): `keys rewrap --into-branch ID` and `--branch ID` accepted
 * `--from-kms-key-id KEY` and silently ignored it.
 *
 * Where: src/cli/keys-rewrap.ts runBranchMove read `--from-local-key-file` into the master key
 * ring but never `--from-kms-key-id` (the `--to` path reads both). Moving direct keys that are
 * under an older KMS key (K1) into a branch whose keys are wrapped by the current one (K2) stopped
 * with exit 3 and "give the old master key (… --from-kms-key-id KEY for a KMS key)"; giving it
 * changed nothing, so the advice looped, and a malformed value was not even checked.
 *
 * Without any old key named, the refusal spoke the library's words ("list an earlier key's ARN
 * in previousKeyIds"), not the command's: branch mode used the bare master key, not a ring.
 *
 * Now: in branch mode `--from-kms-key-id` is checked before anything connects (exit 2 naming
 * the flag) and the key is a source of the ring, reached through the same KMS client: the move
 * completes (exit 0) and every key is under the branch. Without it, exit 3 names the flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden } from '../src/node.js';
import { migrate } from '../src/store/migrations.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { type KmsServer, kmsClientFor, startKmsServer } from './support/kms-server.js';
import { type TestPool, testPool } from './support/pg.js';

let db: TestPool;
let kms: KmsServer;
let schema: string;
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

beforeAll(async () => {
  db = await testPool();
  kms = await startKmsServer();
  // The CLI's KMS client takes its credentials from the SDK's default chain (the environment).
  process.env.AWS_ACCESS_KEY_ID = kms.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = kms.secretAccessKey;
  schema = `${db.schema}_bfk`;
});
afterAll(async () => {
  for (const [k, v] of [['AWS_ACCESS_KEY_ID', savedEnv.id], ['AWS_SECRET_ACCESS_KEY', savedEnv.secret]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await kms?.close();
  await db?.close();
});

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  await db.releaseConnections();
  try {
    const code = await main([...argv, '--database-url', db.url, '--schema', schema, '--region', kms.region, '--kms-endpoint', kms.endpoint, '--no-audit'], {
      out: (s) => void out.push(String(s)), err: (s) => void err.push(s), env: {},
    });
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    await db.releaseConnections();
  }
}

describe('keys rewrap --into-branch / --branch: --from-kms-key-id', () => {
  it('a malformed --from-kms-key-id is refused in branch mode too, before anything connects', async () => {
    const k2 = kms.createKey();
    const r = await run(['keys', 'rewrap', '--into-branch', 'tenant-k', '--kms-key-id', k2.arn, '--from-kms-key-id', 'not a key id']);
    expect([r.code, r.err]).toEqual([2, expect.stringContaining('--from-kms-key-id')]);
  });

  it('keys under an older KMS key named with --from-kms-key-id move into the branch', async () => {
    const k1 = kms.createKey();
    const k2 = kms.createKey();
    await migrate(db.pool, { schema });
    const keyStore = new PostgresKeyStore(db.pool, { schema });
    const kw = new Keywarden({ masterKey: new AwsKmsMasterKey({ client: kmsClientFor(kms), keyId: k1.arn }), keyStore });
    try {
      for (const c of ['bk:a', 'bk:b', 'bk:c']) await kw.encryptString(c, 'hello');
    } finally {
      kw.close();
    }
    expect((await keyStore.summary()).byMasterKey).toEqual({ [k1.arn]: 3 });

    // Without the old key: exit 3, and the advice names the flag (not the library's previousKeyIds).
    const without = await run(['keys', 'rewrap', '--into-branch', 'tenant-k', '--kms-key-id', k2.arn]);
    expect([without.code, without.err]).toEqual([3, expect.stringContaining('--from-kms-key-id KEY')]);
    expect(without.err).not.toContain('previousKeyIds');

    const r = await run(['keys', 'rewrap', '--into-branch', 'tenant-k', '--kms-key-id', k2.arn, '--from-kms-key-id', k1.arn, '--json']);
    expect([r.code, r.err]).toEqual([0, expect.any(String)]);
    expect(JSON.parse(r.out)).toMatchObject({ rewrapped: 3, failed: 0, complete: true });
    expect((await keyStore.summary()).byMasterKey).toEqual({ 'branch:tenant-k#1': 3 });
  });
});
