/**
 * Outside review (2026-12-02, a new user's first hour): the usage line of `keywarden audit
 * verify --help` (and of `keywarden audit verify` errors' "see --help") listed `--trusted`,
 * `--witness` and `--quorum` but not `--witness-max-age`, the option the README's own command
 * line uses (`--witness VKEY --quorum 1 --witness-max-age 1d`) and the only defence against a
 * store rolled back to an older cosigned checkpoint. A command whose usage line is written by
 * hand (rather than generated from its options) can drift from its options this way.
 *
 * Now: a hand-written usage line names every option of its command, or says `[options]` for
 * the rest.
 */
import { describe, expect, it } from 'vitest';
import type { CommandSpec, GroupSpec } from '../src/cli/common.js';
import { COMMANDS } from '../src/cli/index.js';
import { cli } from './support/cli.js';

function commands(g: GroupSpec, path: string[] = ['keywarden']): { path: string[]; cmd: CommandSpec }[] {
  return g.commands.flatMap((c) => ('commands' in c ? commands(c, [...path, c.name]) : [{ path: [...path, c.name], cmd: c }]));
}

const handWritten = commands(COMMANDS).filter(({ cmd }) => cmd.usage !== undefined);

describe('hand-written usage lines name every option', () => {
  it('audit verify is one of them', () => {
    expect(handWritten.map(({ path }) => path.join(' '))).toContain('keywarden audit verify');
  });

  it.each(handWritten.map(({ path, cmd }) => ({ name: path.join(' '), cmd })))('$name', ({ cmd }) => {
    if (cmd.usage!.includes('[options]')) return;
    const missing = cmd.options.filter((o) => o.name !== 'help' && !cmd.usage!.includes(`--${o.name}`)).map((o) => `--${o.name}`);
    expect(missing).toEqual([]);
  });

  it('keywarden audit verify --help shows --witness-max-age in its usage line', async () => {
    const r = await cli(['audit', 'verify', '--help']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toContain('[--witness-max-age DURATION]');
  });
});
