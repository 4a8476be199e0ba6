/**
 * `keywarden audit …`: the auditor's commands over a FileAuditStore directory, read-only.
 *
 *   keywarden audit verify --dir DIR --key VKEY [--trusted FILE] [--witness VKEY]... [--quorum N] [--json]
 *   keywarden audit prove INDEX --dir DIR --key VKEY        tlog-proof@v1 for entry INDEX
 *   keywarden audit entry INDEX --dir DIR                   the entry's exact bytes
 *   keywarden audit consistency OLD_SIZE --dir DIR --key VKEY   tlog-witness add-checkpoint body
 *   keywarden audit keygen ORIGIN                           a new log key pair
 *
 * VKEY may be `@file`. Exit codes: 0 ok, 1 tampering or inconsistency found (evidence printed),
 * 2 usage, 3 could not complete.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCheckpoint } from '../audit/checkpoint.js';
import { scanFrames } from '../audit/file-store.js';
import { formatConsistencyRequest, formatTlogProof } from '../audit/formats.js';
import { MerkleTree, leafHash } from '../audit/merkle.js';
import { generateNoteKey, newNoteVerifier } from '../audit/note.js';
import { type AuditProblem, verifyAuditLog } from '../audit/verify.js';

export const EXIT = { OK: 0, FOUND: 1, USAGE: 2, INCOMPLETE: 3 } as const;

export class UsageError extends Error {}
export class IncompleteError extends Error {}

export interface Io {
  out: (s: string | Uint8Array) => void;
  err: (s: string) => void;
}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

const FLAGS: Record<string, boolean> = { dir: true, key: true, trusted: true, witness: true, quorum: true, json: false };

function parse(args: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const name = a.slice(2);
    if (!(name in FLAGS)) throw new UsageError(`unknown option ${a}`);
    const value = FLAGS[name] ? args[++i] : 'true';
    if (value === undefined) throw new UsageError(`${a} needs a value`);
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

function one(p: Parsed, name: string, required: true): string;
function one(p: Parsed, name: string, required?: false): string | undefined;
function one(p: Parsed, name: string, required = false): string | undefined {
  const v = p.flags.get(name);
  if (v === undefined && required) throw new UsageError(`--${name} is required`);
  if (v && v.length > 1) throw new UsageError(`--${name} given twice`);
  return v?.[0];
}

async function keyArg(v: string): Promise<string> {
  const k = v.startsWith('@') ? (await readFile(v.slice(1), 'utf8').catch((e) => { throw new IncompleteError(`cannot read ${v.slice(1)}: ${e.message}`); })).trim() : v;
  try {
    newNoteVerifier(k);
  } catch (e) {
    throw new UsageError(`not a verifier key: ${(e as Error).message}`);
  }
  return k;
}

function index(v: string | undefined, what: string): number {
  if (v === undefined || !/^(0|[1-9][0-9]*)$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`${what}: expected a non-negative integer`);
  return Number(v);
}

/** Reads a log directory leniently: framing damage becomes a problem, not an exception. */
async function readDir(dir: string): Promise<{ entries: Uint8Array[]; checkpoints: string[]; problems: AuditProblem[] }> {
  const load = async (name: string) => {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw new IncompleteError(`${join(dir, name)} does not exist`);
      throw new IncompleteError(`cannot read ${join(dir, name)}: ${(e as Error).message}`);
    }
  };
  const problems: AuditProblem[] = [];
  const e = scanFrames(await load('entries'));
  const c = scanFrames(await load('checkpoints'));
  for (const [name, scan] of [['entries', e], ['checkpoints', c]] as const) {
    if (scan.damage) {
      problems.push({
        kind: 'storage',
        ...(name === 'entries' ? { index: scan.records.length } : { checkpoint: scan.records.length }),
        message: `${name}: ${scan.damage.message} at byte ${scan.damage.offset}${scan.damage.torn ? ' (torn last record)' : ''}; records after it were not read`,
      });
    }
  }
  const dec = new TextDecoder('utf-8', { fatal: false });
  return { entries: e.records, checkpoints: c.records.map((r) => dec.decode(r)), problems };
}

