/**
 * `keywarden keys …` and `keywarden inspect`, in process against PostgreSQL (PGlite, or the
 * server at DATABASE_URL) with local master keys: each command's effect on the store, the
 * library and the audit log, its refusals and exit codes, and that no output carries a secret.
 * The same commands run as separate processes — with AWS KMS over HTTP, a real terminal for the
 * shred prompt and the progress bar, and signals — in test/ci/cli-keys-built.test.ts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/audit/entry.js';
import { PostgresAuditStore } from '../src/audit/postgres-store.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { parseDuration } from '../src/cli/durations.js';
import { main } from '../src/cli/index.js';
import type { Terminal } from '../src/cli/terminal.js';
import { BranchKeyProvider, Keywarden, type LocalMasterKey } from '../src/node.js';
import { PostgresKeyStore } from '../src/store/postgres.js';
import { sealV1 } from './support/format-v1.js';
import { makeRecord } from './support/store-contract.js';
import { type KeyFiles, type Sealed, keyFiles, seedConversations } from './support/keys-cli.js';
import { type TestPool, testPool } from './support/pg.js';

const DAY = 86_400_000;
let db: TestPool;
let files: KeyFiles;
let schema: string;
let sealed: Sealed[];
/** Everything any command printed, checked for secrets at the end. */
const printed: string[] = [];

interface Run {
  code: number;
  out: string;
  err: string;
}

/** A terminal whose person answers `answer`; records the questions. */
function terminal(answer: string, asked: string[]): Terminal {
  return { stdinIsTTY: true, stderr: undefined, ask: async (q) => (asked.push(q), answer), onInterrupt: () => () => undefined };
}

/** Runs `keywarden argv…` in process with the test's database, once the test's own connection is out of the way. */
async function run(argv: string[], o: { db?: boolean; terminal?: Terminal; stdin?: Uint8Array; env?: Record<string, string> } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const args = o.db === false ? argv : [...argv, '--database-url', db.url, '--schema', schema];
  await db.releaseConnections();
  try {
    const code = await main(args, {
      out: (s) => void out.push(typeof s === 'string' ? s : Buffer.from(s).toString('latin1')),
      err: (s) => void err.push(s),
      env: o.env ?? {},
      ...(o.terminal !== undefined && { terminal: o.terminal }),
      ...(o.stdin !== undefined && { stdin: async () => o.stdin! }),
    });
    const r = { code, out: out.join(''), err: err.join('') };
    printed.push(r.out, r.err);
    return r;
  } finally {
    await db.releaseConnections();
  }
}

const json = (r: Run) => JSON.parse(r.out) as Record<string, any>;
const store = () => new PostgresKeyStore(db.pool, { schema });
const reader = (master: LocalMasterKey) => new Keywarden({ masterKey: master, keyStore: store() });
async function auditEvents() {
  const s = new PostgresAuditStore(db.pool, { schema });
  const entries = await s.read(0, await s.size());
  expect(verifyAuditLog({ verifierKey: files.verifierKey, entries, checkpoints: await s.checkpoints() }).ok).toBe(true);
  return entries.map(decodeEntry);
}

beforeAll(async () => {
  db = await testPool();
  files = await keyFiles();
  schema = `${db.schema}_keys`;
  sealed = await seedConversations(db.pool, schema, files.master, ['dm:a', 'dm:b', 'dm:c', 'dm:d']);
});
afterAll(async () => {
  await db?.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
  await files?.cleanup();
  await db?.close();
});

