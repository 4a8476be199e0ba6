/**
 * `keywarden keys …` and `keywarden inspect` as an operator runs them (issue #12, point 6): the
 * built `dist/cli.js` as a child process, configured from the environment (database URL, schema,
 * KMS key id, region, endpoint, audit key files) with flags that override it, against PostgreSQL
 * (the server at DATABASE_URL, or PGlite in this process) and AWS KMS through the real
 * `@aws-sdk/client-kms` over HTTP (the KMS-compatible endpoint of test/support/kms-server.ts).
 * Covered here: `--help` of every command, `--json` of every command, the exit codes, the shred
 * prompt and the progress bar at a real (pseudo-)terminal, no bar when stderr is not a terminal,
 * SIGTERM stopping a re-wrap after its page (exit 3) and the rerun resuming, and the audit log
 * of every change verifying. In-process tests of the same commands: test/cli-keys.test.ts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../../src/audit/entry.js';
import { PostgresAuditStore } from '../../src/audit/postgres-store.js';
import { AwsKmsMasterKey } from '../../src/kms/aws.js';
import { Keywarden } from '../../src/node.js';
import { migrate } from '../../src/store/migrations.js';
import { PostgresKeyStore } from '../../src/store/postgres.js';
import { type CliRun, childEnv, ensureBuilt, runCli, runInTerminal, startCli } from '../support/cli-process.js';
import { type KeyFiles, type Sealed, keyFiles } from '../support/keys-cli.js';
import { type FakeKmsKey, type KmsServer, kmsClientFor, startKmsServer } from '../support/kms-server.js';
import { type TestPool, testPool } from '../support/pg.js';

const DAY = 86_400_000;
/** Conversations with keys and messages under KMS key A (plus dm:old, rotated 200 days ago). */
const CONVERSATIONS = 60;

let db: TestPool;
let server: KmsServer;
let files: KeyFiles;
let keyA: FakeKmsKey;
let keyB: FakeKmsKey;
let env: Record<string, string>;
const sealed: Sealed[] = [];
/** Everything any command printed, checked for secrets at the end. */
const printed: string[] = [];

/** Runs the built CLI with the test's environment (plus `extra`), the PGlite connection out of the way. */
async function kw(argv: string[], extra: Record<string, string> = {}): Promise<CliRun> {
  await db.releaseConnections();
  try {
    const r = await runCli(argv, { ...env, ...extra });
    printed.push(r.out, r.err);
    return r;
  } finally {
    await db.releaseConnections();
  }
}

/** The same at a terminal, `typed` being what the operator types. */
async function atTerminal(argv: string[], typed = ''): Promise<CliRun> {
  await db.releaseConnections();
  try {
    const r = await runInTerminal(argv, env, typed);
    printed.push(r.out, r.err);
    return r;
  } finally {
    await db.releaseConnections();
  }
}

const json = (r: CliRun) => JSON.parse(r.out) as Record<string, any>;
const store = () => new PostgresKeyStore(db.pool, { schema: db.schema });
const kmsKey = (keyId: string) => new AwsKmsMasterKey({ client: kmsClientFor(server), keyId });

async function auditEvents() {
  const s = new PostgresAuditStore(db.pool, { schema: db.schema });
  return (await s.read(0, await s.size())).map(decodeEntry);
}

