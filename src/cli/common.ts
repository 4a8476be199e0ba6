/**
 * The machinery every `keywarden` command shares: a declarative command table (./spec.ts),
 * parsing on `node:util` parseArgs in strict mode, help at every level, one-line usage errors
 * and the exit codes. Nothing here knows any particular command, so a new command is a table
 * entry with a `run` function and needs no parsing code of its own.
 * @module
 */
import { parseArgs } from 'node:util';
import { InvalidInputError } from '../errors.js';
import { VERSION } from '../version.js';
import { commandHelp, groupHelp, quote } from './help.js';
import { oneLine as escapeControls } from './text.js';
import { Args, type CommandSpec, EXIT, type GroupSpec, IncompleteError, type Io, type OptionSpec, RefusedError, UsageError, isGroup } from './spec.js';

export * from './spec.js';
export { commandHelp, groupHelp, usageLine } from './help.js';

type Token = { kind: 'option'; name: string; rawName: string; value?: string; inlineValue?: boolean } | { kind: 'positional'; value: string } | { kind: 'option-terminator' };

const HELP: OptionSpec = { name: 'help', short: 'h', type: 'boolean', description: 'show this help' };

/**
 * One line, whatever the message holds: errors must never spill over several lines, and what the
 * command line or a file name put in them (escape sequences, C1 controls, bidi overrides, line
 * separators) is shown escaped, never written to the terminal raw (outside review 6, 2026-12-02;
 * test/review6-parse-cli-error-line-escapes.test.ts).
 */
const oneLine = (s: string): string => escapeControls(redactKeys(s).replace(/\s*[\r\n]+\s*/g, '; ')).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

/**
 * What {@link quote} refuses to repeat, wherever it is in an error: a signer key or a private
 * JWK's `d` pasted where a file name belongs ("cannot read key file PRIVATE+KEY+…") printed the
 * key (outside review 6, 2026-12-02; test/review6-parse-cli-secret-in-path.test.ts).
 */
const redactKeys = (s: string): string =>
  s.replace(/PRIVATE\+KEY\+\S*/gi, '(a private key, not shown)').replace(/"d"\s*:\s*("[^"]*"?)?/g, '"d": (not shown)');

/**
 * Runs the command line `argv` (without node and the script) against the table `root` and
 * returns the exit code. Every error is reported as ONE line on `io.err`; nothing is thrown.
 */
export async function runCli(root: GroupSpec, argv: readonly string[], io: Io): Promise<number> {
  try {
    return await runGroup(root, root.name, argv, io);
  } catch (err) {
    // Only a bug in a command table gets here; still one line and exit 3, never a stack trace.
    io.err(`${root.name}: could not complete: ${oneLine(String((err as Error)?.message ?? err))}\n`);
    return EXIT.INCOMPLETE;
  }
}

async function runGroup(group: GroupSpec, path: string, argv: readonly string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--help' || first === '-h') return help(io, group, path);
  // --version belongs to the top level and to groups only: a command may one day need
  // `--version` for itself (a key version), and a global flag would take that name away.
  if (first === '--version') return version(io);
  if (first === undefined) return usage(io, path, 'missing command');
  if (first.startsWith('-')) return usage(io, path, `unknown option ${quote(first.split('=')[0]!)}`);
  if (first === 'help') return helpFor(group, path, rest, io);
  const child = group.commands.find((c) => c.name === first);
  if (!child) return usage(io, path, `unknown command ${quote(first)}`);
  const childPath = `${path} ${child.name}`;
  return isGroup(child) ? runGroup(child, childPath, rest, io) : runCommand(child, childPath, rest, io);
}

/** `… help [name…]`: the help of the named command or group below `group`. */
function helpFor(group: GroupSpec, path: string, names: readonly string[], io: Io): number {
  let node: GroupSpec | CommandSpec = group;
  let at = path;
  for (const name of names) {
    if (name === '--help' || name === '-h') break;
    const child: GroupSpec | CommandSpec | undefined = isGroup(node) ? node.commands.find((c) => c.name === name) : undefined;
    // Reported at the deepest level reached, whose help lists what is there.
    if (!child) return usage(io, at, isGroup(node) ? `unknown command ${quote(name)}` : `unexpected argument ${quote(name)}`);
    node = child;
    at = `${at} ${name}`;
  }
  return help(io, node, at);
}

function help(io: Io, node: GroupSpec | CommandSpec, path: string): number {
  io.out(isGroup(node) ? groupHelp(node, path) : commandHelp(node, path));
  return EXIT.OK;
}

function version(io: Io): number {
  io.out(`keywarden ${VERSION}\n`);
  return EXIT.OK;
}

function usage(io: Io, path: string, message: string): number {
  io.err(`${path}: ${oneLine(message)} (see '${path} --help')\n`);
  return EXIT.USAGE;
}

async function runCommand(cmd: CommandSpec, path: string, argv: readonly string[], io: Io): Promise<number> {
  const options = [...cmd.options, HELP];
  // --help wins over every other problem on the line, as in git and most mature CLIs. The
  // lenient pass only finds it; `--detail -h` gives -h to --detail, so it is no help request.
  if (lenientTokens(options, argv).some((t) => t.kind === 'option' && t.name === 'help')) return help(io, cmd, path);
  let args: Args;
  try {
    args = parse(cmd, options, path, argv, io.env ?? process.env);
  } catch (err) {
    if (err instanceof UsageError) return usage(io, path, err.message);
    throw err;
  }
  try {
    return await cmd.run(args, {
      io,
      emit: (value, text) => (args.json ? io.out(`${JSON.stringify(value, null, 2)}\n`) : text.length > 0 && io.out(text)),
      note: (text) => void (args.json ? undefined : io.err(text)),
    });
  } catch (err) {
    if (err instanceof UsageError) return usage(io, path, err.message);
    if (err instanceof InvalidInputError) {
      // Library validation names its own parameter; the user must see their flag instead.
      const option = optionOfParam(cmd, err.param);
      const expectation = err.message.slice(err.param.length + 2);
      if (option !== undefined) return usage(io, path, `${args.label(option)}: ${expectation}`);
    }
    if (err instanceof RefusedError) {
      io.err(`${path}: refused (${err.code}): ${oneLine(err.message)}\n`);
      return EXIT.FOUND;
    }
    const message = err instanceof IncompleteError ? err.message : `${(err as Error)?.message ?? String(err)}`;
    io.err(`${path}: could not complete: ${oneLine(message)}\n`);
    return EXIT.INCOMPLETE;
  }
}

/** The option behind a library parameter: the command's own mapping, else the same name in kebab-case. */
function optionOfParam(cmd: CommandSpec, param: string): string | undefined {
  const name = cmd.params?.(param) ?? param.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return cmd.options.some((o) => o.name === name) ? name : undefined;
}

function parseConfig(options: readonly OptionSpec[]) {
  return Object.fromEntries(
    options.map((o) => [o.name, { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) }]),
  );
}