describe('durations', () => {
  it('accepts a whole number and one unit; refuses anything looser, naming the flag', () => {
    expect(parseDuration('90d', '--older-than')).toBe(90 * DAY);
    expect(parseDuration('12h', '--x')).toBe(12 * 3_600_000);
    expect(parseDuration('30m', '--x')).toBe(1_800_000);
    expect(parseDuration('2w', '--x')).toBe(14 * DAY);
    for (const bad of ['90', '1.5d', '90 d', '90days', '-1d', '0d', 'd', '', '1D', '09d']) expect(() => parseDuration(bad, '--older-than')).toThrow(/^--older-than: expected a whole number and a unit/);
    expect(() => parseDuration('30s', '--older-than', 60_000, '1m')).toThrow('--older-than: expected at least 1m');
  });

  // fast-check prints the seed and the shrunk counterexample on failure.
  it('for all whole numbers and units: the exact milliseconds, or refused as too long (property)', () => {
    const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: DAY, w: 7 * DAY } as const;
    fc.assert(fc.property(fc.integer({ min: 1, max: 9_999_999_999 }), fc.constantFrom('s', 'm', 'h', 'd', 'w' as const), (n, u) => {
      const ms = n * unitMs[u];
      if (ms > 2 ** 47) expect(() => parseDuration(`${n}${u}`, '--x')).toThrow('--x: too long');
      else expect(parseDuration(`${n}${u}`, '--x')).toBe(ms);
    }), { numRuns: 500 });
  });

  it('for all other strings: a usage error naming the flag, never a guess (property)', () => {
    fc.assert(fc.property(fc.string({ maxLength: 16 }), (text) => {
      fc.pre(!/^[1-9][0-9]{0,9}[smhdw]$/.test(text));
      expect(() => parseDuration(text, '--older-than')).toThrow(/^--older-than: expected a whole number and a unit/);
    }), { numRuns: 500 });
  });
});

describe('keys status', () => {
  it('summary and one conversation, as text and JSON; no key material', async () => {
    const text = await run(['keys', 'status']);
    expect([text.code, text.err]).toEqual([0, '']);
    expect(text.out).toBe(`schema ${schema}: 4 conversation(s)\nkey versions: 4 active, 1 superseded, 0 shredded\nwrapped keys by master key:\n  ${files.master.keyId}  5\n`);
    expect(json(await run(['keys', 'status', '--json']))).toEqual({ schema, conversations: 4, versions: { active: 4, superseded: 1, shredded: 0 }, byMasterKey: { [files.master.keyId]: 5 }, jobs: [] });
    const one = json(await run(['keys', 'status', 'dm:a', '--json']));
    expect(one).toMatchObject({ conversationId: 'dm:a', state: 'open', activeVersion: 2 });
    expect(one.versions.map((v: { version: number; state: string }) => [v.version, v.state])).toEqual([[1, 'superseded'], [2, 'active']]);
    expect(Object.keys(one.versions[0]).sort()).toEqual(['activatedAt', 'createdAt', 'masterKeyId', 'sealedReserved', 'shredScope', 'shreddedAt', 'state', 'suite', 'supersededAt', 'version']);
    const oneText = await run(['keys', 'status', 'dm:a']);
    expect(oneText.out).toMatch(/^conversation "dm:a": 2 key version\(s\), open \(active version 2\)\n {2}v1 {2}superseded {2}activated .+, superseded .+, master key local:[0-9a-f]{16}, AES-256-GCM, \d+ message\(s\) reserved\n {2}v2 {2}active/);
    // The wrapped keys are nowhere in the output, in any encoding.
    for (const r of await store().listVersions('dm:a')) {
      for (const enc of ['base64', 'hex'] as const) expect(oneText.out + JSON.stringify(one)).not.toContain(Buffer.from(r.wrappedKey).toString(enc));
    }
  });

  it('refusals: unknown conversation (1), bad schema name (2), a schema without the tables (3)', async () => {
    expect(await run(['keys', 'status', 'dm:nobody'])).toEqual({ code: 1, out: '', err: 'keywarden keys status: refused (ERR_KEY_NOT_FOUND): conversation "dm:nobody" has no key\n' });
    const bad = await main(['keys', 'status', '--database-url', db.url, '--schema', 'Bad-Name'], { out: () => undefined, err: (s) => void printed.push(s), env: {} });
    expect(bad).toBe(2);
    expect(printed.at(-1)).toBe("keywarden keys status: --schema: expected a schema name matching ^[a-z_][a-z0-9_]{0,62}$ (see 'keywarden keys status --help')\n");
    const errs: string[] = [];
    await db.releaseConnections();
    const empty = await main(['keys', 'status'], { out: () => undefined, err: (s) => void errs.push(s), env: { KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_SCHEMA: 'kw_never_migrated' } });
    await db.releaseConnections();
    expect([empty, errs.join('')]).toEqual([3, "keywarden keys status: could not complete: schema kw_never_migrated has no keywarden tables, or older ones: run 'keywarden migrate --schema kw_never_migrated' first\n"]);
  });
});

