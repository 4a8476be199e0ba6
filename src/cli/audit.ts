/**
 * `keywarden audit …`: the auditor's commands over a log in a FileAuditStore directory or in
 * PostgreSQL (read-only), and `audit keygen` for the operator.
 * @module
 */
import { type Checkpoint, newCosignatureVerifier, openCheckpoint } from '../audit/checkpoint.js';
import { formatConsistencyRequest, formatTlogProof } from '../audit/formats.js';
import { MerkleTree, leafHash, verifyConsistency, verifyInclusion } from '../audit/merkle.js';
import { type NoteVerifier, generateNoteKey, isValidKeyName, newNoteVerifier, parseNote } from '../audit/note.js';
import { TileTree } from '../audit/tile-tree.js';
import { type AuditVerifyReport, checkWitnessOptions, unixSecondsText } from '../audit/verify.js';
import { verifyAuditStream } from '../audit/verify-stream.js';
import { exportCommand } from './audit-export.js';
import { toBase64 } from '../util/bytes.js';
import { AUDIT_SOURCE_USAGE, type AuditSource, auditSource, auditSourceOptions } from './audit-source.js';
import { type CommandSpec, EXIT, type GroupSpec, IncompleteError, type OptionSpec, UsageError, integerArg } from './common.js';
import { DURATION_SYNTAX, parseDuration } from './durations.js';
import { MAX_KEY_FILE, readText, writeNewFiles } from './files.js';
import { jsonOption } from './options.js';
import { oneLine, safeLines } from './text.js';

const keyOption: OptionSpec = { name: 'key', type: 'string', value: 'VKEY', required: true, description: "the log's verifier key, or @FILE to read it from FILE" };

const VKEY_NOTE = "VKEY is a signed-note verifier key ('<origin>+<key id>+<base64 key>', from 'keywarden audit keygen') or @FILE.";

/**
 * A key given as text or `@file`, checked by `check` (newNoteVerifier for the log's key,
 * newCosignatureVerifier for a witness's); `label` names the option in errors.
 */
async function verifierKey(value: string, label: string, check: (key: string) => unknown = newNoteVerifier): Promise<string> {
  const key = value.startsWith('@') ? (await readText(value.slice(1), 'key file', MAX_KEY_FILE)).trim() : value;
  try {
    check(key);
  } catch (e) {
    throw new UsageError(`${label}: not a ${check === newNoteVerifier ? 'verifier' : 'witness cosigner'} key (${(e as Error).message})`);
  }
  return key;
}

/**
 * The newest checkpoint that verifies, and how to prove against it: from the stored tiles (a
 * tiled layout) or, for a keywarden 0.1 layout, from a tree rebuilt from the entries.
 */
async function latest(source: AuditSource, key: string): Promise<{ note: string; size: number; root: Uint8Array; tree: TileTree | MerkleTree }> {
  const verifier = newNoteVerifier(key);
  let found: { note: string; cp: Checkpoint } | undefined;
  const tryNote = (note: string | undefined) => {
    if (note === undefined) return;
    try {
      const cp = openCheckpoint(note, verifier, verifier.name).checkpoint;
      if (found === undefined || cp.size >= found.cp.size) found = { note, cp };
    } catch {
      // not valid (or not for this key): an older one may be
    }
  };
  if (source.readTile !== undefined) tryNote(await source.latest());
  if (found === undefined) for await (const note of source.checkpoints()) tryNote(note);
  if (found === undefined) throw new IncompleteError('no valid checkpoint in the log');
  const { cp } = found;
  const note = printableNote(found.note, verifier);
  if (source.readTile !== undefined) return { note, size: cp.size, root: cp.rootHash, tree: new TileTree(source.readTile) };
  const tree = new MerkleTree();
  for await (const e of source.entries()) {
    if (tree.size === cp.size) break;
    tree.append(leafHash(e));
  }
  if (tree.size < cp.size) throw new IncompleteError(`the latest valid checkpoint covers ${cp.size} entries, the log holds ${tree.size}`);
  return { note, size: cp.size, root: cp.rootHash, tree };
}

