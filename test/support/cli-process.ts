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
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '../..');
export const bin = join(root, 'dist/cli.js');

/** The newest modification time of the files under `dir` (recursively), in ms. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds dist/ when it is missing or older than a file in src/ (`npm run test:ci` builds it
 * first): a test of the built command must test the code in the checkout, not a stale build.
 */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest(join(root, 'src'))) return;
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

/** `s` quoted for a POSIX shell. */
const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Runs `node dist/cli.js argv…` in a pseudo-terminal (util-linux `script`), as at an operator's
 * terminal: stdin, stdout and stderr are the terminal, `typed` is what the person types. The
 * output is the terminal's (stdout and stderr together, lines ending in CR LF); the exit code is
 * the command's.
 */
export function runInTerminal(argv: readonly string[], env: Record<string, string>, typed = ''): Promise<CliRun> {
  const command = [process.execPath, bin, ...argv].map(shellQuote).join(' ');
  return new Promise<CliRun>((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: root, env: { ...env, COLUMNS: '120', LINES: '40' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(typed);
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, out: Buffer.concat(out).toString('utf8'), err: Buffer.concat(err).toString('utf8') }));
  });
}