describe('keys rotate, shred, start-generation', () => {
  it('rotate: needs a master key and audit keys (or --no-audit); records key.rotated with the actor', async () => {
    const usage = (r: Run, text: string) => expect(r).toEqual({ code: 2, out: '', err: `keywarden keys rotate: ${text} (see 'keywarden keys rotate --help')\n` });
    usage(await run(['keys', 'rotate', 'dm:b', ...files.audit]), 'missing the master key: give --kms-key-id KEY (or set KEYWARDEN_KMS_KEY_ID), or --local-key-file FILE (or set KEYWARDEN_LOCAL_KEY_FILE)');
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile]), 'key changes are recorded in the audit log: give --audit-signer-key FILE and --audit-ids-key FILE (or set KEYWARDEN_AUDIT_SIGNER_KEY_FILE and KEYWARDEN_AUDIT_IDS_KEY_FILE), or --no-audit to change keys without a record');
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, '--audit-signer-key', files.signerFile]), 'missing --audit-ids-key FILE (or set KEYWARDEN_AUDIT_IDS_KEY_FILE): the audit log records conversation ids as HMACs under it');
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, '--kms-key-id', 'alias/x', ...files.audit]), 'give either --kms-key-id or --local-key-file, not both');
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, '--no-audit', ...files.audit]), 'give either the audit keys or --no-audit, not both');
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.signerFile, ...files.audit]), `--local-key-file: ${files.signerFile} does not hold a 32-byte key (base64 or 64 hex digits)`);
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, '--audit-signer-key', files.idsFile, '--audit-ids-key', files.idsFile]), `--audit-signer-key: ${files.idsFile} does not hold a signed-note signer key (from 'keywarden audit keygen --out-private')`);
    usage(await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, '--suite', 'DES', ...files.audit]), '--suite: expected AES-256-GCM or XChaCha20-Poly1305');
    // The environment names itself in errors, and the command line wins over it.
    const fromEnv = await run(['keys', 'rotate', 'dm:b', ...files.audit], { env: { KEYWARDEN_LOCAL_KEY_FILE: files.masterFile, KEYWARDEN_KMS_KEY_ID: 'alias/x' } });
    expect(fromEnv.err).toContain('give either KEYWARDEN_KMS_KEY_ID or KEYWARDEN_LOCAL_KEY_FILE, not both');
    expect((await run(['keys', 'rotate', 'dm:b', '--local-key-file', join(files.dir, 'none.key'), ...files.audit])).err).toMatch(/could not complete: cannot read --local-key-file .*none\.key: ENOENT\n$/);

    const plain = await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, '--no-audit']);
    expect(plain).toEqual({ code: 0, out: `conversation "dm:b": version 2 is active (was 1), master key ${files.master.keyId}\n`, err: 'note: --no-audit: this change is not recorded in the audit log\n' });
    const audited = await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, ...files.audit, '--actor', 'ops-ana', '--json']);
    expect([audited.code, audited.err]).toEqual([0, '']);
    expect(json(audited)).toMatchObject({ conversationId: 'dm:b', version: 3, previousVersion: 2, masterKeyId: files.master.keyId, audited: true });
    const events = await auditEvents();
    expect(events).toHaveLength(1); // the --no-audit rotation left no trace, as asked
    expect(events[0]).toMatchObject({ type: 'key.rotated', actor: 'ops-ana', conversation: files.ids.conversation('dm:b'), fromVersion: 2, version: 3 });
    // The default actor names the login.
    await run(['keys', 'rotate', 'dm:b', '--local-key-file', files.masterFile, ...files.audit]);
    expect((await auditEvents()).at(-1)!.actor).toMatch(/^keywarden-cli@.+/);
    // Messages sealed before keep opening.
    const kw = reader(files.master);
    for (const m of sealed.filter((x) => x.conv === 'dm:b')) expect(await kw.decryptString(m.conv, m.ct, { aad: m.aad })).toBe(m.text);
    kw.close();
    expect(await run(['keys', 'rotate', 'dm:nobody', '--local-key-file', files.masterFile, ...files.audit])).toMatchObject({ code: 1, err: 'keywarden keys rotate: refused (ERR_KEY_NOT_FOUND): conversation "dm:nobody" has no key\n' });
  });

  it('shred: --yes or a "yes" at a terminal, else refused; versions, below, the whole conversation; then start-generation', async () => {
    const shred = (...more: string[]) => ['keys', 'shred', 'dm:c', ...files.audit, ...more];
    expect(await run(shred('--version', '1'))).toEqual({ code: 2, out: '', err: "keywarden keys shred: shredding cannot be undone: give --yes to confirm (standard input is not a terminal to ask on) (see 'keywarden keys shred --help')\n" });
    const asked: string[] = [];
    expect(await run(shred('--version', '1'), { terminal: terminal('no', asked) })).toEqual({ code: 1, out: '', err: 'keywarden keys shred: refused (ERR_NOT_CONFIRMED): not confirmed: nothing was shredded\n' });
    expect(asked).toEqual(['Shred key version(s) 1 of conversation "dm:c": the messages sealed under them become unreadable for everyone.\nThis cannot be undone. Type yes to shred: ']);
    expect((await store().getVersion('dm:c', 1))!.state).toBe('active');
    expect((await run(shred('--version', '1', '--below', '2', '--yes'))).err).toContain('give --version or --below, not both');
    expect((await run(shred('--below', '1', '--yes'))).err).toContain('--below: expected an integer >= 2');
    expect(await run(shred('--version', '7', '--yes'))).toMatchObject({ code: 1, err: 'keywarden keys shred: refused (ERR_KEY_NOT_FOUND): conversation "dm:c" has no key version 7\n' });

    const one = await run(shred('--version', '1'), { terminal: terminal('yes', []) });
    expect(one).toEqual({ code: 0, out: 'conversation "dm:c": shredded version(s) 1\n', err: '' });
    const kw = reader(files.master);
    await expect(kw.decrypt('dm:c', sealed.find((m) => m.conv === 'dm:c')!.ct, { aad: 'dm:c#0' })).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    // The conversation goes on: the next seal makes version 2.
    await kw.encryptString('dm:c', 'after');
    kw.close();
    expect(json(await run(shred('--version', '1', '--yes', '--json')))).toEqual({ conversationId: 'dm:c', scope: 'versions', shredded: [], alreadyShredded: [1], audited: true });

    const all = await run(shred('--yes'));
    expect(all).toEqual({ code: 0, out: 'conversation "dm:c": shredded version(s) 2; the conversation is closed\n', err: '' });
    expect(json(await run(['keys', 'status', 'dm:c', '--json']))).toMatchObject({ state: 'shredded', activeVersion: null });
    expect(await run(['keys', 'rotate', 'dm:c', '--local-key-file', files.masterFile, ...files.audit])).toMatchObject({ code: 1, err: expect.stringContaining('refused (ERR_KEY_SHREDDED)') });
    const gen = await run(['keys', 'start-generation', 'dm:c', '--local-key-file', files.masterFile, ...files.audit, '--json']);
    expect(json(gen)).toMatchObject({ conversationId: 'dm:c', started: true, version: 3 });
    const again = await run(['keys', 'start-generation', 'dm:c', '--local-key-file', files.masterFile, ...files.audit]);
    expect(again.out).toBe('conversation "dm:c" was not shredded: version 3 is active, nothing started\n');
    expect(await run(['keys', 'start-generation', 'dm:nobody', '--local-key-file', files.masterFile, ...files.audit])).toMatchObject({ code: 1 });
    const types = (await auditEvents()).map((e) => [e.type, e.scope ?? null]);
    expect(types.slice(-3)).toEqual([['key.shredded', 'version'], ['key.shredded', 'conversation'], ['key.created', null]]);
  });
});

