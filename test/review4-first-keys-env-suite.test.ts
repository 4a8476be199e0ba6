/**
 * Outside review (2026-12-02, a new user's first hour): `keywarden keys rotate` and
 * `keys start-generation` read `--suite` from the environment variable KEYWARDEN_SUITE, but
 * neither the README's table of the variables "the `keys` commands read their configuration
 * from" nor the environment list of `keywarden keys --help` named it. An operator whose
 * services seal with XChaCha20-Poly1305 and who configures the CLI from the environment (as
 * the README shows) could not learn that the suite is configurable there; a rotation from the
 * CLI then makes an AES-256-GCM version while the services use another suite.
 *
 * Now: every environment variable any `keys` command reads (taken from the command table
 * itself) appears in the README table, next to its flag, and in `keys --help`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandSpec, GroupSpec } from '../src/cli/common.js';
import { keysGroup } from '../src/cli/keys.js';
import { cli } from './support/cli.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** Every (variable, flag) pair the keys commands read. */
function envOptions(): { env: string; flag: string }[] {
  const pairs = new Map<string, string>();
  const walk = (c: CommandSpec | GroupSpec) => {
    if ('commands' in c) for (const sub of c.commands) walk(sub);
    else for (const o of c.options) for (const e of o.env ?? []) pairs.set(e, `--${o.name}`);
  };
  walk(keysGroup);
  return [...pairs].map(([env, flag]) => ({ env, flag }));
}

/** The README's table of variables (the rows after "read their configuration from flags"). */
function readmeEnvTable(): string[] {
  const start = readme.indexOf('The `keys` commands read their configuration from flags or from these variables');
  expect(start).toBeGreaterThan(0);
  const rows: string[] = [];
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|')) rows.push(line);
    else if (rows.length > 0) break;
  }
  return rows;
}

describe('the keys commands document every environment variable they read', () => {
  it('KEYWARDEN_SUITE is one of them', () => {
    expect(envOptions()).toContainEqual({ env: 'KEYWARDEN_SUITE', flag: '--suite' });
  });

  it.each(envOptions())('README table: $env ($flag)', ({ env, flag }) => {
    const row = readmeEnvTable().find((r) => r.includes(`\`${env}\``));
    expect(row, `${env} is missing from the README's table`).toBeDefined();
    expect(row).toContain(`\`${flag}\``);
  });

  it('keywarden keys --help lists each of them in its environment section', async () => {
    const r = await cli(['keys', '--help']);
    expect(r.code).toBe(0);
    const section = r.out.slice(r.out.indexOf('environment'));
    for (const { env, flag } of envOptions()) {
      const line = section.split('\n').find((l) => l.includes(env));
      expect(line, `${env} is missing from 'keys --help'`).toBeDefined();
      expect(line).toContain(flag);
    }
  });
});
