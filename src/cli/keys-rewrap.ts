/**
 * `keywarden keys rewrap --to KEY`: moves every stored wrapped key to another master key
 * (Keywarden.rewrap) — KMS ReEncrypt within KMS, unwrap-and-wrap from or to a local key — with
 * no message touched. Resumable: progress is saved after every page, so a rerun (after Ctrl-C,
 * a kill or a crash) continues where the last committed page ended.
 *
 * The old keys are named, never taken from the store (a store writer could name any key): KMS
 * keys with `--from-kms-key-id` (reached through the destination's KMS client: ReEncrypt), local
 * master keys with `--from-local-key-file`; the configured master key (`--kms-key-id` /
 * `--local-key-file`), if any, is a source too.
 * @module
 */
import { KmsError, StoreError } from '../errors.js';
import { parseBranchKeyId } from '../keys/branch-keys.js';
import type { Keywarden } from '../keywarden.js';
import type { RewrapOptions, RewrapReport } from '../keys/rewrap.js';
import { MasterKeyRing } from '../kms/ring.js';
import type { MasterKeyProvider } from '../kms/provider.js';
import { type Args, type CommandSpec, EXIT, IncompleteError, type OptionSpec, type RunContext, UsageError, boundedArg } from './common.js';
import { interruptible } from './interrupt.js';
import {
  auditConfig, auditOptions, keysDatabaseOptions, keysParams, localMasterKey, masterKeyChoice, masterKeyOptions, openMasterKey, validKmsKeyId, withKeys,
} from './keys-config.js';
import { kmsKeys } from './kms.js';
import { databaseConfig, jsonOption } from './options.js';
import { progressBar } from './progress.js';
import { quoted } from './text.js';

const options: OptionSpec[] = [
  { name: 'to', type: 'string', value: 'KEY', description: 'destination KMS key: key id, key ARN, alias/NAME or alias ARN' },
  { name: 'to-local-key-file', type: 'string', value: 'FILE', description: 'or a local destination master key (32 bytes, base64 or hex)' },
  { name: 'from-kms-key-id', type: 'string', value: 'KEY', multiple: true, description: 'a KMS key (ARN) that wrapped some of the stored keys, besides --kms-key-id' },
  { name: 'from-local-key-file', type: 'string', value: 'FILE', multiple: true, description: 'a local master key that wrapped some of the stored keys' },
  { name: 'batch-size', type: 'string', value: 'N', description: 'keys per page, transaction and progress save (default 500, at most 10000)' },
  { name: 'concurrency', type: 'string', value: 'N', description: 'KMS calls in flight at once (default 16, at most 1024)' },
  { name: 'max-attempts', type: 'string', value: 'N', description: 'attempts per key when KMS throttles or is unavailable (default 8)' },
  { name: 'branches', type: 'boolean', description: 'branch mode: with --to, move the branch keys (not the conversation keys) to the new master key' },
  { name: 'branch', type: 'string', value: 'ID', description: "branch mode: move branch ID's conversation keys to its newest branch key version (no --to)" },
  { name: 'into-branch', type: 'string', value: 'ID', description: 'branch mode: move conversation keys under master keys into branch ID (migration from direct mode; no --to)' },
];

/** A branch id as the library accepts it (docs/KEYS.md §9). */
const BRANCH_ID = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** The master key id prefix of keys wrapped by branch keys (`branch:<id>#<version>`). */
const BRANCH_PREFIX = 'branch:';

function render(r: RewrapReport, interrupted: string | undefined): string {
  const lines = [
    `re-wrapped ${r.rewrapped} key(s)${r.total !== undefined ? ` of ${r.total}` : ''} to ${r.to}${r.resumed ? ' (continuing an earlier run)' : ''}: ` +
      `${r.skipped} skipped, ${r.failed} failed; this run ${(r.elapsedMs / 1000).toFixed(1)} s, ${Math.round(r.keysPerSecond)} keys/s, ${r.kmsCalls} KMS call(s)`,
  ];
  for (const f of r.failures) lines.push(`  FAILED ${quoted(f.conversationId)} v${f.version}: ${f.code}`); // store-controlled ids: escaped
  if (r.complete) lines.push(`complete: every stored key is under ${r.to}`);
  else if (interrupted === undefined && r.failed > 0) lines.push(`${r.failed} key(s) could not be re-wrapped (listed above): they stay under their old master key`);
  return `${lines.join('\n')}\n`;
}

/** Adds what to do next to errors that stop a run half-way. */
function explainRunError(err: unknown): unknown {
  if (err instanceof KmsError && err.message.startsWith('no master key in the ring')) {
    return new IncompleteError(`${err.message}: give the old master key (--from-local-key-file FILE for a local key, --from-kms-key-id KEY for a KMS key); progress is saved, run again to continue`);
  }
  if (err instanceof KmsError || err instanceof StoreError) return new IncompleteError(`${err.message} (progress is saved: run the same command again to continue)`);
  return err;
}