describe('keys retain', () => {
  it('validates its durations; a dry run lists and changes nothing; then shreds exactly the old versions', async () => {
    expect((await run(['keys', 'retain', '--older-than', '90'])).err).toBe("keywarden keys retain: --older-than: expected a whole number and a unit: s, m, h, d or w (e.g. 90d, 12h, 30m) (see 'keywarden keys retain --help')\n");
    expect((await run(['keys', 'retain', '--older-than', '30s'])).err).toContain('--older-than: expected at least 1m');
    expect((await run(['keys', 'retain', '--older-than', '90d', '--include-idle', '--dry-run'])).err).toContain('--include-idle needs --rotation-max-age DURATION');
    expect((await run(['keys', 'retain', '--older-than', '90d'])).code).toBe(2); // no audit keys, not a dry run
    // Old history: a conversation whose version 1 was superseded 200 days ago.
    const kw = new Keywarden({ masterKey: files.master, keyStore: store(), now: () => new Date(Date.now() - 200 * DAY) });
    const old = await kw.encryptString('dm:old', 'long ago', { aad: 'o' });
    await kw.rotate('dm:old');
    kw.close();
    const now = reader(files.master);
    const fresh = await now.encryptString('dm:old', 'today', { aad: 'n' });
    now.close();

    const dry = await run(['keys', 'retain', '--older-than', '90d', '--dry-run', '--json']);
    expect(json(dry)).toMatchObject({ dryRun: true, complete: true, versions: 1, conversations: 1, items: [{ conversationId: 'dm:old', version: 1, state: 'superseded' }] });
    const dryText = await run(['keys', 'retain', '--older-than', '90d', '--dry-run']);
    expect(dryText.out).toMatch(/^dry run, cut-off \S+: would shred 1 key version\(s\) of 1 conversation\(s\)\n {2}"dm:old" v1 superseded \(superseded \S+\)\n$/);
    expect((await store().getVersion('dm:old', 1))!.state).toBe('superseded');

    const done = await run(['keys', 'retain', '--older-than', '90d', ...files.audit]);
    expect([done.code, done.err]).toEqual([0, '']);
    expect(done.out).toMatch(/^cut-off \S+: shredded 1 key version\(s\) of 1 conversation\(s\)\n$/);
    const after = reader(files.master);
    await expect(after.decrypt('dm:old', old, { aad: 'o' })).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    expect(await after.decryptString('dm:old', fresh, { aad: 'n' })).toBe('today');
    after.close();
    expect((await auditEvents()).at(-1)).toMatchObject({ type: 'key.shredded', reason: 'retention', conversation: files.ids.conversation('dm:old'), versions: [1] });
  });
});

