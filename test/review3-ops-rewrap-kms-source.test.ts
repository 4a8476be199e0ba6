/**
 * `keywarden keys rewrap --to KEY` does not reach keys recorded under another KMS key, although
 * its --help and docs say it does.
 *
 * What is promised:
 * - `keywarden keys rewrap --help` (src/cli/keys-rewrap.ts:71-73): "Keys under KMS keys are reached
 *   by their ARN through the same KMS client as --to (ReEncrypt: the data key never leaves KMS);
 *   keys under local master keys need --from-local-key-file; to move keys out of KMS to a local
 *   key, name the old KMS key with --kms-key-id."
 * - docs/KEYS.md §10: "`rewrap --to KEY` reaches keys under any KMS key by the ARN they record,
 *   through the same client (`ReEncrypt`: the data key never leaves KMS)"; README's example
 *   `keywarden keys rewrap --to alias/keywarden-2027`.
 *
 * What happens: the command's MasterKeyRing holds only the destination (src/cli/keys-rewrap.ts:104-107:
 * sources are `--kms-key-id`/`--local-key-file` and `--from-local-key-file` only), and the library
 * ReEncrypts only from a key the ring accepts (src/keys/rewrap.ts:314 rewrapOne, `accepts(ctx.source, …)`),
 * so every key under the old KMS key falls through to unwrap and the run stops with exit 3
 * "no master key in the ring unwraps keys of arn:…:key/A" — nothing is moved.
 *
 * Correct behaviour: not trusting store-named ARNs (that would undo the strict mode of
 * SECURITY.md: a store writer's own KMS key would be ReEncrypted into ours), but letting the
 * operator name the old KMS key(s) — --kms-key-id works today for one; a repeatable
 * --from-kms-key-id would mirror --from-local-key-file — and saying so in --help, README and
 * KEYS.md §10. This test runs the documented command line and expects it to succeed; with the
 * docs fixed instead, it should be changed to expect the documented refusal.
 *
 * Now: the docs and --help say to name the old KMS keys; --from-kms-key-id KEY (repeatable) does
 * (the store is still not trusted to name them: SECURITY.md strict mode).
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
let server: KmsServer;
let schema: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  db = await testPool();
  schema = `${db.schema}_rwkms`;
  server = await startKmsServer();
  // The CLI's KMSClient takes its credentials from the SDK's default chain (process.env).
  for (const [k, v] of Object.entries({ AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey })) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  await db?.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await db?.close();
  await server?.close();
});

describe('keys rewrap --to KMS key B, keys under KMS key A', () => {
  it('needs the old KMS key named (--from-kms-key-id), as --help now says, and then moves the keys', async () => {
    const keyA = server.createKey();
    const keyB = server.createKey();
    await migrate(db.pool, { schema });
    const client = kmsClientFor(server);
    const kw = new Keywarden({ masterKey: new AwsKmsMasterKey({ client, keyId: keyA.arn }), keyStore: new PostgresKeyStore(db.pool, { schema }) });
    await kw.encryptString('dm:a', 'hello', { aad: 'x' });
    await kw.encryptString('dm:b', 'hello', { aad: 'y' });
    kw.close();
    client.destroy();

    await db.releaseConnections();
    const run = async (extra: string[]) => {
      await db.releaseConnections(); // PGlite serves one connection: the CLI's
      const err: string[] = [];
      const code = await main(
        ['keys', 'rewrap', '--to', keyB.arn, ...extra, '--kms-endpoint', server.endpoint, '--region', server.region, '--no-audit', '--database-url', db.url, '--schema', schema],
        { out: () => undefined, err: (s) => void err.push(s), env: {} },
      );
      await db.releaseConnections();
      return { code, err: err.join('') };
    };
    // Key A not named: the run stops (the store is not trusted to name the keys), nothing moves,
    // and the message says what to add.
    const refused = await run([]);
    expect(refused.code).toBe(3);
    expect(refused.err).toContain('--from-kms-key-id');
    expect((await new PostgresKeyStore(db.pool, { schema }).summary()).byMasterKey).toEqual({ [keyA.arn]: 2 });
    // Named: both keys move through the same client (ReEncrypt).
    expect(await run(['--from-kms-key-id', keyA.arn])).toEqual({ code: 0, err: expect.not.stringContaining('could not complete') });
    expect((await new PostgresKeyStore(db.pool, { schema }).summary()).byMasterKey).toEqual({ [keyB.arn]: 2 });
  });
});
