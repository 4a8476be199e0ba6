/**
 * Fuzzing the command line's input files (issue #11): token files, policy files, private JWK
 * files, verifier key files, trusted checkpoints and audit log directories, written to a temp
 * directory and read by `main(argv, io)` in-process. Mutants start from the genuine files of a
 * working setup (a fully approved token, its policy, approver keys, a witnessed log), and the
 * wrong-file mix-ups people make (a private key where a policy or verifier key belongs).
 * Properties, for every file content:
 *  - `main` returns 0, 1, 2 or 3 and never throws; errors are one line each;
 *  - nothing printed contains a private key from the input (a JWK's `d`, a signer key's seed);
 *  - success means the genuine thing: an acceptable token is the genuine request, an approval is
 *    of exactly the request shown, a log that verifies holds the genuine entries, a proof that
 *    checks out is for a genuine entry; readable files always get a report, never exit 3.
 * Fuzzed option values go to `token request` (without --out) and fuzzed argument lists to the
 * read-only commands only: nothing is written outside the temp directory, and no database is
 * reached (the environment is empty).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { base64url } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { frame, scanFrames } from '../src/audit/framing.js';
import { verifyTlogProof } from '../src/audit/formats.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import type { BreakGlassPolicy } from '../src/breakglass/policy.js';
import { approveRequest, createRequest, decodeToken, encodeToken, generateApproverKey, requestDigest } from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { EDGE_STRINGS, mutatedBytes, mutatedJson, mutatedText, params, tally } from './support/fuzz.js';

const enc = new TextEncoder();
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const MAGIC = enc.encode('keywarden-audit-v1\n');
const framed = (records: readonly Uint8Array[]) => Buffer.concat([MAGIC, ...records.map(frame)]);

// --- The genuine files -------------------------------------------------------------------------

const ORIGIN = 'fuzz.example/cli-log';
const LOG = generateNoteKey(ORIGIN, new Uint8Array(32).fill(41));
const WITNESS = generateCosignerKey('fuzz.example/cli-witness', new Uint8Array(32).fill(42));
const entries = Array.from({ length: 10 }, (_, i) => encodeEntry(sampleEvent(i)));
const tree = new MerkleTree();
for (const e of entries) tree.append(leafHash(e));
const signedAt = (size: number) => signCheckpoint({ origin: ORIGIN, size, rootHash: tree.root(size), extensions: [] }, newNoteSigner(LOG.signerKey));
const checkpoints = [signedAt(4), cosignCheckpoint(signedAt(10), newCosigner(WITNESS.signerKey, () => 1_750_000_000))];
const LOG_FILES = { entries: framed(entries), checkpoints: framed(checkpoints.map((c) => enc.encode(c))) };

let base: string;
let tokenText: string;
let tokenDigest: string;
let policyText: string;
let privateJwkText: string;
/** Every private key of the setup, as it would appear in text: no output may contain one. */
let secrets: string[];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'kw-fuzz-cli-'));
  const [t1, t2, l1, t3] = await Promise.all(['t1', 't2', 'l1', 't3'].map(generateApproverKey));
  const policy: BreakGlassPolicy = {
    id: 'bg-fuzz', audience: 'dm.example.com',
    factors: [{ name: 'tns', threshold: 2, approvers: [t1!, t2!, t3!].map((a) => ({ id: a.id, publicJwk: a.publicJwk })) }, { name: 'legal', threshold: 1, approvers: [{ id: l1!.id, publicJwk: l1!.publicJwk }] }],
    allowedReasons: ['LEGAL_PROCESS'], maxLifetimeSeconds: 86_400, maxScope: { conversations: 5, messages: 100, windowSeconds: 30 * 86_400 },
  };
  const req = createRequest({
    policy: 'bg-fuzz', aud: 'dm.example.com', requester: 'reviewer-7', reason: 'LEGAL_PROCESS', detail: 'case 2026-0042',
    scope: { conversations: ['dm:alice:bob'], from: '2026-05-01T00:00:00Z', to: '2026-05-08T00:00:00Z', maxMessages: 50, operation: 'decrypt' },
    exp: Math.floor(Date.now() / 1000) + 6 * 3600,
  });
  const approvals = await Promise.all([t1!, l1!].map((a) => approveRequest(req, { id: a.id, privateJwk: a.privateJwk })));
  tokenText = `${encodeToken({ request: req, approvals })}\n`;
  tokenDigest = requestDigest(req);
  policyText = JSON.stringify(policy, null, 2);
  privateJwkText = `${JSON.stringify(t2!.privateJwk)}\n`;
  secrets = [...[t1, t2, l1, t3].map((a) => a!.privateJwk.d!), ...[LOG.signerKey, WITNESS.signerKey].map((k) => k.split('+').at(-1)!)];
});
afterAll(async () => rm(base, { recursive: true, force: true }));

