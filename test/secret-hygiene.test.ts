/**
 * Secret hygiene (issue #11): every error (message, stack, `cause` chain, inspection), console
 * line, CLI output, audit entry and stored key record produced by a broad run of the library —
 * successes and every kind of failure — is collected and searched for the secrets in play: master
 * key bytes, data keys, plaintexts, the audit signer key and HMAC key, approvers' private keys, and
 * identifiers that must appear only as keyed HMACs in the audit log (conversation and case ids).
 * Raw bytes and their hex, base64 and base64url spellings are all searched. And every data key a
 * master key handed to keywarden is wiped once keywarden is done with it.
 */
import { inspect } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { AuditIdHasher } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { AuditLog } from '../src/audit/log.js';
import { generateNoteKey } from '../src/audit/note.js';
import { BreakGlass } from '../src/breakglass/node.js';
import { approveRequest, createRequest, encodeToken, generateApproverKey } from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';
import type { GeneratedDataKey, KmsCallOptions, MasterKeyProvider } from '../src/kms/provider.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { wrapStore } from './support/fixtures.js';

const texts: string[] = [];
const blobs: Uint8Array[] = [];
const collect = (s: unknown) => void texts.push(typeof s === 'string' ? s : s instanceof Uint8Array ? Buffer.from(s).toString('latin1') : inspect(s, { depth: 8 }));

/** Everything an error shows: message, stack, name, code, own fields, the whole cause chain. */
function collectError(e: unknown): void {
  for (let c: unknown = e, depth = 0; c !== undefined && depth < 8; c = (c as { cause?: unknown })?.cause, depth++) {
    collect(String(c));
    collect((c as Error)?.stack ?? '');
    collect(inspect(c, { depth: 8, showHidden: true }));
    try {
      collect(JSON.stringify(c));
    } catch {
      // not serialisable: inspect covered it
    }
  }
}
async function expectFailure(p: Promise<unknown> | (() => unknown)): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    collectError(e);
    return;
  }
  throw new Error('expected a failure');
}

/** A master key that records every data key it hands out (to check wiping and search for it). */
class Recording implements MasterKeyProvider {
  readonly keyId: string;
  readonly handed: Uint8Array[] = [];
  readonly copies: Uint8Array[] = [];
  lateDelayMs = 0;
  constructor(readonly inner: LocalMasterKey) {
    this.keyId = inner.keyId;
  }
  async generateDataKey(ctx: Readonly<Record<string, string>>, o?: KmsCallOptions): Promise<GeneratedDataKey> {
    const g = await this.inner.generateDataKey(ctx, o);
    this.#keep(g.plaintextKey);
    return g;
  }
  async unwrapDataKey(w: Uint8Array, ctx: Readonly<Record<string, string>>, id: string): Promise<Uint8Array> {
    const k = await this.inner.unwrapDataKey(w, ctx, id);
    this.#keep(k);
    // Ignores the abort signal on purpose: a provider that answers after keywarden's deadline.
    if (this.lateDelayMs) await new Promise((r) => setTimeout(r, this.lateDelayMs));
    return k;
  }
  #keep(k: Uint8Array) {
    this.handed.push(k);
    this.copies.push(k.slice());
  }
}

