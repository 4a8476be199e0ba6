/**
 * The generic behaviour of every `keywarden` command, walked from the command table itself so
 * that a new command is covered the day it is added: help at every level, --version, one-line
 * usage errors naming the problem (exit 2), --json on every printing command, and key files.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { type CommandSpec, type GroupSpec, RefusedError, isGroup, runCli, usageLine } from '../src/cli/common.js';
import { InvalidInputError } from '../src/errors.js';
import { COMMANDS } from '../src/cli/index.js';
import { VERSION } from '../src/version.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { cli } from './support/cli.js';
import { keysJsonScenarios } from './support/keys-cli.js';
import { type TestPool, testPool } from './support/pg.js';

/** Every group and command with its argv path below `keywarden`. */
function walk(node: GroupSpec | CommandSpec = COMMANDS, path: string[] = []): { path: string[]; node: GroupSpec | CommandSpec }[] {
  return [{ path, node }, ...(isGroup(node) ? node.commands.flatMap((c) => walk(c, [...path, c.name])) : [])];
}
const nodes = walk();
const commands = nodes.filter((n): n is { path: string[]; node: CommandSpec } => !isGroup(n.node));
const groups = nodes.filter((n) => isGroup(n.node));
const display = (path: string[]) => ['keywarden', ...path].join(' ');

/** Exit 2, nothing on stdout, exactly one line on stderr that contains `fragment`. */
function expectUsageError(r: { code: number; out: string; err: string }, fragment: string, what: string): void {
  expect(r.code, `${what}: ${r.err}`).toBe(2);
  expect(r.out, what).toBe('');
  expect(r.err, what).toMatch(/^[^\n]+\n$/);
  expect(r.err, what).toContain(fragment);
}

/** The smallest command line the parser accepts for `cmd`: every required option and argument. */
function minimalArgs(cmd: CommandSpec): string[] {
  return [...(cmd.positionals ?? []).filter((p) => p.required).map(() => 'x'), ...cmd.options.filter((o) => o.required).flatMap((o) => [`--${o.name}`, 'x'])];
}