// --- Running the CLI ---------------------------------------------------------------------------

interface Run { code: number; out: string; err: string }

/** Runs `keywarden argv…` with an empty environment, after writing `files` (name → content) into a fresh directory. */
async function runWith(files: Record<string, string | Uint8Array>, argv: (dir: string) => string[]): Promise<Run & { dir: string }> {
  const dir = await mkdtemp(join(base, 'r-'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv(dir), { out: (s) => void out.push(typeof s === 'string' ? s : new TextDecoder().decode(s)), err: (s) => void err.push(s), env: {} });
  return { code, out: out.join(''), err: err.join(''), dir };
}

const outcomes = tally('fuzz-cli exit codes');
afterAll(() => outcomes.print());

/** What holds of every run: a documented exit code, one-line errors, no private key printed. */
function expectWellBehaved(r: Run): void {
  outcomes.add(`${r.code} ${r.err.replace(/\/tmp\/\S+/g, 'F').slice(0, 70)}`);
  expect([0, 1, 2, 3]).toContain(r.code);
  for (const s of secrets) {
    expect(r.out).not.toContain(s);
    expect(r.err).not.toContain(s);
  }
  if (r.code >= 2) expect(r.err.split('\n').filter((l) => l.length > 0)).toHaveLength(1);
}

async function cleanup(r: { dir: string }): Promise<void> {
  await rm(r.dir, { recursive: true, force: true });
}

/** The JSON object in `text` with the values of two of its fields swapped (a file edited by hand). */
const swappedFields = (text: string) => {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const keys = Object.keys(doc);
  return fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...keys)).map(([a, b]) => JSON.stringify({ ...doc, [a]: doc[b], [b]: doc[a] }));
};

// Contents for a file that should hold X: mostly X itself (so that the other files' mutants get
// deep), else X mutated, or another file of the setup (mutated): the mix-ups people make.
const genuineOr = <T>(genuine: T, ...mutants: fc.Arbitrary<T>[]) => fc.oneof({ weight: mutants.length, arbitrary: fc.constant(genuine) }, ...mutants);
const tokenArb = () => genuineOr(tokenText, mutatedJson([JSON.parse(tokenText)]), mutatedText([tokenText]));
const policyArb = () => genuineOr(policyText, mutatedJson([JSON.parse(policyText)]), mutatedText([policyText, privateJwkText]), fc.constant(privateJwkText));
const keyArb = () => genuineOr(privateJwkText, mutatedJson([JSON.parse(privateJwkText)]), mutatedText([privateJwkText, policyText]), swappedFields(privateJwkText));
const vkeyArb = genuineOr(`${LOG.verifierKey}\n`, mutatedText([LOG.verifierKey, LOG.signerKey, WITNESS.verifierKey]), fc.constant(`${LOG.signerKey}\n`));
const logFileArb = (genuine: Uint8Array, records: readonly Uint8Array[]) =>
  genuineOr(genuine, mutatedBytes([genuine]), fc.array(fc.oneof(fc.constantFrom(...records), mutatedBytes(records)), { maxLength: records.length + 1 }).map(framed));
const entriesArb = logFileArb(LOG_FILES.entries, entries);
// The witness is trusted to sign, not to be sane: a cosignature at any time it likes.
const witnessedAt = fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constant(8.64e12 + 1)).map((t) => framed([checkpoints[0]!, cosignCheckpoint(signedAt(10), newCosigner(WITNESS.signerKey, () => t))].map((c) => enc.encode(c))));
const checkpointsArb = fc.oneof({ weight: 3, arbitrary: logFileArb(LOG_FILES.checkpoints, checkpoints.map((c) => enc.encode(c))) }, witnessedAt);
const jsonFlag = fc.constantFrom<string[]>([], ['--json']);

// --- Properties --------------------------------------------------------------------------------