function lenientTokens(options: readonly OptionSpec[], argv: readonly string[]): Token[] {
  return parseArgs({ args: [...argv], options: parseConfig(options), strict: false, allowPositionals: true, tokens: true }).tokens as Token[];
}

/** Parses strictly; every failure becomes a UsageError naming the offending option or argument. */
function parse(cmd: CommandSpec, options: readonly OptionSpec[], path: string, argv: readonly string[], env: Io['env'] & object): Args {
  let parsed: { values: Record<string, unknown>; positionals: string[]; tokens: Token[] };
  try {
    parsed = parseArgs({ args: [...argv], options: parseConfig(options), strict: true, allowPositionals: true, tokens: true }) as typeof parsed;
  } catch (err) {
    throw new UsageError(diagnose(options, argv) ?? String((err as Error).message).split('\n')[0]!);
  }
  for (const o of options) {
    const n = parsed.tokens.filter((t) => t.kind === 'option' && t.name === o.name).length;
    if (n > 1 && !o.multiple) throw new UsageError(`option '--${o.name}' given more than once`);
  }
  const values: Record<string, string | string[] | boolean> = {};
  const sources: Record<string, string> = {};
  for (const o of cmd.options) {
    const v = parsed.values[o.name];
    if (v !== undefined) {
      // An empty value is never meant: `--dir ''` would read the current directory and
      // `--database-url ''` connect wherever libpq's defaults lead, where an empty environment
      // variable counts as unset (outside review, 2026-12-01).
      if (o.type === 'string' && (Array.isArray(v) ? v : [v]).some((x) => x === '')) throw new UsageError(`option '--${o.name}' needs a value, got an empty string`);
      values[o.name] = v as string | string[] | boolean;
      sources[o.name] = `--${o.name}`;
      continue;
    }
    // Environment fallbacks, in order; an empty variable counts as unset.
    const name = o.env?.find((e) => (env[e] ?? '') !== '');
    if (name !== undefined) {
      const text = env[name]!;
      values[o.name] = o.type === 'boolean' ? envBoolean(name, text) : o.multiple ? [text] : text;
      sources[o.name] = name;
    } else if (o.required) {
      throw new UsageError(`missing required option '--${o.name}'${o.env?.length ? ` (or set ${o.env.join(' or ')})` : ''}`);
    }
  }
  const specs = cmd.positionals ?? [];
  if (parsed.positionals.length > specs.length) throw new UsageError(`unexpected argument ${quote(parsed.positionals[specs.length]!)}`);
  const positionals: Record<string, string> = {};
  specs.forEach((p, i) => {
    const v = parsed.positionals[i];
    if (v !== undefined) positionals[p.name] = v;
    else if (p.required) throw new UsageError(`missing argument ${p.name}`);
  });
  return new Args(path, cmd.options, values, sources, positionals);
}

/** A boolean option's environment variable: 1/true or 0/false, anything else is a usage error. */
function envBoolean(name: string, text: string): boolean {
  if (text === '1' || text === 'true') return true;
  if (text === '0' || text === 'false') return false;
  throw new UsageError(`${name}: expected 1, true, 0 or false`);
}

/** Names the first offending token, in our words (Node's messages span lines and vary by version). */
function diagnose(options: readonly OptionSpec[], argv: readonly string[]): string | undefined {
  for (const t of lenientTokens(options, argv)) {
    if (t.kind !== 'option') continue;
    const o = options.find((x) => x.name === t.name);
    if (!o) return `unknown option ${quote(t.rawName)}`;
    if (o.type === 'boolean' && t.value !== undefined) return `option '--${o.name}' takes no value`;
    if (o.type === 'string' && t.value === undefined) return `missing value for option '--${o.name}' (--${o.name} ${o.value ?? 'VALUE'})`;
    if (o.type === 'string' && !t.inlineValue && t.value?.startsWith('-')) {
      return `missing value for option '--${o.name}' (for a value that starts with '-', write --${o.name}=VALUE)`;
    }
  }
  return undefined;
}
