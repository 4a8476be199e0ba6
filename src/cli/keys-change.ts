/**
 * `keywarden keys rotate | shred | start-generation CONVERSATION`: one conversation's keys
 * changed by an operator, each change audited in its own transaction (./keys-config.ts).
 * Shredding cannot be undone, so it needs `--yes`, or a "yes" typed at the terminal.
 * @module
 */
import { type KeyRecord, closesConversation } from '../keys/records.js';
import { type Args, type CommandSpec, EXIT, type OptionSpec, RefusedError, type RunContext, UsageError, integerArg } from './common.js';
import {
  type KeysSession, auditConfig, auditOptions, keysDatabaseOptions, keysParams, masterKeyOptions, openMasterKey, requiredMasterKey, suiteArg, suiteOption, withKeys,
} from './keys-config.js';
import { kmsKeys } from './kms.js';
import { databaseConfig, jsonOption } from './options.js';

const conversationArg = { name: 'CONVERSATION', required: true, description: 'the conversation id' } as const;

/** Every version of the conversation, oldest first; ERR_KEY_NOT_FOUND (exit 1) when it has none. */
async function versionsOf(s: KeysSession, id: string): Promise<KeyRecord[]> {
  const rows = await s.store.listVersions(id);
  if (rows.length === 0) throw new RefusedError('ERR_KEY_NOT_FOUND', `conversation ${JSON.stringify(id)} has no key`);
  return rows;
}

/** "1, 2, 5" */
const list = (vs: readonly number[]): string => vs.join(', ');

/**
 * Runs `fn` in a session with the master key the command line names (rotate, start-generation:
 * they generate keys). Every flag and file is checked before connecting.
 */
async function withMasterKey<T>(args: Args, ctx: RunContext, fn: (s: KeysSession) => Promise<T>): Promise<T> {
  const db = databaseConfig(args);
  const choice = requiredMasterKey(args);
  const suite = suiteArg(args);
  const audit = await auditConfig(args, ctx);
  const kms = kmsKeys(args);
  try {
    const masterKey = await openMasterKey(choice, kms, ctx);
    return await withKeys(db, { audit, masterKey, keywarden: suite === undefined ? {} : { suite } }, fn);
  } finally {
    kms.close();
  }
}

const rotate: CommandSpec = {
  name: 'rotate',
  summary: 'add a new key version that new messages use from now on (older versions keep opening theirs)',
  description:
    'Generates the version with the master key and records key.rotated in the audit log, in one\n' +
    'transaction. Services drop their cached active version on the change notification (or after\n' +
    'their cache max age). Exit status 1: no such conversation (ERR_KEY_NOT_FOUND), or it was\n' +
    'shredded as a whole (ERR_KEY_SHREDDED; see keys start-generation).',
  positionals: [conversationArg],
  options: [...keysDatabaseOptions, ...masterKeyOptions, suiteOption, ...auditOptions, jsonOption],
  params: keysParams,
  async run(args, ctx) {
    const id = args.positional('CONVERSATION')!;
    await withMasterKey(args, ctx, async (s) => {
      const before = await versionsOf(s, id);
      const latest = before[before.length - 1]!;
      if (closesConversation(latest)) throw new RefusedError('ERR_KEY_SHREDDED', `conversation ${JSON.stringify(id)} was shredded; 'keywarden keys start-generation' gives it new keys`);
      const info = await s.kw.rotate(id);
      const previous = before.find((r) => r.state === 'active')?.version ?? null;
      ctx.emit(
        { conversationId: id, version: info.version, previousVersion: previous, activatedAt: info.activatedAt.toISOString(), masterKeyId: info.masterKeyId, suite: info.suite, audited: s.audit !== undefined },
        `conversation ${JSON.stringify(id)}: version ${info.version} is active${previous !== null ? ` (was ${previous})` : ''}, master key ${info.masterKeyId}\n`,
      );
    });
    return EXIT.OK;
  },
};

/** Asks for confirmation unless --yes; refuses when nobody can be asked. */
async function confirmShred(args: Args, ctx: RunContext, what: string): Promise<void> {
  if (args.flag('yes')) return;
  const t = ctx.io.terminal;
  if (t === undefined || !t.stdinIsTTY) throw new UsageError('shredding cannot be undone: give --yes to confirm (standard input is not a terminal to ask on)');
  const answer = await t.ask(`${what}\nThis cannot be undone. Type yes to shred: `);
  if (answer !== 'yes') throw new RefusedError('ERR_NOT_CONFIRMED', 'not confirmed: nothing was shredded');
}

const shredOptions: OptionSpec[] = [
  { name: 'version', type: 'string', value: 'N', multiple: true, description: 'shred this key version only (the conversation goes on)' },
  { name: 'below', type: 'string', value: 'N', description: 'shred every version below N (a minimum decryptable version)' },
  { name: 'yes', short: 'y', type: 'boolean', description: 'confirm: shredding cannot be undone (else asked at a terminal, refused elsewhere)' },
];