describe('fuzz: keywarden token … input files', () => {
  it('token inspect: any token and policy file; exit 0 only for the genuine request', async () => {
    await fc.assert(
      fc.asyncProperty(tokenArb(), policyArb(), jsonFlag, async (token, policy, json) => {
        const r = await runWith({ 'token.json': token, 'policy.json': policy }, (d) => ['token', 'inspect', '--token', join(d, 'token.json'), '--policy', join(d, 'policy.json'), ...json]);
        expectWellBehaved(r);
        // A good policy: whatever the token holds, the answer is a report (acceptable or not).
        if (policy === policyText) expect([0, 1], r.err).toContain(r.code);
        if (r.code === 0) expect(requestDigest(decodeToken(token).request)).toBe(tokenDigest);
        await cleanup(r);
      }),
      params(30, { heavy: true }),
    );
  });

  it('token approve: any token and private key file; the key is never printed; an approval is of exactly the request shown', async () => {
    await fc.assert(
      fc.asyncProperty(tokenArb(), keyArb(), fc.constantFrom('t2', 't1', 'reviewer-7'), jsonFlag, async (token, key, id, json) => {
        const r = await runWith({ 'token.json': token, 'key.jwk': key }, (d) => ['token', 'approve', '--token', join(d, 'token.json'), '--key', join(d, 'key.jwk'), '--id', id, ...json]);
        expectWellBehaved(r);
        if (r.code === 0) {
          // Any well-formed request may be approved (the approver is shown what it is): the
          // result is that request, the approvals it had, and one more over its digest by --id.
          const before = decodeToken(token);
          const after = decodeToken(json.length > 0 ? (JSON.parse(r.out) as { token: string }).token : r.out);
          expect(requestDigest(after.request)).toBe(requestDigest(before.request));
          expect(after.approvals.slice(0, -1)).toEqual(before.approvals);
          const claims = JSON.parse(new TextDecoder().decode(base64url.decode(after.approvals.at(-1)!.split('.')[1]!))) as { digest: string; iss: string };
          expect(claims).toMatchObject({ digest: requestDigest(before.request), iss: id });
        }
        await cleanup(r);
      }),
      params(30, { heavy: true }),
    );
  });
});

describe('fuzz: keywarden audit … input files', () => {
  it('audit verify: any log directory, key file, trusted checkpoint and witness key; exit 0 only for the genuine entries', async () => {
    const trustedArb = fc.option(fc.oneof(fc.constantFrom(...checkpoints), mutatedText(checkpoints)), { nil: undefined });
    const witnessArb = fc.option(fc.oneof(fc.constant(WITNESS.verifierKey), mutatedText([WITNESS.verifierKey, WITNESS.signerKey])), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(entriesArb, checkpointsArb, vkeyArb, trustedArb, witnessArb, fc.constantFrom(undefined, '0', '1', '2', '-1', 'x'), jsonFlag, async (es, cps, vkey, trusted, witness, quorum, json) => {
        const files: Record<string, string | Uint8Array> = { entries: es, checkpoints: cps, 'log.vkey': vkey };
        if (trusted !== undefined) files.trusted = trusted;
        if (witness !== undefined) files['w.vkey'] = witness;
        const r = await runWith(files, (d) => [
          'audit', 'verify', '--dir', d, '--key', `@${join(d, 'log.vkey')}`,
          ...(trusted === undefined ? [] : ['--trusted', join(d, 'trusted')]),
          ...(witness === undefined ? [] : ['--witness', `@${join(d, 'w.vkey')}`]),
          ...(quorum === undefined ? [] : ['--quorum', quorum]),
          ...json,
        ]);
        expectWellBehaved(r);
        // Every file is there and readable: whatever they hold, the auditor gets a report (or a usage error).
        expect(r.code, r.err).not.toBe(3);
        if (r.code === 0) {
          // OK only for genuine entries in their order: all of them, or a prefix — a tail
          // deleted with the checkpoints covering it is undetectable without an earlier
          // checkpoint (docs/AUDIT.md §6), down to the empty log — and never shorter than a
          // genuine trusted checkpoint (sizes 4 and 10).
          const read = scanFrames(es).records;
          expect(read.length <= entries.length && read.every((e, i) => same(e, entries[i]!))).toBe(true);
          const trustedSize = trusted === checkpoints[0] ? 4 : trusted === checkpoints[1] ? 10 : 0;
          expect(read.length).toBeGreaterThanOrEqual(trustedSize);
        }
        await cleanup(r);
      }),
      params(30, { heavy: true }),
    );
  });

  it('audit prove, consistency and entry: any log directory, key file and index; a printed proof checks out only for a genuine entry', async () => {
    const indexArb = fc.oneof(fc.constantFrom('0', '3', '9', '10', '-1', '1e1', '01', '٣', '9007199254740993', ''), fc.nat({ max: 12 }).map(String));
    await fc.assert(
      fc.asyncProperty(entriesArb, checkpointsArb, vkeyArb, fc.constantFrom('prove', 'consistency', 'entry'), indexArb, jsonFlag, async (es, cps, vkey, command, index, json) => {
        const r = await runWith({ entries: es, checkpoints: cps, 'log.vkey': vkey }, (d) => [
          'audit', command, index, '--dir', d, ...(command === 'entry' ? [] : ['--key', `@${join(d, 'log.vkey')}`]), ...json,
        ]);
        expectWellBehaved(r);
        if (r.code === 0 && command === 'prove') {
          const proof = json.length > 0 ? (JSON.parse(r.out) as { tlogProof: string }).tlogProof : r.out;
          const entry = scanFrames(es).records[Number(index)]!;
          if (verifyTlogProof(proof, entry, LOG.verifierKey).ok) expect(same(entry, entries[Number(index)]!)).toBe(true);
        }
        await cleanup(r);
      }),
      params(30, { heavy: true }),
    );
  });
});