/**
 * The checkpoint note as `prove` and `consistency` print it. Signature lines from unknown keys are
 * ignored by every verifier (signed-note §Signatures), so anyone who can write the store can add
 * one, and a key name may hold C1 controls, DEL or format characters (bidi overrides): those lines
 * are left out, so that store-controlled text reaches no terminal raw (src/cli/text.ts; outside
 * review 5, 2026-12-02). The log's own line and every plain-text line stay: the note is still
 * valid, and so is the proof.
 */
function printableNote(note: string, verifier: NoteVerifier): string {
  const parsed = parseNote(note);
  const kept = parsed.signatures.filter((s) => (s.name === verifier.name && s.keyId === verifier.keyId) || oneLine(s.name) === s.name);
  if (kept.length === parsed.signatures.length) return note;
  return `${parsed.text}\n${kept.map((s) => `\u2014 ${s.name} ${s.base64}\n`).join('')}`;
}

function renderReport(report: AuditVerifyReport): string {
  const lines = [
    `entries: ${report.entries}, checkpoints: ${report.checkpoints}, latest: ${report.latest ? `size ${report.latest.size} root ${report.latest.root}` : 'none'}, pending: ${report.pending}, unsigned tail: ${report.unsignedTail}`,
  ];
  for (const c of report.cosignatures) lines.push(`cosigned by ${oneLine(c.name)} at ${unixSecondsText(c.time)}`);
  for (const p of report.problems) {
    lines.push(`PROBLEM ${p.kind}${p.index !== undefined ? ` index=${p.index}` : ''}${p.checkpoint !== undefined ? ` checkpoint=${p.checkpoint}` : ''}: ${oneLine(p.message)}`);
    for (const ev of p.evidence ?? []) lines.push(`  evidence:\n${safeLines(ev).replace(/^/gm, '    ')}`);
  }
  lines.push(report.ok ? 'OK' : `FAILED: ${report.problems.length} problem(s)`);
  return `${lines.join('\n')}\n`;
}

