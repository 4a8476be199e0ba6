/**
 * The runnable examples under examples/ (each README snippet is cut from one of them) and the
 * environment they need: a KMS-compatible endpoint for the real `@aws-sdk/client-kms` (through
 * the SDK's own AWS_ENDPOINT_URL_KMS setting, so the example code is what a user writes) and,
 * for the PostgreSQL example, a database.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type KmsServer, startKmsServer } from './kms-server.js';

export interface Example {
  /** File under examples/. */
  file: string;
  /** Needs a PostgreSQL server with more than one connection (DATABASE_URL). */
  postgres?: boolean;
  /** Uses top-level await (ESM only). */
  esmOnly?: boolean;
}

/** The examples the README is cut from, plus the demo. */
export const EXAMPLES: readonly Example[] = [
  { file: 'quickstart.ts' },
  { file: 'aws-kms.ts' },
  { file: 'errors.ts' },
  { file: 'secrets.ts' },
  { file: 'audit.ts' },
  { file: 'breakglass.ts' },
  { file: 'key-lifecycle.ts' },
  { file: 'rewrap.ts' },
  { file: 'attachments.ts' },
  { file: 'branch-keys.ts' },
  { file: 'postgres.ts', postgres: true },
];

export interface ExampleEnv {
  env: NodeJS.ProcessEnv;
  kms: KmsServer;
  /** A PostgreSQL schema of its own for one run of the PostgreSQL example (dropped by close()). */
  schema(label: string): string;
  close(): Promise<void>;
}

/** Starts the KMS test endpoint and returns the environment every example runs with. */
export async function exampleEnv(): Promise<ExampleEnv> {
  const kms = await startKmsServer();
  const key = kms.createKey({ alias: 'alias/keywarden-example' });
  // Each run of the PostgreSQL example gets a schema of its own: the database outlives the run
  // (CI runs the suites once per Node major against one server), and a log signed with another
  // run's key would rightly be refused.
  const run = randomBytes(4).toString('hex');
  const schemas: string[] = [];
  return {
    kms,
    schema(label) {
      const s = `kw_ex_${run}_${label.replace(/[^a-z0-9]+/g, '_')}`;
      schemas.push(s);
      return s;
    },
    env: {
      ...process.env,
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
      AWS_REGION: kms.region,
      AWS_ACCESS_KEY_ID: kms.accessKeyId,
      AWS_SECRET_ACCESS_KEY: kms.secretAccessKey,
      KEYWARDEN_KMS_KEY_ID: key.arn,
      // The AWS SDK's end-of-support notice for Node 20 is not the example's output.
      AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING: '1',
    },
    async close() {
      await kms.close();
      if (process.env.DATABASE_URL && schemas.length > 0) {
        const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
        try {
          for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        } finally {
          await pool.end();
        }
      }
    },
  };
}

/** Runs a command; resolves with its exit code and output (never rejects on a non-zero exit). */
export function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