describe('keys rewrap (local master keys)', () => {
  it('moves every key; messages open with the new key alone; a rerun has nothing to do; a missing old key is named', async () => {
    const live = Object.values((await store().summary()).byMasterKey).reduce((a, b) => a + b, 0);
    const missing = await run(['keys', 'rewrap', '--to-local-key-file', files.otherFile, ...files.audit]);
    expect(missing.code).toBe(3);
    expect(missing.err).toBe(`re-wrapping every stored key to ${files.other.keyId}\nkeywarden keys rewrap: could not complete: no master key in the ring unwraps keys of ${files.master.keyId}: give the old master key (--from-local-key-file FILE for a local key, --from-kms-key-id KEY for a KMS key); progress is saved, run again to continue\n`);
    expect((await run(['keys', 'rewrap', ...files.audit])).err).toContain('give the destination: --to KEY (a KMS key) or --to-local-key-file FILE');
    expect((await run(['keys', 'rewrap', '--to-local-key-file', files.otherFile, '--batch-size', '20000', ...files.audit])).err).toContain('--batch-size: expected at most 10000');

    const r = await run(['keys', 'rewrap', '--to-local-key-file', files.otherFile, '--from-local-key-file', files.masterFile, '--batch-size', '3', ...files.audit]);
    expect([r.code, r.err]).toEqual([0, `re-wrapping every stored key to ${files.other.keyId}\n`]);
    expect(r.out).toMatch(new RegExp(`^re-wrapped ${live} key\\(s\\) of ${live} to ${files.other.keyId}: 0 skipped, 0 failed; this run [0-9.]+ s, \\d+ keys/s, ${2 * live} KMS call\\(s\\)\\ncomplete: every stored key is under ${files.other.keyId}\\n$`));
    expect((await store().summary()).byMasterKey).toEqual({ [files.other.keyId]: live });
    const kw = reader(files.other);
    for (const m of sealed.filter((x) => x.conv !== 'dm:c')) expect(await kw.decryptString(m.conv, m.ct, { aad: m.aad })).toBe(m.text);
    kw.close();
    const moved = (await auditEvents()).filter((e) => e.type === 'key.rewrapped').flatMap((e) => e.keys as unknown[]);
    expect(moved).toHaveLength(live);
    expect(json(await run(['keys', 'rewrap', '--to-local-key-file', files.otherFile, ...files.audit, '--json']))).toMatchObject({ complete: true, resumed: false, rewrapped: 0, kmsCalls: 0 });
    const status = json(await run(['keys', 'status', '--json']));
    expect(status.jobs).toEqual([expect.objectContaining({ name: `rewrap:${files.other.keyId}`, to: files.other.keyId, state: 'finished', pending: 0 })]);

    // A schema with keys wrapped by branch keys (docs/KEYS.md §9): refused before any page moves.
    await store().insertFirst(makeRecord('dm:branched', { masterKeyId: 'branch:tenant-1#1', wrappedKey: new Uint8Array(65).fill(1) }));
    const before = (await store().summary()).byMasterKey;
    const branched = await run(['keys', 'rewrap', '--to-local-key-file', files.masterFile, '--from-local-key-file', files.otherFile, ...files.audit]);
    expect([branched.code, branched.out]).toEqual([3, '']);
    expect(branched.err).toContain(`keywarden keys rewrap: could not complete: schema ${schema} holds conversation keys wrapped by branch keys (branch:tenant-1#1): add --branches to move the branch keys to the new master key`);
    expect((await store().summary()).byMasterKey).toEqual(before);
    await db.pool.query(`DELETE FROM "${schema}".conversation_keys WHERE conversation_id = 'dm:branched'`);
  });
});