const verify: CommandSpec = {
  name: 'verify',
  summary: 'check every entry and checkpoint of the log; report tampering with evidence',
  usage: `${AUDIT_SOURCE_USAGE} --key VKEY [--trusted FILE] [--witness VKEY]... [--quorum N] [--witness-max-age DURATION] [--json]`,
  description: `${VKEY_NOTE}\nReads every entry once, in order, in bounded memory, and checks the stored tiles too.\nEntries past the latest checkpoint that the signed tree head covers are pending (not a problem).\nExit status 1 when a problem is found: each is printed with its index and evidence.`,
  options: [
    ...auditSourceOptions,
    keyOption,
    { name: 'trusted', type: 'string', value: 'FILE', description: 'a checkpoint seen earlier: the log must still contain its tree' },
    { name: 'witness', type: 'string', value: 'VKEY', multiple: true, description: "a witness's cosigner (cosignature/v1) verifier key, or @FILE" },
    { name: 'quorum', type: 'string', value: 'N', description: 'valid witness cosignatures the latest checkpoint must carry (default 1 with --witness; at most the number of --witness)' },
    { name: 'witness-max-age', type: 'string', value: 'DURATION', description: `the quorum's cosignatures must be at most this old (${DURATION_SYNTAX}): catches a store rolled back to an older cosigned checkpoint` },
    jsonOption,
  ],
  // The verifier names its parameters; the auditor wrote these flags (outside review 7).
  params: (param) => ({ witnesses: 'witness', witnessQuorum: 'quorum', witnessMaxAgeMs: 'witness-max-age' } as Record<string, string>)[param],
  async run(args, ctx) {
    const source = auditSource(args);
    const key = await verifierKey(args.required('key'), '--key');
    const trustedFile = args.string('trusted');
    const trusted = trustedFile === undefined ? undefined : await readText(trustedFile, 'trusted checkpoint');
    const witnesses = await Promise.all(args.list('witness').map((w) => verifierKey(w, '--witness', newCosignatureVerifier)));
    const quorumText = args.string('quorum');
    const quorum = quorumText === undefined ? undefined : integerArg(quorumText, '--quorum');
    // A demand nobody can meet, or that nobody is named to meet, would enforce nothing.
    if (quorum !== undefined && (quorum < 1 || quorum > witnesses.length)) {
      throw new UsageError(witnesses.length === 0 ? '--quorum: give the witnesses to count with --witness VKEY' : `--quorum: expected 1 to ${witnesses.length} (the number of --witness keys)`);
    }
    const maxAgeText = args.string('witness-max-age');
    const witnessMaxAgeMs = maxAgeText === undefined ? undefined : parseDuration(maxAgeText, '--witness-max-age');
    if (witnessMaxAgeMs !== undefined && witnesses.length === 0) throw new UsageError('--witness-max-age: give the witnesses with --witness VKEY');
    // Before the log is opened and read: a witness listed twice is the command line's mistake.
    checkWitnessOptions({ witnesses, ...(quorum !== undefined && { witnessQuorum: quorum }), ...(witnessMaxAgeMs !== undefined && { witnessMaxAgeMs }) });
    const report = await source.use(async (s) => {
      const head = await s.head();
      const r = await verifyAuditStream({
        verifierKey: key, entries: s.entries(), checkpoints: s.checkpoints(), witnesses, requireHead: s.keepsHead, ...(head !== undefined && { head }), ...(s.readTile !== undefined && { readTile: s.readTile }),
        ...(trusted !== undefined && { trusted }), ...(quorum !== undefined && { witnessQuorum: quorum }), ...(witnessMaxAgeMs !== undefined && { witnessMaxAgeMs }),
      });
      r.problems.unshift(...s.problems.list());
      r.ok = r.ok && s.problems.found === 0;
      return r;
    });
    ctx.emit(report, renderReport(report));
    return report.ok ? EXIT.OK : EXIT.FOUND;
  },
};

const prove: CommandSpec = {
  name: 'prove',
  summary: 'print a C2SP tlog-proof@v1 for one entry, checkable offline',
  usage: `INDEX ${AUDIT_SOURCE_USAGE} --key VKEY [--json]`,
  description: VKEY_NOTE,
  positionals: [{ name: 'INDEX', required: true, description: 'index of the entry (0 is the first)' }],
  options: [...auditSourceOptions, keyOption, jsonOption],
  async run(args, ctx) {
    const index = integerArg(args.positional('INDEX'), 'INDEX');
    const source = auditSource(args);
    const key = await verifierKey(args.required('key'), '--key');
    const { note, size, hashes } = await source.use(async (s) => {
      const l = await latest(s, key);
      if (index >= l.size) throw new UsageError(`INDEX: the latest checkpoint covers ${l.size} entries`);
      const proof = await l.tree.inclusionProof(index, l.size);
      const e = await s.entry(index);
      // Never print a proof that does not verify: damaged tiles or entries are reported instead.
      if (e === undefined || !verifyInclusion(leafHash(e), index, l.size, proof, l.root)) throw new IncompleteError(`the stored entry ${index} or its tiles do not match the latest checkpoint (run audit verify)`);
      return { note: l.note, size: l.size, hashes: proof };
    });
    const text = formatTlogProof(index, hashes, note);
    ctx.emit({ index, size, hashes: hashes.map(toBase64), checkpoint: note, tlogProof: text }, text);
    return EXIT.OK;
  },
};

const entry: CommandSpec = {
  name: 'entry',
  summary: "print one entry's exact bytes",
  usage: `INDEX ${AUDIT_SOURCE_USAGE} [--json]`,
  description: 'With --json the bytes are base64 in {"index", "base64"}.',
  positionals: [{ name: 'INDEX', required: true, description: 'index of the entry (0 is the first)' }],
  options: [...auditSourceOptions, jsonOption],
  async run(args, ctx) {
    const index = integerArg(args.positional('INDEX'), 'INDEX');
    const e = await auditSource(args).use((s) => s.entry(index));
    if (e === undefined) throw new UsageError(`INDEX: the log has no entry ${index}`);
    ctx.emit({ index, base64: toBase64(e) }, e);
    return EXIT.OK;
  },
};