const shred: CommandSpec = {
  name: 'shred',
  summary: "destroy a conversation's keys (crypto-shredding): its messages become unreadable for good",
  usage: 'CONVERSATION [--version N]... | [--below N] [--yes] [options]',
  description:
    "Without --version or --below: every key version, and the conversation is closed (encrypt is\n" +
    "refused until 'keywarden keys start-generation'). The wrapped keys are deleted (tombstones\n" +
    'remain) and key.shredded is recorded in the same transaction. Needs no master key.\n' +
    'Asks for confirmation at a terminal; elsewhere --yes is required (exit 2 without it).\n' +
    'Exit status 1: no such conversation or version (ERR_KEY_NOT_FOUND), or not confirmed.',
  positionals: [conversationArg],
  options: [...keysDatabaseOptions, ...shredOptions, ...auditOptions, jsonOption],
  params: keysParams,
  async run(args, ctx) {
    const id = args.positional('CONVERSATION')!;
    const versions = args.list('version').map((v) => integerArg(v, '--version', 1));
    const belowText = args.string('below');
    if (versions.length > 0 && belowText !== undefined) throw new UsageError('give --version or --below, not both');
    const below = belowText === undefined ? undefined : integerArg(belowText, '--below', 2);
    const db = databaseConfig(args);
    const audit = await auditConfig(args, ctx);
    await withKeys(db, { audit }, async (s) => {
      const rows = await versionsOf(s, id);
      const missing = versions.filter((v) => !rows.some((r) => r.version === v));
      if (missing.length > 0) throw new RefusedError('ERR_KEY_NOT_FOUND', `conversation ${JSON.stringify(id)} has no key version ${list(missing)}`);
      const targets = versions.length > 0 ? rows.filter((r) => versions.includes(r.version)) : below !== undefined ? rows.filter((r) => r.version < below) : rows;
      const live = targets.filter((r) => r.state !== 'shredded').map((r) => r.version);
      const whole = versions.length === 0 && below === undefined;
      const closed = closesConversation(rows[rows.length - 1]!);
      if (live.length > 0 || (whole && !closed)) {
        await confirmShred(args, ctx, whole
          ? `Shred every key version of conversation ${JSON.stringify(id)} (${live.length > 0 ? `live: ${list(live)}` : 'none live'}) and close it: its messages become unreadable for everyone, and new ones are refused until 'keys start-generation'.`
          : `Shred key version(s) ${list(live)} of conversation ${JSON.stringify(id)}: the messages sealed under them become unreadable for everyone.`);
      }
      const r = await s.kw.shred(id, versions.length > 0 ? { versions } : below !== undefined ? { below } : undefined);
      const scope = whole ? 'conversation' : 'versions';
      const text = r.shredded.length > 0
        ? `conversation ${JSON.stringify(id)}: shredded version(s) ${list(r.shredded)}${whole ? '; the conversation is closed' : ''}\n`
        : `conversation ${JSON.stringify(id)}: nothing left to shred${r.alreadyShredded.length > 0 ? ` (version(s) ${list(r.alreadyShredded)} already shredded)` : ''}${whole ? '; the conversation is closed' : ''}\n`;
      ctx.emit({ conversationId: id, scope, shredded: r.shredded, alreadyShredded: r.alreadyShredded, audited: s.audit !== undefined }, text);
    });
    return EXIT.OK;
  },
};

const startGeneration: CommandSpec = {
  name: 'start-generation',
  summary: 'give a conversation shredded as a whole new keys, so that it can seal again',
  description:
    'Stores a fresh key version numbered after the shredded ones (old messages stay unreadable) and\n' +
    'records key.created. On a conversation with an active version it changes nothing and reports\n' +
    'that version ("started": false). Exit status 1: no such conversation (ERR_KEY_NOT_FOUND).',
  positionals: [conversationArg],
  options: [...keysDatabaseOptions, ...masterKeyOptions, suiteOption, ...auditOptions, jsonOption],
  params: keysParams,
  async run(args, ctx) {
    const id = args.positional('CONVERSATION')!;
    await withMasterKey(args, ctx, async (s) => {
      const before = await versionsOf(s, id);
      // A new version is stored when none is active: after a whole-conversation shred (a new
      // generation) or when every version was shredded one by one.
      const started = !before.some((r) => r.state === 'active');
      const info = await s.kw.startGeneration(id);
      ctx.emit(
        { conversationId: id, started, version: info.version, activatedAt: info.activatedAt.toISOString(), masterKeyId: info.masterKeyId, suite: info.suite, audited: s.audit !== undefined },
        started
          ? `conversation ${JSON.stringify(id)}: new key generation, version ${info.version} is active (older versions stay shredded)\n`
          : `conversation ${JSON.stringify(id)} was not shredded: version ${info.version} is active, nothing started\n`,
      );
    });
    return EXIT.OK;
  },
};

/** The commands that change one conversation's keys. */
export const changeCommands = [rotate, shred, startGeneration];