beforeAll(async () => {
  await ensureBuilt();
  db = await testPool();
  server = await startKmsServer();
  files = await keyFiles('keywarden.example/keys-cli-built');
  keyA = server.createKey({ alias: 'alias/kw-a' });
  keyB = server.createKey({ alias: 'alias/kw-b' });
  await migrate(db.pool, { schema: db.schema });
  // Services seal through GenerateDataKey over HTTP; dm:old's version 1 was superseded 200 days ago.
  const past = new Date(Date.now() - 200 * DAY);
  const old = new Keywarden({ masterKey: kmsKey('alias/kw-a'), keyStore: store(), now: () => past });
  sealed.push({ conv: 'dm:old', aad: 'o1', text: 'from long ago', ct: await old.encryptString('dm:old', 'from long ago', { aad: 'o1' }) });
  await old.rotate('dm:old');
  old.close();
  const service = new Keywarden({ masterKey: kmsKey('alias/kw-a'), keyStore: store() });
  sealed.push({ conv: 'dm:old', aad: 'o2', text: 'recent', ct: await service.encryptString('dm:old', 'recent', { aad: 'o2' }) });
  for (let i = 0; i < CONVERSATIONS; i++) {
    const conv = `dm:${String(i).padStart(3, '0')}`;
    sealed.push({ conv, aad: `${conv}#0`, text: `hello ${conv}`, ct: await service.encryptString(conv, `hello ${conv}`, { aad: `${conv}#0` }) });
  }
  service.close();
  env = childEnv({
    KEYWARDEN_DATABASE_URL: db.url, KEYWARDEN_SCHEMA: db.schema,
    KEYWARDEN_KMS_KEY_ID: 'alias/kw-a', KEYWARDEN_KMS_ENDPOINT: server.endpoint, AWS_REGION: server.region,
    AWS_ACCESS_KEY_ID: server.accessKeyId, AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    KEYWARDEN_AUDIT_SIGNER_KEY_FILE: files.signerFile, KEYWARDEN_AUDIT_IDS_KEY_FILE: files.idsFile, KEYWARDEN_ACTOR: 'ops-built',
  });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await files?.cleanup();
  await db?.close();
});