const consistency: CommandSpec = {
  name: 'consistency',
  summary: 'print a C2SP tlog-witness add-checkpoint body proving the log only grew',
  usage: `OLD_SIZE ${AUDIT_SOURCE_USAGE} --key VKEY [--json]`,
  description: VKEY_NOTE,
  positionals: [{ name: 'OLD_SIZE', required: true, description: 'tree size of the checkpoint the witness saw last' }],
  options: [...auditSourceOptions, keyOption, jsonOption],
  async run(args, ctx) {
    const old = integerArg(args.positional('OLD_SIZE'), 'OLD_SIZE');
    const source = auditSource(args);
    const key = await verifierKey(args.required('key'), '--key');
    const { note, size, hashes } = await source.use(async (s) => {
      const l = await latest(s, key);
      if (old > l.size) throw new UsageError(`OLD_SIZE: the latest checkpoint covers ${l.size} entries`);
      const proof = await l.tree.consistencyProof(old, l.size);
      if (!verifyConsistency(old, l.size, await l.tree.root(old), l.root, proof)) throw new IncompleteError(`the stored tiles do not match the latest checkpoint (run audit verify)`);
      return { note: l.note, size: l.size, hashes: proof };
    });
    const text = formatConsistencyRequest(old, hashes, note);
    ctx.emit({ old, size, hashes: hashes.map(toBase64), checkpoint: note, request: text }, text);
    return EXIT.OK;
  },
};

const keygen: CommandSpec = {
  name: 'keygen',
  summary: 'make a log key pair: the signer key to a new 0600 file, the verifier key to stdout',
  description:
    'The signer key (pass it to AuditLog.open as signerKey) is written only to a new file with mode 0600;\n' +
    'it is never printed and no existing file is overwritten. Publish the verifier key to auditors.',
  positionals: [{ name: 'ORIGIN', required: true, description: "the log's origin, e.g. example.com/keywarden-audit" }],
  options: [
    { name: 'out-private', type: 'string', value: 'FILE', required: true, description: 'new file for the signer key, created with mode 0600' },
    { name: 'out-public', type: 'string', value: 'FILE', description: 'new file for the verifier key too' },
    jsonOption,
  ],
  async run(args, ctx) {
    const origin = args.positional('ORIGIN')!;
    if (!isValidKeyName(origin)) throw new UsageError("ORIGIN: not a valid key name (no white space, '+' or control characters)");
    const priv = args.required('out-private');
    const pub = args.string('out-public');
    const { signerKey, verifierKey } = generateNoteKey(origin);
    // The private file first: if it cannot be written, nothing else is; a failed public
    // file removes the private one again (writeNewFiles), so a run leaves both or neither.
    await writeNewFiles([{ path: priv, text: `${signerKey}\n`, secret: true }, ...(pub !== undefined ? [{ path: pub, text: `${verifierKey}\n` }] : [])]);
    ctx.note(`signer key written to ${priv} (mode 0600; keep it secret)${pub !== undefined ? `, verifier key to ${pub}` : ''}\n`);
    ctx.emit({ origin, verifierKey, privateKeyFile: priv, ...(pub !== undefined && { publicKeyFile: pub }) }, `${verifierKey}\n`);
    return EXIT.OK;
  },
};

/** The `keywarden audit` group. */
export const auditGroup: GroupSpec = {
  name: 'audit',
  summary: 'verify the tamper-evident audit log and make offline proofs (reads the log; keygen and export write new files)',
  description: 'The log is read from a FileAuditStore directory (--dir) or from PostgreSQL (--database-url, --schema).',
  commands: [verify, prove, entry, consistency, exportCommand, keygen],
};