/** Latest checkpoint that verifies and fits the entries, with the tree over them. */
async function latest(dir: string, key: string): Promise<{ tree: MerkleTree; note: string; size: number; entries: Uint8Array[] }> {
  const { entries, checkpoints } = await readDir(dir);
  const verifier = newNoteVerifier(key);
  const tree = new MerkleTree();
  for (const e of entries) tree.append(leafHash(e));
  for (let i = checkpoints.length - 1; i >= 0; i--) {
    try {
      const { checkpoint } = openCheckpoint(checkpoints[i]!, verifier, verifier.name);
      if (checkpoint.size <= tree.size) return { tree, note: checkpoints[i]!, size: checkpoint.size, entries };
    } catch {
      // try an older one
    }
  }
  throw new IncompleteError('no valid checkpoint in the log');
}

/** Runs `keywarden audit <args>`; returns the exit code. */
export async function auditCommand(args: string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  const p = parse(rest);
  switch (sub) {
    case 'verify': {
      const dir = one(p, 'dir', true);
      const key = await keyArg(one(p, 'key', true));
      const trustedFile = one(p, 'trusted');
      const trusted = trustedFile === undefined ? undefined : await readFile(trustedFile, 'utf8').catch((e) => { throw new IncompleteError(`cannot read ${trustedFile}: ${e.message}`); });
      const witnesses = await Promise.all((p.flags.get('witness') ?? []).map(keyArg));
      const quorumArg = one(p, 'quorum');
      const quorum = quorumArg === undefined ? undefined : index(quorumArg, '--quorum');
      const { entries, checkpoints, problems: storage } = await readDir(dir);
      const report = verifyAuditLog({ verifierKey: key, entries, checkpoints, ...(trusted !== undefined ? { trusted } : {}), witnesses, ...(quorum !== undefined ? { witnessQuorum: quorum } : {}) });
      report.problems.unshift(...storage);
      report.ok = report.problems.length === 0;
      if (one(p, 'json')) io.out(`${JSON.stringify(report, null, 2)}\n`);
      else {
        io.out(`entries: ${report.entries}, checkpoints: ${report.checkpoints}, latest: ${report.latest ? `size ${report.latest.size} root ${report.latest.root}` : 'none'}, unsigned tail: ${report.unsignedTail}\n`);
        for (const c of report.cosignatures) io.out(`cosigned by ${c.name} at ${new Date(c.time * 1000).toISOString()}\n`);
        for (const pr of report.problems) {
          io.out(`PROBLEM ${pr.kind}${pr.index !== undefined ? ` index=${pr.index}` : ''}${pr.checkpoint !== undefined ? ` checkpoint=${pr.checkpoint}` : ''}: ${pr.message}\n`);
          for (const ev of pr.evidence ?? []) io.out(`  evidence:\n${ev.replace(/^/gm, '    ')}\n`);
        }
        io.out(report.ok ? 'OK\n' : `FAILED: ${report.problems.length} problem(s)\n`);
      }
      return report.ok ? EXIT.OK : EXIT.FOUND;
    }
    case 'prove': {
      const i = index(p.positional[0], 'INDEX');
      const { tree, note, size } = await latest(one(p, 'dir', true), await keyArg(one(p, 'key', true)));
      if (i >= size) throw new UsageError(`INDEX: the latest checkpoint covers ${size} entries`);
      io.out(formatTlogProof(i, tree.inclusionProof(i, size), note));
      return EXIT.OK;
    }
    case 'consistency': {
      const old = index(p.positional[0], 'OLD_SIZE');
      const { tree, note, size } = await latest(one(p, 'dir', true), await keyArg(one(p, 'key', true)));
      if (old > size) throw new UsageError(`OLD_SIZE: the latest checkpoint covers ${size} entries`);
      io.out(formatConsistencyRequest(old, tree.consistencyProof(old, size), note));
      return EXIT.OK;
    }
    case 'entry': {
      const i = index(p.positional[0], 'INDEX');
      const { entries } = await readDir(one(p, 'dir', true));
      if (i >= entries.length) throw new UsageError(`INDEX: the log has ${entries.length} entries`);
      io.out(entries[i]!);
      return EXIT.OK;
    }
    case 'keygen': {
      const origin = p.positional[0];
      if (!origin) throw new UsageError('ORIGIN is required');
      const { signerKey, verifierKey } = generateNoteKey(origin);
      io.out(`${verifierKey}\n`);
      io.err(`signer key (keep secret; pass to AuditLog.open as signerKey):\n${signerKey}\n`);
      return EXIT.OK;
    }
    default:
      throw new UsageError(`unknown audit command ${sub ?? '(none)'}`);
  }
}
