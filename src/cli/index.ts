/**
 * The `keywarden` command: the table of every command (./keys.ts, ./inspect.ts, ./audit.ts,
 * ./token.ts, ./migrate.ts) and {@link main}. Parsing, help and errors are generic (./common.ts): a new command is a new
 * entry in {@link COMMANDS}.
 * @module
 */
import { VERSION } from '../version.js';
import { auditGroup } from './audit.js';
import { type CommandSpec, EXIT, type GroupSpec, type Io, runCli } from './common.js';
import { migrateCommand } from './migrate.js';
import { inspectCommand } from './inspect.js';
import { keysGroup } from './keys.js';
import { jsonOption } from './options.js';
import { processTerminal, readStdin } from './terminal.js';
import { tokenGroup } from './token.js';

const versionCommand: CommandSpec = {
  name: 'version',
  summary: 'print the version',
  options: [jsonOption],
  async run(_args, ctx) {
    ctx.emit({ name: 'keywarden', version: VERSION }, `keywarden ${VERSION}\n`);
    return EXIT.OK;
  },
};

/** Every `keywarden` command. */
export const COMMANDS: GroupSpec = {
  name: 'keywarden',
  summary: `keywarden ${VERSION}: envelope encryption for direct messages; the operator's and auditor's commands.`,
  commands: [keysGroup, inspectCommand, auditGroup, tokenGroup, migrateCommand, versionCommand],
  footer: `Options marked "env" may be set in the environment instead (the command line wins).
With --json a command prints its result as one JSON object on stdout; errors are always one
line of text on stderr. No command prints key material, plaintext, tokens or database passwords.

exit status:
  0  ok
  1  problems found or refused: audit verify and token inspect found problems, token approve
     refused; keys: no such conversation or version (ERR_KEY_NOT_FOUND), a conversation shredded
     as a whole (ERR_KEY_SHREDDED), shredding not confirmed, keys rewrap: KMS refused some keys;
     inspect: not a ciphertext keywarden knows (ERR_UNSUPPORTED_FORMAT)
  2  usage error: the command line is wrong (also: shred without --yes where nobody can be
     asked, a key change without audit keys or --no-audit)
  3  could not complete: unreadable input, unreachable database or KMS, a schema without the
     keywarden tables, a file that already exists; keys retain and keys rewrap stopped by
     Ctrl-C or SIGTERM (after the page in progress: run the same command again to go on)
  130, 143  a second Ctrl-C or SIGTERM ended the process at once (a rerun still goes on safely)`,
};

const stdio = (): Io => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  stdin: readStdin,
  terminal: processTerminal(),
});

/**
 * Runs the CLI with `argv` (without node and the script) and returns the exit code; errors are
 * reported on `io.err`, never thrown. `io.env` (default process.env) supplies the environment
 * fallbacks.
 *
 * @example
 * ```ts
 * process.exitCode = await main(['audit', 'verify', '--dir', './audit', '--key', '@log.vkey']);
 * ```
 */
export async function main(argv: string[], io: Io = stdio()): Promise<number> {
  return runCli(COMMANDS, argv, io);
}
