/**
 * Help text, generated from the command table so that usage lines and option lists cannot
 * drift from what the parser accepts. Import it through ./common.ts.
 * @module
 */
import { type CommandSpec, type GroupSpec, type OptionSpec, isGroup } from './spec.js';

const HELP_LINE: [string, string] = ['-h, --help', 'show this help'];

function optionUsage(o: OptionSpec): string {
  const one = o.type === 'boolean' ? `--${o.name}` : `--${o.name} ${o.value ?? 'VALUE'}`;
  if (o.required) return o.multiple ? `${one} [${one}]...` : one;
  return o.multiple ? `[${one}]...` : `[${one}]`;
}

/** The usage line of a command, without the `usage: ` prefix: `keywarden audit entry INDEX …`. */
export function usageLine(cmd: CommandSpec, path: string): string {
  const generated = [
    ...(cmd.positionals ?? []).map((p) => (p.required ? p.name : `[${p.name}]`)),
    // Required options first: they are what a reader needs to get the command to run at all.
    ...cmd.options.filter((o) => o.required).map(optionUsage),
    ...cmd.options.filter((o) => !o.required).map(optionUsage),
  ].join(' ');
  const args = cmd.usage ?? generated;
  return args ? `${path} ${args}` : path;
}

function table(rows: readonly [string, string][]): string {
  const width = Math.min(26, Math.max(...rows.map(([left]) => left.length)) + 2);
  return rows
    .map(([left, right]) => (left.length + 2 > width ? `  ${left}\n  ${' '.repeat(width)}${right}` : `  ${left.padEnd(width)}${right}`))
    .join('\n');
}

function optionRow(o: OptionSpec): [string, string] {
  const left = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
  const notes = [o.required ? 'required' : '', o.multiple ? 'repeatable' : '', o.env?.length ? `env ${o.env.join(', ')}` : ''].filter(Boolean);
  return [left, notes.length ? `${o.description} (${notes.join('; ')})` : o.description];
}

/** The help of one command. */
export function commandHelp(cmd: CommandSpec, path: string): string {
  const parts = [`usage: ${usageLine(cmd, path)}`, cmd.summary];
  if (cmd.description) parts.push(cmd.description.trimEnd());
  if (cmd.positionals?.length) parts.push(`arguments:\n${table(cmd.positionals.map((p) => [p.name, p.description]))}`);
  parts.push(`options:\n${table([...cmd.options.map(optionRow), HELP_LINE])}`);
  return `${parts.join('\n\n')}\n`;
}

/** The help of a group: its commands, one line each. */
export function groupHelp(group: GroupSpec, path: string): string {
  const rows: [string, string][] = group.commands.map((c) => [isGroup(c) ? `${c.name} …` : c.name, c.summary]);
  const parts = [`usage: ${path} <command> [options]`, group.summary];
  if (group.description) parts.push(group.description.trimEnd());
  parts.push(`commands:\n${table([...rows, ['help [COMMAND]', 'show the help of a command']])}`);
  parts.push(`options:\n${table([HELP_LINE, ['--version', 'print the version']])}`);
  parts.push(`Run '${path} help <command>' or '${path} <command> --help' for a command's options.`);
  if (group.footer) parts.push(group.footer.trimEnd());
  return `${parts.join('\n\n')}\n`;
}

/**
 * A value from the command line, quoted for a message. Values that look like private keys are
 * not repeated (a key pasted in the wrong place must not end up in a terminal log), and long
 * values are cut.
 */
export function quote(s: string): string {
  if (/PRIVATE\+KEY|"d"\s*:/i.test(s)) return '(a private key, not shown)';
  const cut = s.length > 64 ? `${s.slice(0, 64)}…` : s;
  // Plain ASCII without quotes or edge spaces reads well in '…'; anything else is escaped.
  return /^[\x21-\x26\x28-\x7e]([\x20-\x26\x28-\x7e]*[\x21-\x26\x28-\x7e])?$/.test(cut) ? `'${cut}'` : JSON.stringify(cut);
}