/** The `keywarden keys rewrap` command. */
export const rewrapCommand: CommandSpec = {
  name: 'rewrap',
  summary: 'move every stored key to another master key (KMS ReEncrypt), touching no message; resumable',
  usage: '(--to KEY | --to-local-key-file FILE | --branch ID | --into-branch ID) [--branches] [--from-kms-key-id KEY]... [--from-local-key-file FILE]... [options]',
  description:
    'Name every master key the stored keys are under now (the store is not trusted to name them):\n' +
    'the configured one (--kms-key-id or --local-key-file), and others with --from-kms-key-id KEY\n' +
    '(reached through the same KMS client as --to; ReEncrypt: the data key never leaves KMS) or\n' +
    '--from-local-key-file FILE. A key under a master key not named stops the run (exit 3, progress\n' +
    'saved: name it and run again). Old and new keys both\n' +
    'work throughout. Every page of keys commits with its key.rewrapped audit entries, and the\n' +
    "progress is saved in the database ('keys status' shows it): a rerun says \"resuming\" and goes on.\n" +
    'Ctrl-C or SIGTERM stops after the page in progress (exit 3). Exit status 1 when KMS refused\n' +
    'some keys (listed; the others are moved).\n' +
    'Branch keys (docs/KEYS.md §9): --branches --to KEY moves the branch keys only (one KMS call per\n' +
    'branch key version, whatever the number of conversations); --branch ID moves the conversation\n' +
    "keys of branch ID to its newest version (after 'rotating' a branch); --into-branch ID moves\n" +
    'conversation keys still under a master key into branch ID. These need the master key that\n' +
    'wraps the branch keys (--kms-key-id or --local-key-file), and are resumable the same way.',
  options: [...keysDatabaseOptions, ...options, ...masterKeyOptions, ...auditOptions, jsonOption],
  params: keysParams,
  async run(args, ctx) {
    const db = databaseConfig(args);
    const toKms = args.string('to');
    const toLocal = args.string('to-local-key-file');
    const branchMoves = [args.string('branch'), args.string('into-branch')];
    if (branchMoves[0] !== undefined || branchMoves[1] !== undefined) return runBranchMove(args, ctx, db);
    if ((toKms === undefined) === (toLocal === undefined)) throw new UsageError('give the destination: --to KEY (a KMS key) or --to-local-key-file FILE');
    const branches = args.flag('branches');
    if (toKms !== undefined && !validKmsKeyId(toKms)) throw new UsageError('--to: expected a KMS key id, key ARN, alias/NAME or alias ARN');
    const current = masterKeyChoice(args);
    const fromLocal = args.list('from-local-key-file');
    const fromKms = args.list('from-kms-key-id');
    for (const k of fromKms) if (!validKmsKeyId(k)) throw new UsageError('--from-kms-key-id: expected a KMS key id, key ARN, alias/NAME or alias ARN');
    const batchSize = boundedArg(args.string('batch-size'), '--batch-size', 1, 10_000);
    const concurrency = boundedArg(args.string('concurrency'), '--concurrency', 1, 1024);
    const maxAttempts = boundedArg(args.string('max-attempts'), '--max-attempts', 1, 100);
    const audit = await auditConfig(args, ctx);
    const kms = kmsKeys(args);
    let outcome: { report: RewrapReport; interrupted: string | undefined };
    try {
      const dest: MasterKeyProvider = toKms !== undefined ? await kms.key(toKms) : await localMasterKey(toLocal!, '--to-local-key-file', ctx);
      const sources: MasterKeyProvider[] = [];
      if (current !== undefined) sources.push(await openMasterKey(current, kms, ctx));
      for (const k of fromKms) sources.push(await kms.key(k));
      for (const f of fromLocal) sources.push(await localMasterKey(f, '--from-local-key-file', ctx));
      outcome = await withKeys(db, { audit, masterKey: new MasterKeyRing(dest, sources), ...(branches && { branches: { branch: 'default' } }) }, async (s) => {
        let to: string;
        try {
          to = dest.resolveKeyId === undefined ? dest.keyId : await dest.resolveKeyId();
        } catch (err) {
          throw new IncompleteError(`--to ${toKms ?? ''}: ${(err as Error).message}`);
        }
        // Branch mode (docs/KEYS.md §9): conversation keys wrapped by branch keys move with
        // Keywarden.rewrap on a BranchKeyProvider; refuse before any page is touched.
        if (!branches) {
          const branchWrapped = await s.store.scanWrapped({ notMasterKeyId: to, masterKeyIdPrefix: BRANCH_PREFIX, limit: 1 });
          if (branchWrapped.length > 0 && parseBranchKeyId(branchWrapped[0]!.masterKeyId) !== undefined) {
            throw new IncompleteError(`schema ${s.schema} holds conversation keys wrapped by branch keys (${branchWrapped[0]!.masterKeyId}): add --branches to move the branch keys to the new master key (docs/KEYS.md §9)`);
          }
        }
        const saved = branches ? undefined : await s.store.getJob(`rewrap:${to}`);
        const doneBefore = saved?.finishedAt === null ? Number(saved.rewrapped ?? 0) + Number(saved.skipped ?? 0) + Number(saved.failed ?? 0) : 0;
        if (saved?.finishedAt === null) {
          ctx.note(`resuming the re-wrap to ${to} that started ${String(saved.startedAt)}: ${String(saved.rewrapped)} key(s) re-wrapped so far\n`);
        } else {
          ctx.note(`re-wrapping every stored ${branches ? 'branch ' : ''}key to ${to}\n`);
        }
        return runRewrap(args, ctx, s.kw, { to: dest, ...(batchSize !== undefined && { batchSize }), ...(concurrency !== undefined && { concurrency }), ...(maxAttempts !== undefined && { maxAttempts }) }, doneBefore);
      });
    } finally {
      kms.close();
    }
    return finish(outcome, ctx);
  },
};