describe('dist/cli.js keys and inspect', () => {
  it.each([
    [['keys', '--help'], 'usage: keywarden keys <command> [options]'],
    [['keys', 'status', '--help'], 'usage: keywarden keys status [CONVERSATION]'],
    [['keys', 'rotate', '--help'], 'usage: keywarden keys rotate CONVERSATION'],
    [['keys', 'shred', '-h'], 'usage: keywarden keys shred CONVERSATION [--version N]... | [--below N] [--yes] [options]'],
    [['keys', 'help', 'start-generation'], 'usage: keywarden keys start-generation CONVERSATION'],
    [['keys', 'retain', '--help'], 'usage: keywarden keys retain --older-than DURATION'],
    [['keys', 'rewrap', '--help'], 'usage: keywarden keys rewrap (--to KEY | --to-local-key-file FILE | --branch ID | --into-branch ID)'],
    [['inspect', '--help'], 'usage: keywarden inspect FILE [--json]'],
  ])('%j: help on stdout, exit 0, with the environment variables and exit codes', async (argv, first) => {
    const r = await runCli(argv, childEnv());
    expect([r.code, r.err]).toEqual([0, '']);
    expect(r.out.startsWith(first)).toBe(true);
    if (argv[0] === 'keys') {
      for (const v of ['KEYWARDEN_DATABASE_URL', 'KEYWARDEN_SCHEMA', 'KEYWARDEN_KMS_KEY_ID', 'AWS_REGION', 'KEYWARDEN_KMS_ENDPOINT']) {
        if (argv[1] !== 'status' && argv[1] !== 'shred' && argv[1] !== 'retain') expect(r.out).toContain(v);
      }
    }
    if (argv.length === 2 && argv[0] === 'keys') expect(r.out).toMatch(/exit status:\n {2}0 {2}ok\n {2}1 {2}.+\n[\s\S]* {2}2 {2}usage error[\s\S]* {2}3 {2}could not complete/);
  });

  it('inspect: header and sizes from a file and from stdin, with neither database nor KMS', async () => {
    const m = sealed[0]!;
    const file = join(files.dir, 'message.bin');
    await writeFile(file, m.ct);
    server.resetCounters();
    const text = await runCli(['inspect', file], childEnv());
    expect([text.code, text.err]).toEqual([0, '']);
    expect(text.out).toMatch(new RegExp(`^format: v2\\nsuite: AES-256-GCM\\nkey version: 1\\nsealed at: \\S+\\nsize: ${m.ct.length} bytes = header 10 \\+ nonce 12 \\+ body ${m.ct.length - 38} \\+ tag 16 \\(overhead 38\\)\\n`));
    const fromStdin = await runCli(['inspect', '-', '--json'], childEnv(), m.ct);
    expect(JSON.parse(fromStdin.out)).toEqual({ file: '-', size: m.ct.length, formatVersion: 2, suite: 'AES-256-GCM', keyVersion: 1, sealedAt: expect.any(String), overhead: 38, headerBytes: 10, nonceBytes: 12, bodyBytes: m.ct.length - 38, tagBytes: 16 });
    expect(Object.keys(server.calls)).toEqual([]);
    expect(await runCli(['inspect', '-'], childEnv(), 'plain text')).toMatchObject({ code: 1, out: '', err: expect.stringMatching(/^keywarden inspect: refused \(ERR_UNSUPPORTED_FORMAT\): standard input: .+\n$/) });
    expect((await runCli(['inspect'], childEnv())).code).toBe(2);
  });

  it('status: configured from the environment alone; a flag overrides it; exit 1, 2, 3', async () => {
    const s = await kw(['keys', 'status', '--json']);
    expect([s.code, s.err]).toEqual([0, '']);
    expect(json(s)).toEqual({ schema: db.schema, conversations: CONVERSATIONS + 1, versions: { active: CONVERSATIONS + 1, superseded: 1, shredded: 0 }, byMasterKey: { [keyA.arn]: CONVERSATIONS + 2 }, jobs: [] });
    const one = await kw(['keys', 'status', 'dm:old']);
    expect(one.out).toMatch(new RegExp(`^conversation "dm:old": 2 key version\\(s\\), open \\(active version 2\\)\\n {2}v1 {2}superseded .+master key ${keyA.arn}`));
    expect(await kw(['keys', 'status', 'dm:nobody'])).toMatchObject({ code: 1, err: 'keywarden keys status: refused (ERR_KEY_NOT_FOUND): conversation "dm:nobody" has no key\n' });
    // The command line wins over the environment.
    expect(await kw(['keys', 'status', '--schema', 'kw_none_here'])).toMatchObject({ code: 3, err: expect.stringContaining("schema kw_none_here has no keywarden tables, or older ones: run 'keywarden migrate --schema kw_none_here' first") });
    expect(await kw(['keys', 'status', '--bogus'])).toMatchObject({ code: 2, err: "keywarden keys status: unknown option '--bogus' (see 'keywarden keys status --help')\n" });
    expect(await kw(['keys', 'status'], { KEYWARDEN_DATABASE_URL: 'postgres://ops:hunter2@127.0.0.1:1/none' })).toMatchObject({ code: 3, out: '' });
  });

  it('rotate: a new version from KMS key A (GenerateDataKey over HTTP), audited with the actor', async () => {
    server.resetCounters();
    const r = await kw(['keys', 'rotate', 'dm:000', '--json']);
    expect([r.code, r.err]).toEqual([0, '']);
    expect(json(r)).toEqual({ conversationId: 'dm:000', version: 2, previousVersion: 1, activatedAt: expect.any(String), masterKeyId: keyA.arn, suite: 'AES-256-GCM', audited: true });
    expect(server.calls.GenerateDataKey).toBe(1);
    expect((await auditEvents()).at(-1)).toMatchObject({ type: 'key.rotated', actor: 'ops-built', conversation: files.ids.conversation('dm:000'), version: 2 });
    const text = await kw(['keys', 'rotate', 'dm:001']);
    expect(text).toEqual({ code: 0, signal: null, out: `conversation "dm:001": version 2 is active (was 1), master key ${keyA.arn}\n`, err: '' });
    // Without the audit keys, refused before anything is opened (exit 2).
    expect(await kw(['keys', 'rotate', 'dm:001'], { KEYWARDEN_AUDIT_SIGNER_KEY_FILE: '', KEYWARDEN_AUDIT_IDS_KEY_FILE: '' })).toMatchObject({ code: 2, err: expect.stringContaining('key changes are recorded in the audit log') });
  });

  it('shred: refused without --yes when nobody can be asked; asked at a terminal; --yes --json', async () => {
    expect(await kw(['keys', 'shred', 'dm:002'])).toMatchObject({ code: 2, out: '', err: expect.stringContaining('shredding cannot be undone: give --yes to confirm') });
    const no = await atTerminal(['keys', 'shred', 'dm:002'], 'no\n');
    expect(no.code).toBe(1);
    expect(no.out).toContain('This cannot be undone. Type yes to shred: ');
    expect(no.out).toContain('refused (ERR_NOT_CONFIRMED): not confirmed: nothing was shredded');
    expect((await store().getVersion('dm:002', 1))!.state).toBe('active');
    const yes = await atTerminal(['keys', 'shred', 'dm:002'], 'yes\n');
    expect(yes.code, yes.out).toBe(0);
    expect(yes.out).toContain('conversation "dm:002": shredded version(s) 1; the conversation is closed');
    const j = await kw(['keys', 'shred', 'dm:003', '--version', '1', '--yes', '--json']);
    expect(json(j)).toEqual({ conversationId: 'dm:003', scope: 'versions', shredded: [1], alreadyShredded: [], audited: true });
    const reader = new Keywarden({ masterKey: kmsKey('alias/kw-a'), keyStore: store() });
    for (const conv of ['dm:002', 'dm:003']) {
      const m = sealed.find((x) => x.conv === conv)!;
      await expect(reader.decrypt(conv, m.ct, { aad: m.aad })).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    }
    reader.close();
    const gen = await kw(['keys', 'start-generation', 'dm:002', '--json']);
    expect(json(gen)).toMatchObject({ conversationId: 'dm:002', started: true, version: 2, masterKeyId: keyA.arn });
    expect((await auditEvents()).slice(-3).map((e) => [e.type, e.scope ?? null])).toEqual([['key.shredded', 'conversation'], ['key.shredded', 'version'], ['key.created', null]]);
  });

  it('retain --older-than 90d: the dry run lists and changes nothing; then the 200-day-old version goes', async () => {
    const dry = await kw(['keys', 'retain', '--older-than', '90d', '--dry-run', '--json']);
    expect([dry.code, dry.err]).toEqual([0, '']);
    expect(json(dry)).toMatchObject({ dryRun: true, complete: true, versions: 1, conversations: 1, items: [{ conversationId: 'dm:old', version: 1, state: 'superseded' }] });
    expect((await store().getVersion('dm:old', 1))!.state).toBe('superseded');
    expect(await kw(['keys', 'retain', '--older-than', '90 days'])).toMatchObject({ code: 2, err: expect.stringContaining('--older-than: expected a whole number and a unit') });
    const done = await kw(['keys', 'retain', '--older-than', '90d']);
    expect([done.code, done.err]).toEqual([0, '']);
    expect(done.out).toMatch(/^cut-off \S+: shredded 1 key version\(s\) of 1 conversation\(s\)\n$/);
    expect((await auditEvents()).at(-1)).toMatchObject({ type: 'key.shredded', reason: 'retention', actor: 'ops-built', conversation: files.ids.conversation('dm:old'), versions: [1] });
    const reader = new Keywarden({ masterKey: kmsKey('alias/kw-a'), keyStore: store() });
    await expect(reader.decrypt('dm:old', sealed[0]!.ct, { aad: 'o1' })).rejects.toMatchObject({ code: 'ERR_KEY_SHREDDED' });
    expect(await reader.decryptString('dm:old', sealed[1]!.ct, { aad: 'o2' })).toBe('recent');
    reader.close();
  });

  it('rewrap --to alias/kw-b: SIGTERM stops after the page (exit 3); the rerun at a terminal resumes with a progress bar; A disabled, all opens', async () => {
    const pending = Object.values((await store().summary()).byMasterKey).reduce((a, b) => a + b, 0);
    server.resetCounters();
    await db.releaseConnections();
    const first = startCli(['keys', 'rewrap', '--to', 'alias/kw-b', '--batch-size', '2', '--concurrency', '1'], env);
    // SIGTERM once a few pages have gone through KMS.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if ((server.calls.ReEncrypt ?? 0) >= 5) {
          clearInterval(t);
          first.child.kill('SIGTERM');
          resolve();
        }
      }, 5);
    });
    const r1 = await first.done;
    printed.push(r1.out, r1.err);
    expect(r1.code, r1.err).toBe(3);
    expect(r1.err).toContain('SIGTERM: stopping after the page in progress (again to stop at once)\n');
    expect(r1.err).toMatch(/keywarden keys rewrap: could not complete: interrupted \(SIGTERM\) after the page in progress: \d+ key\(s\) re-wrapped so far; run the same command again to continue\n$/);
    // stderr is a pipe here: no progress bar.
    expect(r1.err).not.toMatch(/keys\/s|ETA/);
    const moved = (await store().summary()).byMasterKey[keyB.arn] ?? 0;
    expect(moved).toBeGreaterThanOrEqual(4);
    expect(moved).toBeLessThan(pending);
    expect(json(await kw(['keys', 'status', '--json'])).jobs).toEqual([expect.objectContaining({ to: keyB.arn, state: 'unfinished', pending: pending - moved })]);

    const r2 = await atTerminal(['keys', 'rewrap', '--to', 'alias/kw-b', '--batch-size', '5']);
    expect(r2.code, r2.out).toBe(0);
    expect(r2.out).toMatch(/resuming the re-wrap to arn:aws:kms:\S+ that started \S+: \d+ key\(s\) re-wrapped so far/);
    // The bar (cli-progress) on the terminal's stderr: done/total, rate and ETA.
    expect(r2.out).toMatch(new RegExp(`rewrap \\|[█░]+\\| 100% \\| ${pending}/${pending} keys \\| \\d+ keys/s \\| ETA \\d+s`));
    expect(r2.out).toContain(`complete: every stored key is under ${keyB.arn}`);
    expect(json(await kw(['keys', 'rewrap', '--to', 'alias/kw-b', '--json']))).toMatchObject({ complete: true, resumed: false, rewrapped: 0, kmsCalls: 0, interrupted: null });
    expect((await store().summary()).byMasterKey).toEqual({ [keyB.arn]: pending });

    server.setKeyState(keyA.keyId, 'Disabled');
    const reader = new Keywarden({ masterKey: kmsKey('alias/kw-b'), keyStore: store() });
    const gone = new Set(['dm:002', 'dm:003']);
    for (const m of sealed.slice(1)) {
      if (gone.has(m.conv)) continue;
      expect(await reader.decryptString(m.conv, m.ct, { aad: m.aad })).toBe(m.text);
    }
    reader.close();
    // New keys now come from B; A refuses.
    expect(json(await kw(['keys', 'rotate', 'dm:004', '--json'], { KEYWARDEN_KMS_KEY_ID: 'alias/kw-b' }))).toMatchObject({ version: 2, masterKeyId: keyB.arn });
    expect(await kw(['keys', 'rotate', 'dm:004'])).toMatchObject({ code: 3, out: '' });
    const entries = (await auditEvents()).filter((e) => e.type === 'key.rewrapped');
    expect(entries.flatMap((e) => e.keys as unknown[])).toHaveLength(pending);
  });

  it('the audit log of every change verifies (keywarden audit verify); no output held a secret', async () => {
    const v = await kw(['audit', 'verify', '--key', files.verifierKey, '--json']);
    expect(v.code, v.out + v.err).toBe(0);
    expect(JSON.parse(v.out)).toMatchObject({ ok: true, problems: [] });
    const all = printed.join('\n');
    for (const s of files.secrets) expect(all).not.toContain(s);
    expect(all).not.toContain(server.secretAccessKey);
    expect(all).not.toContain('hunter2');
    for (const m of sealed) expect(all).not.toContain(m.text);
  });
});