describe('keys rewrap (branch keys, docs/KEYS.md §9)', () => {
  it('--into-branch moves direct keys into a branch, --branch to its newest version, --branches --to moves the branch keys only; messages open with the new key alone', async () => {
    const bschema = `${db.schema}_branches`;
    const bsealed = await seedConversations(db.pool, bschema, files.master, ['t:a', 't:b', 't:c']);
    const bstore = () => new PostgresKeyStore(db.pool, { schema: bschema });
    const branchStore = () => new PostgresKeyStore(db.pool, { schema: bschema, keys: 'branches' });
    const brun = async (argv: string[]) => {
      const saved = schema;
      schema = bschema;
      try {
        return await run(argv);
      } finally {
        schema = saved;
      }
    };
    const opens = async (master: LocalMasterKey) => {
      const kw = new Keywarden({ masterKey: new BranchKeyProvider({ masterKey: master, store: branchStore(), branchFor: () => 'tenant-t' }), keyStore: bstore() });
      try {
        for (const m of bsealed) expect(await kw.decryptString(m.conv, m.ct, { aad: m.aad })).toBe(m.text);
      } finally {
        kw.close();
      }
    };
    const usage = await brun(['keys', 'rewrap', '--branch', 'tenant-t', '--to-local-key-file', files.otherFile, ...files.audit]);
    expect([usage.code, usage.err]).toEqual([2, expect.stringContaining('no --to, --to-local-key-file or --branches')]);
    expect((await brun(['keys', 'rewrap', '--branch', 'tenant-t', ...files.audit])).err).toContain('give the master key that wraps the branch keys');
    expect((await brun(['keys', 'rewrap', '--branch', 'bad id', '--local-key-file', files.masterFile, ...files.audit])).err).toContain('--branch: expected a branch id');

    // 1. Migration from direct mode: every conversation key into branch tenant-t (its version 1).
    const into = await brun(['keys', 'rewrap', '--into-branch', 'tenant-t', '--local-key-file', files.masterFile, ...files.audit, '--json']);
    expect([into.code, json(into)]).toEqual([0, expect.objectContaining({ rewrapped: 4, complete: true })]);
    expect((await bstore().summary()).byMasterKey).toEqual({ 'branch:tenant-t#1': 4 });
    await opens(files.master);

    // 2. The branch rotates; --branch moves its conversation keys to version 2.
    const bp = new BranchKeyProvider({ masterKey: files.master, store: branchStore() });
    await bp.rotateBranch('tenant-t');
    await bp.close();
    const moved = await brun(['keys', 'rewrap', '--branch', 'tenant-t', '--local-key-file', files.masterFile, '--batch-size', '3', ...files.audit, '--json']);
    expect([moved.code, json(moved)]).toEqual([0, expect.objectContaining({ to: 'branch:tenant-t#2', rewrapped: 4, complete: true })]);
    expect((await bstore().summary()).byMasterKey).toEqual({ 'branch:tenant-t#2': 4 });

    // 3. A new master key: the two branch key versions move, no conversation record changes.
    const convRows = (await bstore().summary()).byMasterKey;
    const refused = await brun(['keys', 'rewrap', '--to-local-key-file', files.otherFile, '--from-local-key-file', files.masterFile, ...files.audit]);
    expect([refused.code, refused.err]).toEqual([3, expect.stringContaining('add --branches')]);
    const master = await brun(['keys', 'rewrap', '--branches', '--to-local-key-file', files.otherFile, '--from-local-key-file', files.masterFile, ...files.audit, '--json']);
    expect([master.code, json(master)]).toEqual([0, expect.objectContaining({ rewrapped: 2, complete: true })]);
    expect((await branchStore().summary()).byMasterKey).toEqual({ [files.other.keyId]: 2 });
    expect((await bstore().summary()).byMasterKey).toEqual(convRows);
    await opens(files.other);
    const types = (await (async () => {
      const st = new PostgresAuditStore(db.pool, { schema: bschema });
      return (await st.read(0, await st.size())).map(decodeEntry).map((e) => e.type);
    })());
    expect(types.filter((t) => t === 'branch.rewrapped')).toHaveLength(1);
    expect(types.filter((t) => t === 'key.rewrapped').length).toBeGreaterThanOrEqual(2);
  });
});

