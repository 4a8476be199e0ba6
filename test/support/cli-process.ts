/**
 * The `keywarden` command as a separate process, the way a user runs it: the built
 * `dist/cli.js` (built here when missing), with an environment that holds none of the machine's
 * database or AWS settings, so that only what a test passes reaches the command.
 *
 * Children are spawned asynchronously: the PostgreSQL server (PGlite) or the KMS-compatible
 * endpoint may live in the test's own process, and a synchronous spawn would block the event
 * loop that serves them.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '../..');
export const bin = join(root, 'dist/cli.js');

/** Builds dist/ when it is missing (`npm run test:ci` builds it first). */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(bin)) return;
  await new Promise((resolve, reject) => execFile('npm', ['run', 'build', '--silent'], { cwd: root }, (e) => (e ? reject(e) : resolve(undefined))));
}

/**
 * The environment of a child: the machine's, minus database, keywarden and AWS settings, plus
 * AWS SDK settings that keep it from reading ~/.aws or probing an instance metadata service.
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(KEYWARDEN_|DATABASE_URL$|AWS_)/.test(k))) as Record<string, string>;
  return {
    ...base,
    AWS_CONFIG_FILE: join(root, '.no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(root, '.no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK warns once about Node 20 (end of life) on stderr; tests compare stderr exactly.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

/** A finished run. `signal` is set when the child was killed by one. */
export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}

/** A running child, its output so far, and its end. */
export interface CliChild {
  child: ChildProcess;
  out(): string;
  err(): string;
  done: Promise<CliRun>;
}

/** Starts `node dist/cli.js argv…` with `env` (see {@link childEnv}); `stdin` is written and closed. */
export function startCli(argv: readonly string[], env: Record<string, string>, stdin?: Uint8Array | string): CliChild {
  const child = spawn(process.execPath, [bin, ...argv], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  child.stdin!.on('error', () => undefined); // a child that exits before reading
  child.stdin!.end(stdin);
  const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString('utf8');
  const done = new Promise<CliRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, out: text(out), err: text(err) }));
  });
  return { child, out: () => text(out), err: () => text(err), done };
}

/** Runs `node dist/cli.js argv…` to its end. */
export function runCli(argv: readonly string[], env: Record<string, string>, stdin?: Uint8Array | string): Promise<CliRun> {
  return startCli(argv, env, stdin).done;
}