/** One re-wrap run with the progress bar and Ctrl-C/SIGTERM handling (stops after the page in progress). */
async function runRewrap(args: Args, ctx: RunContext, kw: Keywarden, options: Omit<RewrapOptions, 'signal' | 'onProgress'> & { branch?: string }, doneBefore: number) {
  const bar = progressBar(args, ctx, 'rewrap', 'keys', doneBefore);
  const stop = interruptible(ctx, () => bar.stop());
  try {
    const report = await kw.rewrap({ ...options, signal: stop.signal, onProgress: (p) => bar.update(p.rewrapped + p.skipped + p.failed, p.total) });
    return { report, interrupted: stop.by };
  } catch (err) {
    throw explainRunError(err);
  } finally {
    bar.stop();
    stop.release();
  }
}

function finish(outcome: { report: RewrapReport; interrupted: string | undefined }, ctx: RunContext): number {
  const { report, interrupted } = outcome;
  ctx.emit({ ...report, interrupted: interrupted ?? null }, render(report, interrupted));
  if (interrupted !== undefined && !report.complete) {
    throw new IncompleteError(`interrupted (${interrupted}) after the page in progress: ${report.rewrapped} key(s) re-wrapped so far; run the same command again to continue`);
  }
  return report.failed > 0 || report.failures.length > 0 ? EXIT.FOUND : EXIT.OK;
}

/** `--branch ID` / `--into-branch ID`: conversation keys to a branch's newest version (docs/KEYS.md §9). */
async function runBranchMove(args: Args, ctx: RunContext, db: ReturnType<typeof databaseConfig>): Promise<number> {
  const [branch, into] = [args.string('branch'), args.string('into-branch')];
  if (branch !== undefined && into !== undefined) throw new UsageError('give one of --branch ID and --into-branch ID');
  if (args.string('to') !== undefined || args.string('to-local-key-file') !== undefined || args.flag('branches')) {
    throw new UsageError('--branch and --into-branch move conversation keys to a branch key: no --to, --to-local-key-file or --branches');
  }
  const id = (branch ?? into)!;
  const flag = branch !== undefined ? '--branch' : '--into-branch';
  if (!BRANCH_ID.test(id)) throw new UsageError(`${flag}: expected a branch id (letters, digits and . _ : / -, at most 128 characters, starting with a letter or digit)`);
  const current = masterKeyChoice(args);
  if (current === undefined) throw new UsageError(`${flag}: give the master key that wraps the branch keys (--kms-key-id KEY or --local-key-file FILE)`);
  const fromLocal = args.list('from-local-key-file');
  // Read here too, as on the --to path: ignored, it made the advice "give --from-kms-key-id" loop
  // (outside review 6, 2026-12-02; test/review6-ops-branch-move-from-kms-key.test.ts).
  const fromKms = args.list('from-kms-key-id');
  for (const k of fromKms) if (!validKmsKeyId(k)) throw new UsageError('--from-kms-key-id: expected a KMS key id, key ARN, alias/NAME or alias ARN');
  const batchSize = boundedArg(args.string('batch-size'), '--batch-size', 1, 10_000);
  const concurrency = boundedArg(args.string('concurrency'), '--concurrency', 1, 1024);
  const maxAttempts = boundedArg(args.string('max-attempts'), '--max-attempts', 1, 100);
  const audit = await auditConfig(args, ctx);
  const kms = kmsKeys(args);
  try {
    const primary = await openMasterKey(current, kms, ctx);
    const sources: MasterKeyProvider[] = [];
    for (const k of fromKms) sources.push(await kms.key(k));
    for (const f of fromLocal) sources.push(await localMasterKey(f, '--from-local-key-file', ctx));
    // Always a ring, as on the --to path: a key under a master key not named is then refused
    // with the flags to name it (explainRunError), not the library's previousKeyIds advice.
    const masterKey = new MasterKeyRing(primary, sources);
    return finish(await withKeys(db, { audit, masterKey, branches: { branch: id } }, async (s) => {
      ctx.note(branch !== undefined ? `re-wrapping the conversation keys of branch ${id} to its newest version\n` : `moving conversation keys under master keys into branch ${id}\n`);
      return runRewrap(args, ctx, s.kw, { ...(branch !== undefined && { branch }), ...(batchSize !== undefined && { batchSize }), ...(concurrency !== undefined && { concurrency }), ...(maxAttempts !== undefined && { maxAttempts }) }, 0);
    }), ctx);
  } finally {
    kms.close();
  }
}