describe('inspect', () => {
  it('v2 and v1 headers and sizes, from a file and from stdin; refuses what is not a ciphertext', async () => {
    const m = sealed[0]!;
    const file = join(files.dir, 'm.bin');
    await writeFile(file, m.ct);
    const text = await run(['inspect', file], { db: false });
    expect(text).toEqual({
      code: 0,
      out: `format: v2\nsuite: AES-256-GCM\nkey version: 1\nsealed at: ${new Date(Buffer.from(m.ct.subarray(6, 10)).readUInt32BE() * 1000).toISOString()}\nsize: ${m.ct.length} bytes = header 10 + nonce 12 + body ${m.ct.length - 38} + tag 16 (overhead 38)\nThe header is authenticated only by a successful decrypt; nothing was decrypted.\n`,
      err: '',
    });
    expect(json(await run(['inspect', '-', '--json'], { db: false, stdin: m.ct }))).toMatchObject({ file: '-', formatVersion: 2, keyVersion: 1, size: m.ct.length });
    const v1 = await sealV1(store(), files.other, 'dm:a', 2, new TextEncoder().encode('old format'));
    const r1 = json(await run(['inspect', '-', '--json'], { db: false, stdin: v1 }));
    expect(r1).toEqual({ file: '-', size: v1.length, formatVersion: 1, suite: 'AES-256-GCM', keyVersion: 2, overhead: 34, headerBytes: 6, nonceBytes: 12, bodyBytes: 10, tagBytes: 16 });
    await writeFile(join(files.dir, 'junk.bin'), 'not a ciphertext');
    expect(await run(['inspect', join(files.dir, 'junk.bin')], { db: false })).toEqual({ code: 1, out: '', err: `keywarden inspect: refused (ERR_UNSUPPORTED_FORMAT): ${join(files.dir, 'junk.bin')}: unknown format version 110\n` });
    expect(await run(['inspect', '-'], { db: false, stdin: m.ct.subarray(0, 20) })).toMatchObject({ code: 1, err: 'keywarden inspect: refused (ERR_UNSUPPORTED_FORMAT): standard input: not a well-formed ciphertext of a known format and suite\n' });
    expect(await run(['inspect', join(files.dir, 'none.bin')], { db: false })).toMatchObject({ code: 3, err: `keywarden inspect: could not complete: cannot read ${join(files.dir, 'none.bin')}: ENOENT\n` });
  });
});

describe('secrets', () => {
  it('no output of any command above holds a key, a plaintext or a password', async () => {
    const pw = await main(['keys', 'status', '--database-url', 'postgres://ops:hunter2-secret@127.0.0.1:1/x'], { out: (s) => void printed.push(String(s)), err: (s) => void printed.push(s), env: {} });
    expect(pw).toBe(3);
    const all = printed.join('\n');
    for (const s of files.secrets) expect(all).not.toContain(s);
    expect(all).not.toContain('hunter2');
    expect(all).not.toContain('PRIVATE+KEY');
    for (const m of sealed) expect(all).not.toContain(m.text);
  });
});
