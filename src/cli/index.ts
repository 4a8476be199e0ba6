/**
 * The `keywarden` command: the table of every command (./audit.ts, ./token.ts, ./migrate.ts)
 * and {@link main}. Parsing, help and errors are generic (./common.ts): a new command is a new
 * entry in {@link COMMANDS}.
 * @module
 */
import { VERSION } from '../version.js';
import { auditGroup } from './audit.js';
import { type CommandSpec, EXIT, type GroupSpec, type Io, runCli } from './common.js';
import { migrateCommand } from './migrate.js';
import { jsonOption } from './options.js';
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
  commands: [auditGroup, tokenGroup, migrateCommand, versionCommand],
  footer: `Options marked "env" may be set in the environment instead (the command line wins).
With --json a command prints its result as one JSON object on stdout; errors are always one
line of text on stderr.

exit status:
  0  ok
  1  problems found (audit verify, token inspect) or refused (token approve)
  2  usage error: the command line is wrong
  3  could not complete: unreadable input, unreachable database, a file that already exists`,
};

const stdio: Io = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) };

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
export async function main(argv: string[], io: Io = stdio): Promise<number> {
  return runCli(COMMANDS, argv, io);
}
