/**
 * End-to-end demo on embedded defaults: a local master key and an in-memory key store, no
 * cloud and no server. Run with `npm run demo`.
 *
 * `npm run demo -- --pglite ./demo-data` runs the same on PostgreSQL — PGlite, embedded, with
 * its data in that directory — through the real schema (`migrate`), PostgresKeyStore,
 * PostgresAuditStore and PostgresTokenLedger. The directory also keeps the demo's (development
 * only!) master key and log key, so a second run finds its earlier keys and log.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keywarden, type KeyStore, LocalMasterKey, MemoryKeyStore, inspectCiphertext, isKeywardenError } from 'keywarden';
import { type AuditStore, AuditIdHasher, AuditLog, FileAuditStore, verifyAuditLog } from 'keywarden/audit';
import { BreakGlass, type BreakGlassPolicy, type TokenLedger, approveRequest, createRequest, encodeToken, generateApproverKey, signRequest } from 'keywarden/breakglass';
import { PostgresAuditStore, PostgresKeyStore, PostgresTokenLedger, migrate } from 'keywarden/postgres';
import { generateNoteKey } from 'keywarden/tlog';

const hex = (b: Uint8Array, n = 24) => Buffer.from(b.subarray(0, n)).toString('hex') + (b.length > n ? '…' : '');

const pgliteArg = process.argv.indexOf('--pglite');
const dataDir = pgliteArg >= 0 ? process.argv[pgliteArg + 1] : undefined;
if (pgliteArg >= 0 && !dataDir) throw new Error('usage: npm run demo -- --pglite DATA_DIR');

/** A development secret kept in the PGlite data directory, so later runs can read earlier data. */
function devSecret(name: string, make: () => string): string {
  if (!dataDir) return make();
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, name);
  if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 });
  return readFileSync(file, 'utf8');
}