const masterBytes = LocalMasterKey.generateKey();
const auditKey = AuditIdHasher.generateKey();
const logKeys = generateNoteKey('keywarden.example/hygiene');
const PLAINTEXTS = ['PT-alpha-7f3a9c well known plaintext', 'PT-bravo-19de22 another one', 'PT-charlie-5550aa the third'];
const CONVERSATION = 'conv-SECRET-ID-0c1d';
const CASE = 'case-SECRET-4471';
let approverD: string[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('secret hygiene', () => {
  it('no secret in any error, log line, CLI output, audit entry or stored record; every handed-out data key wiped', async () => {
    const consoleSpies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m).mockImplementation((...a: unknown[]) => a.forEach(collect)));
    const mk = new Recording(new LocalMasterKey(masterBytes, { keyId: 'local:hygiene' }));
    const store = new MemoryKeyStore();
    const dir = await mkdtemp(join(tmpdir(), 'kw-hygiene-'));
    dirs.push(dir);
    const log = await AuditLog.open({ store: await FileAuditStore.open(join(dir, 'audit')), signerKey: logKeys.signerKey });
    const ids = new AuditIdHasher(auditKey);
    const kw = new Keywarden({ masterKey: mk, keyStore: store, audit: { log, ids, actor: 'svc' }, timeouts: { kmsMs: 50 } });

    // Successes.
    const cts = await Promise.all(PLAINTEXTS.map((p, i) => kw.encryptString(CONVERSATION, p, { aad: `m${i}` })));
    await kw.rotate(CONVERSATION);
    cts.push(await kw.encryptString(CONVERSATION, PLAINTEXTS[0]!, { aad: 'm3' }));
    collect(inspect(kw.stats()));
    collect(inspect(await kw.describeKeys(CONVERSATION)));

    // Failures of every kind.
    const flipped = Uint8Array.from(cts[0]!); // a copy: Buffer#slice would be a view
    flipped[flipped.length - 1]! ^= 1;
    await expectFailure(kw.decrypt(CONVERSATION, flipped, { aad: 'm0' }));
    await expectFailure(kw.decrypt(CONVERSATION, cts[0]!, { aad: 'wrong' }));
    await expectFailure(kw.decrypt('other', cts[0]!, { aad: 'm0' }));
    await expectFailure(kw.encrypt(CONVERSATION, 'not bytes' as unknown as Uint8Array));
    await expectFailure(kw.encryptString(CONVERSATION, PLAINTEXTS[1]!, { aad: '\uD800' }));
    const broken = new Keywarden({ masterKey: mk, keyStore: wrapStore(store, { getVersion: async () => Promise.reject(new Error(`driver says: ${PLAINTEXTS[2]}`.replace(PLAINTEXTS[2]!, 'x'))) }) });
    await expectFailure(broken.decrypt(CONVERSATION, cts[1]!, { aad: 'm1' }));
    const wrongKey = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey(), { keyId: 'local:hygiene' }), keyStore: store });
    await expectFailure(wrongKey.decrypt(CONVERSATION, cts[1]!, { aad: 'm1' }));
    // A provider that answers after the deadline: the late key must be wiped too.
    const slow = new Keywarden({ masterKey: mk, keyStore: store, timeouts: { kmsMs: 20 } });
    mk.lateDelayMs = 80;
    await expectFailure(slow.decrypt(CONVERSATION, cts[2]!, { aad: 'm2' }));
    await new Promise((r) => setTimeout(r, 120));
    mk.lateDelayMs = 0;

    // Break-glass with a case id, a refusal, a replay.
    const approvers = await Promise.all(['ana', 'ben'].map((id) => generateApproverKey(id)));
    approverD = approvers.map((a) => a.privateJwk.d as string);
    const policy = {
      id: 'p', audience: 'dm.example.com', factors: [{ name: 'tns', threshold: 2, approvers: approvers.map((a) => ({ id: a.id, publicJwk: a.publicJwk })) }],
      allowedReasons: ['USER_REPORT_REVIEW'], maxLifetimeSeconds: 3600, maxScope: { conversations: 1, messages: 10, windowSeconds: 86_400 },
    };
    const bg = new BreakGlass({ policy, masterKey: mk, keyStore: store, audit: { log, ids, actor: 'tns' } });
    const req = createRequest({
      policy: 'p', aud: 'dm.example.com', requester: 'r', reason: 'USER_REPORT_REVIEW', detail: CASE,
      scope: { conversations: [CONVERSATION], from: new Date(Date.now() - 3_600_000), to: new Date(Date.now() + 60_000), maxMessages: 10, operation: 'decrypt' },
      exp: Math.floor(Date.now() / 1000) + 600,
    });
    const token = encodeToken({ request: req, approvals: await Promise.all(approvers.map((a) => approveRequest(req, a))) });
    const page = cts.map((ct, i) => ({ ciphertext: ct, aad: `m${i}` }));
    const released = await bg.decrypt(token, CONVERSATION, page);
    expect(released.results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["ok", "ok", "ok", "ok"]);
    await expectFailure(bg.decrypt(token, CONVERSATION, page)); // replay
    await expectFailure(bg.decrypt(encodeToken({ request: req, approvals: [] }), CONVERSATION, page)); // refusal

    // The CLI, as people run it: key files, approvals, inspection, audit verification.
    const io = { out: (s: string | Uint8Array) => collect(s), err: (s: string) => collect(s) };
    const f = (n: string) => join(dir, n);
    await writeFile(f('token.json'), encodeToken({ request: req, approvals: [] }));
    await writeFile(f('policy.json'), JSON.stringify(policy));
    await writeFile(f('ana.jwk'), JSON.stringify(approvers[0]!.privateJwk));
    await main(['token', 'keygen', '--id', 'cid', '--out-private', f('cid.jwk'), '--out-public', f('cid.pub')], io);
    await main(['token', 'approve', '--token', f('token.json'), '--key', f('ana.jwk'), '--id', 'ana', '--out', f('t2.json')], io);
    await main(['token', 'approve', '--token', f('t2.json'), '--key', f('ana.jwk'), '--id', 'ana'], io); // refused: duplicate
    await main(['token', 'inspect', '--token', f('t2.json'), '--policy', f('policy.json'), '--json'], io);
    await main(['audit', 'keygen', 'example.com/log', '--out-private', f('log.key')], io);
    await log.close();
    await main(['audit', 'verify', '--dir', join(dir, 'audit'), '--key', log.verifierKey, '--json'], io);
    const keygenD = (JSON.parse(await readFile(f('cid.jwk'), 'utf8')) as { d: string }).d;
    const cliSigner = (await readFile(f('log.key'), 'utf8')).trim();

    // What is stored: the audit entries and the key records.
    const files = await FileAuditStore.open(join(dir, 'audit'));
    for (const e of await files.read(0, await files.size())) blobs.push(e);
    for (const c of await files.checkpoints()) collect(c);
    await files.close();
    for (const r of await store.listVersions(CONVERSATION)) collect(inspect(r, { depth: 4 }));
    for (const s of consoleSpies) s.mockRestore();
    kw.close();
    broken.close();
    wrongKey.close();
    slow.close();

    // Every data key handed to keywarden was wiped (keywarden keeps its own copy in its cache
    // until close, which wipes that too).
    for (const k of mk.handed) expect(k.every((b) => b === 0)).toBe(true);

    // Search everything for every secret, in every spelling.
    const haystack = [...texts, ...blobs.map((b) => Buffer.from(b).toString('latin1'))].join('\n\u0000\n');
    const bytesSecrets: [string, Uint8Array][] = [
      ['master key', masterBytes], ['audit HMAC key', auditKey], ...mk.copies.map((k, i): [string, Uint8Array] => [`data key ${i}`, k]),
    ];
    const spellings = (b: Uint8Array) => {
      const buf = Buffer.from(b);
      return [buf.toString('latin1'), buf.toString('hex'), buf.toString('hex').toUpperCase(), buf.toString('base64'), buf.toString('base64url')];
    };
    for (const [name, b] of bytesSecrets) for (const s of spellings(b)) expect(haystack.includes(s), `${name} found`).toBe(false);
    const stringSecrets: [string, string][] = [
      ...PLAINTEXTS.map((p, i): [string, string] => [`plaintext ${i}`, p]),
      ['audit signer key', logKeys.signerKey], ['audit signer key (CLI)', cliSigner],
      ...approverD.map((d, i): [string, string] => [`approver private key ${i}`, d]), ['generated approver key', keygenD],
    ];
    for (const [name, s] of stringSecrets) expect(haystack.includes(s), `${name} found`).toBe(false);
    // Identifiers appear in the audit log only as keyed HMACs.
    const logText = blobs.map((b) => Buffer.from(b).toString('latin1')).join('\n');
    expect(logText.includes(CONVERSATION)).toBe(false);
    expect(logText.includes(CASE)).toBe(false);
    expect(logText.includes(ids.conversation(CONVERSATION))).toBe(true); // ... and they are there
  });
});
