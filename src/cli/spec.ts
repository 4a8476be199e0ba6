/**
 * The shape of the `keywarden` command table, the errors a command throws to choose its exit
 * code, and {@link Args}, the parsed command line a command runs with. Import it through
 * ./common.ts.
 * @module
 */
import { InternalError } from '../errors.js';
import type { Terminal } from './terminal.js';

/** Exit codes of every command: documented in the top-level help. */
export const EXIT = { OK: 0, FOUND: 1, USAGE: 2, INCOMPLETE: 3 } as const;

/** The command line is wrong (exit 2). Its message names the option or argument. */
export class UsageError extends Error {}

/** The command could not do its work: unreadable input, unreachable database (exit 3). */
export class IncompleteError extends Error {}

/** The command declines to act, for a reason the user can fix (exit 1). */
export class RefusedError extends Error {
  constructor(
    /** A stable code such as `ERR_BG_EXPIRED`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Where a command writes: results to `out`, errors and notes to `err`; `env` defaults to
 * process.env. `stdin` reads standard input (`inspect -`); `terminal` is there only when the
 * CLI runs as a process (./terminal.ts): without it a command never prompts, draws no progress
 * bar and installs no signal handler, which is what in-process callers (tests) want.
 */
export interface Io {
  out(s: string | Uint8Array): void;
  err(s: string): void;
  env?: Readonly<Record<string, string | undefined>>;
  stdin?: (max?: number) => Promise<Uint8Array>;
  terminal?: Terminal;
}

/** One option of a command. */
export interface OptionSpec {
  /** Long name without the dashes: `database-url`. */
  name: string;
  type: 'string' | 'boolean';
  /** May be given several times (values in order). */
  multiple?: boolean;
  /** One-letter alias. */
  short?: string;
  /** Name of the value in help and usage: `URL`. */
  value?: string;
  /** One line for the help. */
  description: string;
  /** Environment variables read, in order, when the option is absent. */
  env?: readonly string[];
  /** A usage error when absent (after the environment fallbacks). */
  required?: boolean;
}

/** One positional argument of a command. */
export interface PositionalSpec {
  /** Upper-case name shown in usage and messages: `INDEX`. */
  name: string;
  description: string;
  required?: boolean;
}

/** What a command's `run` gets besides its arguments. */
export interface RunContext {
  io: Io;
  /** Prints the command's result: `value` as one JSON object with --json, else `text`. */
  emit(value: unknown, text: string | Uint8Array): void;
  /** A note for the person at the terminal (stderr); silent with --json. */
  note(text: string): void;
}

/** A command: data for parsing and help, and the function that does the work. */
export interface CommandSpec {
  name: string;
  /** One line, shown in the group's list. */
  summary: string;
  /** The arguments part of the usage line, when the generated one cannot say it (alternatives). */
  usage?: string;
  /** Paragraphs after the usage line. */
  description?: string;
  options: readonly OptionSpec[];
  positionals?: readonly PositionalSpec[];
  /**
   * The option behind a library parameter named in an InvalidInputError (`fields.exp` →
   * `expires-in`), when it is not simply the parameter's name in kebab-case.
   */
  params?: (param: string) => string | undefined;
  /** Does the work; returns the exit code or throws one of the errors above. */
  run(args: Args, ctx: RunContext): Promise<number>;
}

/** A group of commands (`keywarden`, `keywarden audit`). */
export interface GroupSpec {
  name: string;
  summary: string;
  description?: string;
  commands: readonly (CommandSpec | GroupSpec)[];
  /** Text at the end of the group's help (the top level documents the exit codes there). */
  footer?: string;
}

/** True for a group, false for a command. */
export function isGroup(node: CommandSpec | GroupSpec): node is GroupSpec {
  return 'commands' in node;
}

/**
 * A parsed command line. Reading an option the command did not declare, or with the wrong
 * accessor, throws: that is a bug in the table, not a user error.
 */
export class Args {
  readonly #options: ReadonlyMap<string, OptionSpec>;

  constructor(
    /** The command's path, `keywarden audit verify`, for messages. */
    readonly command: string,
    options: readonly OptionSpec[],
    private readonly values: Readonly<Record<string, string | string[] | boolean>>,
    private readonly sources: Readonly<Record<string, string>>,
    private readonly positionals: Readonly<Record<string, string>>,
  ) {
    this.#options = new Map(options.map((o) => [o.name, o]));
  }

  #spec(name: string, type: 'string' | 'boolean', multiple: boolean): void {
    const o = this.#options.get(name);
    if (!o || o.type !== type || !!o.multiple !== multiple) throw new InternalError(`${this.command}: option --${name} is not declared as ${type}${multiple ? '[]' : ''}`);
  }

  /** A single-valued string option, or undefined. */
  string(name: string): string | undefined {
    this.#spec(name, 'string', false);
    return this.values[name] as string | undefined;
  }

  /** A string option declared required (present after parsing). */
  required(name: string): string {
    const v = this.string(name);
    if (v === undefined) throw new UsageError(`missing required option '--${name}'`);
    return v;
  }

  /** A repeatable string option's values, in order. */
  list(name: string): string[] {
    this.#spec(name, 'string', true);
    return [...((this.values[name] as string[] | undefined) ?? [])];
  }

  /** A boolean option. */
  flag(name: string): boolean {
    this.#spec(name, 'boolean', false);
    return this.values[name] === true;
  }

  /** True when the command has --json and it was given. */
  get json(): boolean {
    return this.#options.has('json') && this.values.json === true;
  }

  /** Where an option's value came from: `--name`, an environment variable's name, or undefined. */
  source(name: string): string | undefined {
    if (!this.#options.has(name)) throw new InternalError(`${this.command}: option --${name} is not declared`);
    return this.sources[name];
  }

  /** How to name an option to the user: the flag, or the environment variable its value came from. */
  label(name: string): string {
    return this.source(name) ?? `--${name}`;
  }

  /** A positional argument by its declared name, or undefined. */
  positional(name: string): string | undefined {
    return this.positionals[name];
  }
}

/**
 * A non-negative (or at least `min`) safe integer from the command line; `label` names the
 * option or argument in the usage error.
 */
export function integerArg(text: string | undefined, label: string, min = 0): number {
  if (text === undefined || !/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) < min) {
    throw new UsageError(`${label}: expected ${min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`}`);
  }
  return Number(text);
}

/** An optional integer flag in [min, max] (undefined when absent). */
export function boundedArg(text: string | undefined, label: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = integerArg(text, label, min);
  if (n > max) throw new UsageError(`${label}: expected at most ${max}`);
  return n;
}