describe('help', () => {
  it.each(groups.map((g) => [display(g.path), g]))('%s: --help, -h, help and "keywarden help …" print the group help, exit 0', async (_name, g) => {
    const group = g.node as GroupSpec;
    for (const argv of [[...g.path, '--help'], [...g.path, '-h'], [...g.path, 'help'], ['help', ...g.path]]) {
      const r = await cli(argv);
      expect([r.code, r.err], argv.join(' ')).toEqual([0, '']);
      expect(r.out).toContain(`usage: ${display(g.path)} <command> [options]`);
      for (const c of group.commands) expect(r.out).toMatch(new RegExp(`^  ${c.name}\\b.*${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
  });

  it.each(commands.map((c) => [display(c.path), c]))('%s: --help, -h, "… help NAME" and "keywarden help …" print the usage line and every option, exit 0', async (_name, c) => {
    const cmd = c.node;
    const parent = c.path.slice(0, -1);
    // The last form: --help wins over anything else wrong on the line.
    for (const argv of [[...c.path, '--help'], [...c.path, '-h'], [...parent, 'help', cmd.name], ['help', ...c.path], [...c.path, ...minimalArgs(cmd), '--no-such-flag', '-h']]) {
      const r = await cli(argv);
      expect([r.code, r.err], argv.join(' ')).toEqual([0, '']);
      expect(r.out.split('\n')[0]).toBe(`usage: ${usageLine(cmd, display(c.path))}`);
      for (const o of cmd.options) expect(r.out).toContain(`--${o.name}${o.type === 'string' ? ` ${o.value}` : ''}`);
      for (const e of cmd.options.flatMap((o) => o.env ?? [])) expect(r.out).toContain(e);
      for (const p of cmd.positionals ?? []) expect(r.out).toMatch(new RegExp(`^  ${p.name} `, 'm'));
    }
  });

  it('the usage lines say what the commands take', async () => {
    const usage = async (...path: string[]) => (await cli([...path, '--help'])).out.split('\n')[0];
    expect(await usage('audit', 'verify')).toBe('usage: keywarden audit verify (--dir DIR | --database-url URL [--schema NAME]) --key VKEY [--trusted FILE] [--witness VKEY]... [--quorum N] [--witness-max-age DURATION] [--json]');
    expect(await usage('audit', 'keygen')).toBe('usage: keywarden audit keygen ORIGIN --out-private FILE [--out-public FILE] [--json]');
    expect(await usage('token', 'request')).toContain('--conversation ID [--conversation ID]...');
    expect(await usage('migrate')).toBe('usage: keywarden migrate --database-url URL [--schema NAME] [--partitions N] [--batch-rows N] [--copy-only] [--json]');
  });

  it('the top-level help lists the commands and documents the exit codes', async () => {
    const r = await cli(['--help']);
    for (const line of ['  0  ok', '  1  problems found', '  2  usage error', '  3  could not complete']) expect(r.out).toContain(line);
    for (const name of ['audit', 'token', 'migrate', 'version', 'help']) expect(r.out).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });
});

describe('--version', () => {
  it.each([[['--version']], [['version']], [['audit', '--version']], [['token', '--version']]])('%j prints "keywarden VERSION", exit 0', async (argv) => {
    const pkg = JSON.parse(await readFile(join(import.meta.dirname, '../package.json'), 'utf8'));
    expect(await cli(argv)).toMatchObject({ code: 0, out: `keywarden ${pkg.version}\n`, err: '' });
  });
});

describe('usage errors: exit 2, one line on stderr naming the problem', () => {
  const declared = new Set(commands.flatMap((c) => c.node.options.map((o) => o.name)).concat(['help', 'version']));
  const flagName = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter((n) => !declared.has(n));

  it('an unknown flag, anywhere in the table (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...nodes), flagName, fc.boolean(), async ({ path, node }, name, inline) => {
        const r = await cli([...path, inline ? `--${name}=PRIVATE+KEY+x` : `--${name}`, ...(isGroup(node) ? [] : minimalArgs(node))]);
        expectUsageError(r, `${display(path)}: unknown option '--${name}' (see '${display(path)} --help')`, path.join(' '));
        expect(r.err).not.toContain('PRIVATE+KEY'); // the value of an unknown option is never echoed
      }),
      { numRuns: 150 },
    );
  });

  it('an unknown command, in every group (property); control characters stay on one line', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...groups), fc.string({ minLength: 1, maxLength: 20 }), async ({ path, node }, name) => {
        fc.pre(!name.startsWith('-') && name !== 'help' && !(node as GroupSpec).commands.some((c) => c.name === name));
        const r = await cli([...path, name]);
        expectUsageError(r, `${display(path)}: unknown command `, path.join(' '));
      }),
      { numRuns: 150 },
    );
    expectUsageError(await cli(['audit', 'frob\nnicate']), `unknown command "frob\\nnicate"`, 'newline');
    expectUsageError(await cli([]), "keywarden: missing command (see 'keywarden --help')", 'nothing');
  });

  it.each(commands.map((c) => [display(c.path), c]))('%s: a missing value, a missing required option, an extra argument', async (_name, c) => {
    const cmd = c.node;
    const minimal = minimalArgs(cmd);
    for (const o of cmd.options.filter((x) => x.type === 'string')) {
      expectUsageError(await cli([...c.path, ...minimal, `--${o.name}`]), `missing value for option '--${o.name}'`, `--${o.name} at the end`);
    }
    for (const o of cmd.options.filter((x) => x.required)) {
      const without = minimal.filter((_, i) => minimal[i] !== `--${o.name}` && minimal[i - 1] !== `--${o.name}`);
      expectUsageError(await cli([...c.path, ...without]), `missing required option '--${o.name}'`, `without --${o.name}`);
    }
    for (const o of cmd.options.filter((x) => x.type === 'boolean')) {
      expectUsageError(await cli([...c.path, ...minimal, `--${o.name}=yes`]), `option '--${o.name}' takes no value`, `--${o.name}=yes`);
    }
    expectUsageError(await cli([...c.path, ...minimal, 'x', 'extra']), 'unexpected argument', 'extra argument');
  });
});

describe('--json on every command that prints a result', () => {
  let dir: string;
  let db: TestPool;
  const logKeys = generateNoteKey('keywarden.example/cli-json', new Uint8Array(32).fill(7));
  const f = (name: string) => join(dir, name);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kw-cli-json-'));
    const log = await AuditLog.open({ store: await FileAuditStore.open(join(dir)), signerKey: logKeys.signerKey });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    db = await testPool();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await db?.close();
  });

  /** Runs with --json: exit `code`, one JSON object on stdout, nothing on stderr. */
  async function json(argv: string[], code = 0): Promise<Record<string, unknown>> {
    const r = await cli([...argv, '--json']);
    expect([r.code, r.err], argv.join(' ')).toEqual([code, '']);
    const value = JSON.parse(r.out);
    expect(value !== null && typeof value === 'object' && !Array.isArray(value)).toBe(true);
    return value;
  }

  const scenarios: Record<string, () => Promise<void>> = {
    'audit verify': async () => expect(await json(['audit', 'verify', '--dir', dir, '--key', logKeys.verifierKey])).toMatchObject({ ok: true, entries: 5 }),
    'audit prove': async () => expect(await json(['audit', 'prove', '2', '--dir', dir, '--key', logKeys.verifierKey])).toMatchObject({ index: 2, size: 5 }),
    'audit entry': async () => {
      const v = await json(['audit', 'entry', '1', '--dir', dir]);
      expect(Buffer.from(v.base64 as string, 'base64').equals(Buffer.from((await cli(['audit', 'entry', '1', '--dir', dir])).raw[0] as Uint8Array))).toBe(true);
    },
    'audit consistency': async () => expect(await json(['audit', 'consistency', '3', '--dir', dir, '--key', logKeys.verifierKey])).toMatchObject({ old: 3, size: 5 }),
    'audit export': async () => expect(await json(['audit', 'export', '--dir', dir, '--key', logKeys.verifierKey, '--out', f('export')])).toMatchObject({ from: 0, size: 5, files: 2 }),
    'audit keygen': async () => {
      const v = await json(['audit', 'keygen', 'example.com/json', '--out-private', f('json.key')]);
      expect(v).toMatchObject({ origin: 'example.com/json', privateKeyFile: f('json.key') });
      expect(JSON.stringify(v)).not.toContain('PRIVATE+KEY');
    },
    'token keygen': async () => {
      const v = await json(['token', 'keygen', '--id', 'a1', '--out-private', f('a1.jwk'), '--out-public', f('a1.pub.jwk')]);
      expect(v).toMatchObject({ approver: { id: 'a1', publicJwk: { kty: 'OKP', kid: 'a1' } }, privateKeyFile: f('a1.jwk') });
      expect((v.approver as { publicJwk: object }).publicJwk).not.toHaveProperty('d');
    },
    'token request': async () => {
      const v = await json(['token', 'request', '--policy', 'p', '--aud', 'aud', '--requester', 'r', '--reason', 'USER_REPORT_REVIEW', '--detail', 'd',
        '--conversation', 'c', '--from', '2026-01-01T00:00:00Z', '--to', '2026-01-02T00:00:00Z', '--max-messages', '1', '--expires-in', '600']);
      expect(v).toMatchObject({ jti: expect.any(String), digest: expect.any(String) });
      await writeFile(f('token.json'), `${v.token}\n`);
    },
    'token approve': async () => {
      const v = await json(['token', 'approve', '--token', f('token.json'), '--key', f('a1.jwk'), '--id', 'a1', '--out', f('token.json')]);
      expect(v).toMatchObject({ approver: 'a1', approvals: 1, file: f('token.json') });
    },
    'token inspect': async () => {
      const approver = JSON.parse(await readFile(f('a1.pub.jwk'), 'utf8'));
      await writeFile(f('policy.json'), JSON.stringify({ id: 'p', audience: 'aud', factors: [{ name: 'f', threshold: 1, approvers: [{ id: 'a1', publicJwk: approver }] }],
        allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 3600, maxScope: { conversations: 1, messages: 1, windowSeconds: 86_400 } }));
      expect(await json(['token', 'inspect', '--token', f('token.json'), '--policy', f('policy.json')])).toMatchObject({ ok: true });
    },
    migrate: async () => {
      await db.releaseConnections();
      const v = await json(['migrate', '--database-url', db.url, '--schema', `${db.schema}_json`]);
      await db.releaseConnections();
      expect(v).toMatchObject({ schema: `${db.schema}_json`, applied: expect.any(Array) });
    },
    version: async () => expect(await json(['version'])).toEqual({ name: 'keywarden', version: VERSION }),
    // keywarden keys … and inspect (test/cli-keys.test.ts covers the rest of their behaviour)
    ...keysJsonScenarios(() => db, json),
  };

  it('every command with --json has a scenario here', () => {
    const withJson = commands.filter((c) => c.node.options.some((o) => o.name === 'json')).map((c) => c.path.join(' '));
    expect(withJson.sort()).toEqual(Object.keys(scenarios).sort());
  });

  it('prints one JSON object on stdout, in order of the scenarios', async () => {
    for (const scenario of Object.values(scenarios)) await scenario();
  });
});

describe('audit keygen key files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kw-cli-keys-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('writes the signer key 0600 and never overwrites: exit 3, the file unchanged, the key never printed', async () => {
    const priv = join(dir, 'log.key');
    const first = await cli(['audit', 'keygen', 'example.com/k', '--out-private', priv]);
    expect(first.code, first.err).toBe(0);
    const signer = await readFile(priv, 'utf8');
    expect((await stat(priv)).mode & 0o777).toBe(0o600);
    for (const json of [[], ['--json']]) {
      const again = await cli(['audit', 'keygen', 'example.com/k', '--out-private', priv, '--out-public', join(dir, 'new.vkey'), ...json]);
      expect([again.code, again.out]).toEqual([3, '']);
      expect(again.err).toBe(`keywarden audit keygen: could not complete: ${priv} already exists (not overwritten)\n`);
      expect(await readFile(priv, 'utf8')).toBe(signer);
      await expect(stat(join(dir, 'new.vkey'))).rejects.toThrow(); // nothing else created
    }
    // PRIVATE+KEY+<name>+<key ID>+<base64 key>: the key is everything after the fourth '+' (base64 has '+' too).
    const secret = signer.trim().split('+').slice(4).join('+');
    expect(secret).toMatch(/^[A-Za-z0-9+/]{44}$/); // base64(0x04 || 32-byte seed)
    expect(first.out + first.err).not.toContain(secret);
    expect(first.out + first.err).not.toContain('PRIVATE+KEY');
  });

  it('a public file that cannot be written removes the private file this run created', async () => {
    const priv = join(dir, 'pair.key');
    await writeFile(join(dir, 'taken.vkey'), 'keep me\n');
    for (const pub of [join(dir, 'taken.vkey'), join(dir, 'no-such-dir', 'x.vkey')]) {
      const r = await cli(['audit', 'keygen', 'example.com/k', '--out-private', priv, '--out-public', pub]);
      expect(r.code, r.err).toBe(3);
      await expect(stat(priv)).rejects.toThrow();
    }
    expect(await readFile(join(dir, 'taken.vkey'), 'utf8')).toBe('keep me\n');
  });
});

describe('the machinery, on a table of its own (what a new command gets for free)', () => {
  const seen: Record<string, unknown>[] = [];
  const table: GroupSpec = {
    name: 'tool',
    summary: 'a test table',
    commands: [{
      name: 'keys',
      summary: 'a group like the coming `keywarden keys …`',
      commands: [{
        name: 'rotate',
        summary: 'takes every kind of option',
        options: [
          { name: 'kms-key-id', type: 'string', value: 'ID', required: true, env: ['TOOL_KMS_KEY_ID'], description: 'required, from the environment too' },
          { name: 'region', type: 'string', value: 'REGION', env: ['TOOL_REGION', 'AWS_REGION'], description: 'two variables, in order' },
          { name: 'dry-run', type: 'boolean', short: 'n', env: ['TOOL_DRY_RUN'], description: 'a switch' },
          { name: 'conversation', type: 'string', value: 'ID', multiple: true, description: 'repeatable' },
        ],
        positionals: [{ name: 'WHAT', description: 'optional' }],
        params: (p) => (p === 'options.masterKeyId' ? 'kms-key-id' : undefined),
        async run(args, ctx) {
          const v = { id: args.required('kms-key-id'), region: args.string('region'), dry: args.flag('dry-run'), conv: args.list('conversation'), what: args.positional('WHAT'), from: args.source('kms-key-id') };
          seen.push(v);
          if (v.what === 'invalid') throw new InvalidInputError('options.masterKeyId', 'expected a KMS key ARN');
          if (v.what === 'refuse') throw new RefusedError('ERR_TEST', 'not now\nreally');
          if (v.what === 'bug') throw new TypeError('x is not a function');
          ctx.note('a note\n');
          ctx.emit(v, 'done\n');
          return 0;
        },
      }],
    }],
  };
  const run = async (argv: string[], env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(table, argv, { out: (s) => void out.push(String(s)), err: (s) => void err.push(s), env });
    return { code, out: out.join(''), err: err.join('') };
  };

  it('environment fallbacks in order; the command line wins; boolean variables; short options; repeatable options', async () => {
    expect(await run(['keys', 'rotate'], { TOOL_KMS_KEY_ID: 'k1', AWS_REGION: 'eu-west-1', TOOL_DRY_RUN: 'true' })).toEqual({ code: 0, out: 'done\n', err: 'a note\n' });
    expect(seen.pop()).toEqual({ id: 'k1', region: 'eu-west-1', dry: true, conv: [], what: undefined, from: 'TOOL_KMS_KEY_ID' });
    await run(['keys', 'rotate', '--kms-key-id', 'k2', '--region', 'r', '-n', '--conversation', 'a', '--conversation', 'b', 'W'], { TOOL_KMS_KEY_ID: 'k1', TOOL_REGION: 'x', AWS_REGION: 'y', TOOL_DRY_RUN: '0' });
    expect(seen.pop()).toEqual({ id: 'k2', region: 'r', dry: true, conv: ['a', 'b'], what: 'W', from: '--kms-key-id' });
    await run(['keys', 'rotate', '--kms-key-id', 'k'], { TOOL_REGION: 'x', AWS_REGION: 'y', TOOL_DRY_RUN: '0' });
    expect(seen.pop()).toMatchObject({ region: 'x', dry: false });
    const json = await run(['keys', 'rotate', '--kms-key-id', 'k']);
    expect(json.out).toBe('done\n'); // no --json declared: text
  });

  it('errors: one line each, exit 2 naming the flag or variable, 1 refused, 3 anything else', async () => {
    expect(await run(['keys', 'rotate'])).toEqual({ code: 2, out: '', err: "tool keys rotate: missing required option '--kms-key-id' (or set TOOL_KMS_KEY_ID) (see 'tool keys rotate --help')\n" });
    expect((await run(['keys', 'rotate', '--kms-key-id', 'k'], { TOOL_DRY_RUN: 'yes' })).err).toBe("tool keys rotate: TOOL_DRY_RUN: expected 1, true, 0 or false (see 'tool keys rotate --help')\n");
    expect((await run(['keys', 'rotate', '--kms-key-id', 'k', 'invalid'])).err).toBe("tool keys rotate: --kms-key-id: expected a KMS key ARN (see 'tool keys rotate --help')\n");
    expect((await run(['keys', 'rotate', 'invalid'], { TOOL_KMS_KEY_ID: 'k' })).err).toBe("tool keys rotate: TOOL_KMS_KEY_ID: expected a KMS key ARN (see 'tool keys rotate --help')\n");
    expect(await run(['keys', 'rotate', '--kms-key-id', 'k', 'refuse'])).toEqual({ code: 1, out: '', err: 'tool keys rotate: refused (ERR_TEST): not now; really\n' });
    expect(await run(['keys', 'rotate', '--kms-key-id', 'k', 'bug'])).toEqual({ code: 3, out: '', err: 'tool keys rotate: could not complete: x is not a function\n' });
    expect((await run(['keys', 'rotate', '--kms-key-id', 'k', '-x'])).err).toBe("tool keys rotate: unknown option '-x' (see 'tool keys rotate --help')\n");
  });

  it('help and usage come from the table', async () => {
    const r = await run(['keys', 'help', 'rotate']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('usage: tool keys rotate [WHAT] --kms-key-id ID [--region REGION] [--dry-run] [--conversation ID]...');
    expect(r.out).toContain('  -n, --dry-run');
    expect(r.out).toContain('(required; env TOOL_KMS_KEY_ID)');
    expect(r.out).toContain('(env TOOL_REGION, AWS_REGION)');
  });
});