let keyStore: KeyStore = new MemoryKeyStore();
let auditStore: AuditStore | undefined;
let ledger: TokenLedger | undefined;
let closeDb = async () => {};
if (dataDir) {
  // PGlite speaks the PostgreSQL wire protocol through pglite-socket, so the demo uses `pg` and
  // the same stores a service would use against a real server.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const pg = (await import('pg')).default;
  mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({ dataDir: join(dataDir, 'pgdata') });
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1' });
  await server.start();
  const port = Number(String(server.getServerConn()).split(':').pop());
  const pool = new pg.Pool({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', max: 1 }); // PGlite: one connection
  pool.on('error', () => {});
  const { applied } = await migrate(pool);
  console.log(`PGlite data directory ${dataDir}: ${applied.length ? `applied migrations ${applied.join(', ')}` : 'schema up to date'}`);
  keyStore = new PostgresKeyStore(pool);
  auditStore = new PostgresAuditStore(pool);
  ledger = new PostgresTokenLedger(pool);
  closeDb = async () => {
    const tables = await pool.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);
    console.log('\nPostgreSQL schema (public):');
    for (const { table_name } of tables.rows) {
      const n = await pool.query(`SELECT count(*)::int AS n FROM public.${table_name}`);
      console.log(`  ${table_name.padEnd(22)} ${n.rows[0].n} rows`);
    }
    await pool.end();
    await server.stop();
    await db.close();
  };
}

const masterKey = new LocalMasterKey(Buffer.from(devSecret('demo-master-key.hex', () => Buffer.from(LocalMasterKey.generateKey()).toString('hex')), 'hex'), { keyId: 'local:demo' });
const kw = new Keywarden({ masterKey, keyStore });

console.log(`keywarden demo — AEAD implementation: ${kw.implementation}, master key: ${masterKey.keyId}, key store: ${dataDir ? 'PostgreSQL (PGlite)' : 'in memory'}\n`);

const conversation = 'dm:alice:bob';
const messages = [
  { id: 'msg-1', from: 'alice', text: 'hey bob, lunch tomorrow?' },
  { id: 'msg-2', from: 'bob', text: 'sure — 12:30 at the usual place' },
  { id: 'msg-3', from: 'alice', text: 'great, see you there 🍜' },
];

// 1. Encrypt: each message is bound to its conversation and to its message id (aad).
const stored: { id: string; body: Uint8Array }[] = [];
for (const m of messages) {
  const body = await kw.encryptString(conversation, `${m.from}: ${m.text}`, { aad: m.id });
  stored.push({ id: m.id, body });
  const plainLen = Buffer.byteLength(`${m.from}: ${m.text}`);
  const h = inspectCiphertext(body);
  console.log(`${m.id}: ${plainLen} B plaintext -> ${body.length} B ciphertext (overhead ${body.length - plainLen} B, ${h.suite}, key v${h.keyVersion})`);
  console.log(`        ${hex(body)}`);
}

// 2. Decrypt the page of history in one call (keys are looked up once).
console.log('\nDecrypted history:');
const page = await kw.decryptMany(conversation, stored.map((s) => ({ ciphertext: s.body, aad: s.id })));
for (const r of page) console.log('  ' + (r.ok ? Buffer.from(r.plaintext).toString('utf8') : `<${r.error.code}>`));

// 3. The same ciphertext fails under another conversation, another message id, or with a flipped bit.
const tryOpen = async (label: string, conv: string, body: Uint8Array, aad: string) => {
  try {
    await kw.decrypt(conv, body, { aad });
    console.log(`  ${label}: decrypted (unexpected!)`);
    process.exitCode = 1;
  } catch (err) {
    console.log(`  ${label}: ${isKeywardenError(err) ? err.code : err}`);
  }
};
console.log('\nMoving a ciphertext around:');
const first = stored[0]!;
await tryOpen('same ciphertext under conversation "dm:alice:mallory"', 'dm:alice:mallory', first.body, first.id);
await tryOpen('same ciphertext as message "msg-2"', conversation, first.body, 'msg-2');
const flipped = Uint8Array.from(first.body);
flipped[flipped.length - 1]! ^= 0x01;
await tryOpen('one bit flipped in the tag', conversation, flipped, first.id);

// 4. Rotation: new messages use version 2, old ones still open.
const v2 = await kw.rotate(conversation);
const after = await kw.encryptString(conversation, 'bob: rotated!', { aad: 'msg-4' });
console.log(`\nRotated to key v${v2.version}; msg-4 sealed under v${inspectCiphertext(after).keyVersion}; msg-1 still opens: "${await kw.decryptString(conversation, first.body, { aad: first.id })}"`);

// 5. What the key store holds: wrapped keys and metadata only.
console.log('\nKey store (wrapped keys only):');
for (const r of await keyStore.listVersions(conversation)) {
  console.log(`  v${r.version} ${r.state.padEnd(10)} ${r.suite} wrapped by ${r.masterKeyId}: ${hex(r.wrappedKey, 16)} (${r.wrappedKey.length} B)`);
}
const s = kw.stats();
console.log(`\nCache: ${s.cache.hits} hits, ${s.cache.misses} misses; KMS calls: ${s.kms.generateDataKey} generate, ${s.kms.unwrapDataKey} unwrap`);
kw.close();

// 6. Break-glass: a trust-and-safety reviewer reads the conversation for a user report, with the
//    approval of two colleagues, once; every step lands in a tamper-evident audit log.
console.log('\nBreak-glass:');
const signerKey = devSecret('demo-log-signer.key', () => generateNoteKey('demo.example/keywarden-audit').signerKey);
const auditDir = await mkdtemp(join(tmpdir(), 'keywarden-demo-audit-'));
const audit = await AuditLog.open({ store: auditStore ?? (await FileAuditStore.open(auditDir)), signerKey });
const ids = new AuditIdHasher(LocalMasterKey.generateKey());
const [ana, ben, cho, dana] = await Promise.all(['ana', 'ben', 'cho', 'reviewer-dana'].map((id) => generateApproverKey(id)));
const policy: BreakGlassPolicy = {
  id: 'dm-breakglass-v1',
  audience: 'demo.example',
  factors: [{ name: 'trust-and-safety', threshold: 2, approvers: [ana!, ben!, cho!].map((a) => ({ id: a.id, publicJwk: a.publicJwk })) }],
  // Who may ask, with their keys: a token must be signed by its requester (no asking in a colleague's name).
  requesters: [{ id: dana!.id, publicJwk: dana!.publicJwk }],
  allowedReasons: ['USER_REPORT_REVIEW', 'IMMINENT_HARM'],
  maxLifetimeSeconds: 24 * 3600,
  maxScope: { conversations: 1, messages: 50, windowSeconds: 30 * 86400 },
};
const bg = new BreakGlass({ policy, masterKey, keyStore, audit: { log: audit, ids, actor: 'tns-console' }, ...(ledger ? { ledger } : {}) });
const request = createRequest({
  policy: policy.id, aud: policy.audience, requester: 'reviewer-dana', reason: 'USER_REPORT_REVIEW', detail: 'report #8841',
  scope: { conversations: [conversation], from: new Date(Date.now() - 86400_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString(), maxMessages: 10, operation: 'decrypt' },
  exp: Math.floor(Date.now() / 1000) + 3600,
});
const requesterSignature = await signRequest(request, dana!);
const approvals = [await approveRequest(request, ana!), await approveRequest(request, ben!)];
const tokenText = encodeToken({ request, requesterSignature, approvals });
console.log(`  reviewer-dana requests ${conversation} for USER_REPORT_REVIEW, signed with her key; approved by ana and ben (2 of trust-and-safety)`);
const page2 = await bg.decrypt(tokenText, conversation, stored.map((m) => ({ ciphertext: m.body, aad: m.id })));
console.log(`  opened ${page2.opened} messages: ${page2.results.map((r) => (r.ok ? JSON.stringify(Buffer.from(r.plaintext).toString('utf8')) : r.error.code)).join(', ')}`);
try {
  await bg.decrypt(tokenText, conversation, stored.map((m) => ({ ciphertext: m.body, aad: m.id })));
  console.log('  replay: decrypted (unexpected!)');
  process.exitCode = 1;
} catch (err) {
  console.log(`  replaying the same token: ${isKeywardenError(err) ? err.code : err}`);
}
// The auditor's check: every entry parsed strictly, the tree recomputed, every checkpoint's
// signature and root checked (`keywarden audit verify` runs the same verifier).
let logData: { entries: Uint8Array[]; checkpoints: string[] };
if (auditStore) {
  logData = { entries: await auditStore.read(0, await auditStore.size()), checkpoints: await auditStore.checkpoints() };
} else {
  await audit.close(); // the auditor reads the directory on its own
  const files = await FileAuditStore.open(auditDir);
  logData = { entries: await files.read(0, await files.size()), checkpoints: await files.checkpoints() };
  await files.close();
}
const report = verifyAuditLog({ verifierKey: audit.verifierKey, ...logData });
const verifyCode = report.ok ? 0 : 1;
const verifyOut = [`entries: ${report.entries}, checkpoints: ${report.checkpoints}, latest: size ${report.latest?.size} root ${report.latest?.root}\n${report.ok ? 'OK' : JSON.stringify(report.problems)}\n`];
console.log(auditStore
  ? `\nAudit log (PostgreSQL), checked with verifyAuditLog (as \`keywarden audit verify --database-url URL --key VKEY\` does): ${report.ok ? 'OK' : 'FAILED'}`
  : `\nAudit log (a FileAuditStore in a temporary directory), checked as an outside auditor would (\`keywarden audit verify --dir DIR --key VKEY\`): ${report.ok ? 'OK' : 'FAILED'}`);
console.log(verifyOut.join('').trimEnd().replace(/^/gm, '  '));
if (verifyCode !== 0) process.exitCode = 1;
await rm(auditDir, { recursive: true, force: true });
await closeDb();