describe('fuzz: token request options', () => {
  it('any option values (printed to stdout, no --out): exit 0 with a token that decodes to them, or a usage error', async () => {
    const value = (genuine: string) => fc.oneof({ weight: 3, arbitrary: fc.constant(genuine) }, fc.constantFrom(...EDGE_STRINGS), mutatedText([genuine]));
    const options = fc.record({
      policy: value('bg-fuzz'), aud: value('dm.example.com'), requester: value('reviewer-7'), reason: value('LEGAL_PROCESS'), detail: value('case 1'),
      conversation: value('dm:alice:bob'), from: value('2026-05-01T00:00:00Z'), to: value('2026-05-08T00:00:00+02:00'), 'max-messages': value('50'), 'expires-in': value('3600'),
    });
    await fc.assert(
      fc.asyncProperty(options, jsonFlag, async (o, json) => {
        // --name=value, so that values starting with '-' stay values.
        const r = await runWith({}, () => ['token', 'request', ...Object.entries(o).map(([k, v]) => `--${k}=${v}`), ...json]);
        expectWellBehaved(r);
        expect([0, 2]).toContain(r.code);
        if (r.code === 0) {
          const t = decodeToken(json.length > 0 ? (JSON.parse(r.out) as { token: string }).token : r.out.trim());
          expect(t.request.requester).toBe(o.requester);
          expect(t.request.scope.conversations).toEqual([o.conversation]);
        }
        await cleanup(r);
      }),
      params(50),
    );
  });
});

describe('fuzz: arguments of the read-only commands', () => {
  it('any argument list: a documented exit code, one line per error, never a throw', async () => {
    const words = fc.oneof(
      fc.constantFrom('audit', 'token', 'verify', 'prove', 'entry', 'consistency', 'inspect', 'version', 'help', '--help', '-h', '--version', '--json', '--dir', '--key', '--trusted', '--witness', '--quorum', '--token', '--policy', '--schema', '--', '-', '--json=1', '--dir=', '0', '1'),
      fc.constantFrom(...EDGE_STRINGS),
      fc.string({ maxLength: 6 }),
    );
    // Only commands that write nothing: no keygen, request or approve (they create files).
    const readOnly = fc.constantFrom(['audit', 'verify'], ['audit', 'prove'], ['audit', 'entry'], ['audit', 'consistency'], ['token', 'inspect'], ['version'], ['help'], ['audit'], ['token'], []);
    await fc.assert(
      fc.asyncProperty(readOnly, fc.array(words, { maxLength: 6 }), async (command, rest) => {
        const r = await runWith({}, (d) => [...command, ...rest.map((w) => (w === '--dir' || w === '--token' || w === '--policy' ? `${w}=${d}` : w))]);
        expectWellBehaved(r);
        await cleanup(r);
      }),
      params(50),
    );
  });
});
