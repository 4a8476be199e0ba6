/**
 * Defects the fuzz suites (test/fuzz-*.test.ts, issue #11) found, each pinned by the input the
 * fuzzer shrank it to, so that it stays fixed whatever seed a later run draws.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, signCheckpoint } from '../src/audit/checkpoint.js';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { frame } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { approveRequest, createRequest, encodeToken, generateApproverKey } from '../src/breakglass/token.js';
import { main } from '../src/cli/index.js';
import { isKeywardenError } from '../src/errors.js';
import { sampleEvent } from './support/audit-fixtures.js';
import { deployment, token } from './support/breakglass-fixtures.js';

const ORIGIN = 'fuzz.example/log';
const LOG = generateNoteKey(ORIGIN, new Uint8Array(32).fill(21));
const LOG_SIGNER = newNoteSigner(LOG.signerKey);
const entries = Array.from({ length: 14 }, (_, i) => encodeEntry(sampleEvent(i)));
const tree = new MerkleTree();
for (const e of entries) tree.append(leafHash(e));
const signedAt = (size: number, root = tree.root(size)) => signCheckpoint({ origin: ORIGIN, size, rootHash: root, extensions: [] }, LOG_SIGNER);

describe('verifyAuditLog (fuzz-audit-log)', () => {
  it('a trusted checkpoint and a latest checkpoint beyond the remaining entries: reported, not thrown', () => {
    // Shrunk: entries truncated to none, checkpoints [size 3], trusted the empty tree's checkpoint.
    // The consistency proof from trusted to latest was asked of a tree smaller than the latest.
    for (const [kept, trustedSize] of [[0, 0], [13, 3]] as const) {
      const input = { verifierKey: LOG.verifierKey, entries: entries.slice(0, kept), checkpoints: [signedAt(kept === 0 ? 3 : 14)], trusted: signedAt(trustedSize) };
      const r = verifyAuditLog(input);
      expect(r.ok).toBe(false);
      expect(r.problems.map((p) => p.kind)).toContain('checkpoint-size');
    }
  });

  it('a signed checkpoint of size 0 whose root is not the empty tree\'s: a checkpoint-root problem without an entry index', () => {
    // Shrunk: checkpoints [size 0, root 32 zero bytes], no trusted checkpoint. The problem was
    // reported at entry index -1 ("entry -1 differs from what checkpoint 0 (size 0) committed to").
    for (const kept of [0, 14]) {
      const r = verifyAuditLog({ verifierKey: LOG.verifierKey, entries: entries.slice(0, kept), checkpoints: [signedAt(0, new Uint8Array(32))] });
      const p = r.problems.find((x) => x.kind === 'checkpoint-root');
      expect(p).toBeDefined();
      expect(p!.index).toBeUndefined();
      expect(p!.checkpoint).toBe(0);
      expect(p!.message).not.toMatch(/-1/);
    }
  });
});

describe('FileAuditStore.open (fuzz-audit-log)', () => {
  it('a checkpoint record that is not UTF-8 (checksum recomputed) is ERR_AUDIT_CORRUPT at its offset, not a retryable ERR_AUDIT_UNAVAILABLE', async () => {
    // Shrunk: an empty entries file, and a checkpoints file whose one record starts with 0xff
    // and carries a valid checksum, as an attacker who rewrites the file would leave it.
    const dir = await mkdtemp(join(tmpdir(), 'kw-fuzz-regr-'));
    try {
      const magic = new TextEncoder().encode('keywarden-audit-v1\n');
      await writeFile(join(dir, 'entries'), magic);
      await writeFile(join(dir, 'checkpoints'), Buffer.concat([magic, frame(new TextEncoder().encode(signedAt(3))), frame(Uint8Array.of(0xff, 0x0a))]));
      // A 0.1 directory is migrated when the log opens (docs/AUDIT.md §4.7): the store opens, the
      // log refuses.
      const store = await FileAuditStore.open(dir);
      const err = await AuditLog.open({ store, signerKey: LOG.signerKey }).then(() => undefined, (e: unknown) => e);
      await store.close();
      expect(isKeywardenError(err, 'ERR_AUDIT_CORRUPT')).toBe(true);
      expect((err as { retryable: boolean }).retryable).toBe(false);
      expect((err as { at: number }).at).toBe(magic.length + frame(new TextEncoder().encode(signedAt(3))).length);
      // The refused open left no lock behind: the directory opens once repaired.
      await writeFile(join(dir, 'checkpoints'), magic);
      const again = await FileAuditStore.open(dir);
      await (await AuditLog.open({ store: again, signerKey: LOG.signerKey })).close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('approveRequest (fuzz-breakglass)', () => {
  it('a private JWK whose "x" is not the public key of its "d": ERR_INVALID_INPUT naming approver.privateJwk, not a DOMException', async () => {
    // Shrunk: t1's private JWK with another approver's "x" (a key file edited by hand, or two
    // files mixed up). WebCrypto's import refused it with DOMException "Invalid keyData".
    const [a, b] = [await generateApproverKey('t1'), await generateApproverKey('t2')];
    const req = createRequest({
      policy: 'p', aud: 'dm.example.com', requester: 'r', reason: 'LEGAL_PROCESS', detail: 'case 1',
      scope: { conversations: ['c0'], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', maxMessages: 1, operation: 'decrypt' },
      exp: Math.floor(Date.now() / 1000) + 3600,
    });
    const mixed = { ...a.privateJwk, x: b.publicJwk.x! };
    const err = await approveRequest(req, { id: 't1', privateJwk: mixed }).then(() => undefined, (e: unknown) => e);
    expect(isKeywardenError(err, 'ERR_INVALID_INPUT')).toBe(true);
    expect((err as { param: string }).param).toBe('approver.privateJwk');
    expect((err as Error).message).not.toContain(a.privateJwk.d);
    // The CLI says which file is wrong (exit 3), without the key.
    const dir = await mkdtemp(join(tmpdir(), 'kw-fuzz-regr-'));
    try {
      await writeFile(join(dir, 'token.json'), encodeToken({ request: req, approvals: [] }));
      await writeFile(join(dir, 'key.jwk'), JSON.stringify(mixed));
      const out: string[] = [];
      const code = await main(['token', 'approve', '--token', join(dir, 'token.json'), '--key', join(dir, 'key.jwk'), '--id', 't1'], { out: (x) => void out.push(String(x)), err: (x) => void out.push(x), env: {} });
      expect(code).toBe(3);
      expect(out.join('')).toContain(`key ${join(dir, 'key.jwk')}: `);
      expect(out.join('')).not.toContain(a.privateJwk.d);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('BreakGlass.decrypt (fuzz-breakglass)', () => {
  it('a token object whose jti or reason is not well-formed Unicode: refused as ERR_BG_MALFORMED and recorded, not ERR_AUDIT_ENTRY', async () => {
    // Shrunk: the genuine token as an object, its request.jti replaced by a lone surrogate
    // '\udbff'. Recording the refusal copied the jti into a breakglass.refused entry, whose
    // validation threw ERR_AUDIT_ENTRY: the caller lost the refusal code, the log the refusal.
    const d = await deployment();
    const t = await token(d, [d.approvers.t1, d.approvers.t2, d.approvers.l1]);
    for (const change of [{ jti: '\udbff' }, { reason: '\ud800' }, { jti: 'x'.repeat(2000) }]) {
      const before = d.log.size;
      const err = await d.bg.decrypt({ request: { ...t.request, ...change }, approvals: t.approvals }, 'c0', [d.messages.c0![0]!.ct]).then(() => undefined, (e: unknown) => e);
      expect(isKeywardenError(err, 'ERR_BG_MALFORMED'), String(err)).toBe(true);
      expect(d.log.size).toBe(before + 1);
      const [entry] = await d.auditStore.read(before, before + 1);
      expect(decodeEntry(entry!)).toMatchObject({ type: 'breakglass.refused', refusal: 'ERR_BG_MALFORMED' });
    }
  });
});

describe('keywarden token approve (fuzz-cli)', () => {
  it('a private key file whose fields were swapped: the secret under "kid" is not echoed in the --id mismatch error', async () => {
    // Shrunk: t2's private JWK with the values of "kid" and "d" swapped. The usage error quoted
    // the file's kid verbatim: the private key, on stderr.
    const k = await generateApproverKey('t2');
    const req = createRequest({
      policy: 'p', aud: 'dm.example.com', requester: 'r', reason: 'LEGAL_PROCESS', detail: 'case 1',
      scope: { conversations: ['c0'], from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z', maxMessages: 1, operation: 'decrypt' },
      exp: Math.floor(Date.now() / 1000) + 3600,
    });
    const dir = await mkdtemp(join(tmpdir(), 'kw-fuzz-regr-'));
    try {
      await writeFile(join(dir, 'token.json'), encodeToken({ request: req, approvals: [] }));
      await writeFile(join(dir, 'key.jwk'), JSON.stringify({ ...k.privateJwk, kid: k.privateJwk.d, d: k.privateJwk.kid }));
      const out: string[] = [];
      const code = await main(['token', 'approve', '--token', join(dir, 'token.json'), '--key', join(dir, 'key.jwk'), '--id', 't2'], { out: (x) => void out.push(String(x)), err: (x) => void out.push(x), env: {} });
      expect(code).toBe(2);
      expect(out.join('')).toContain(`does not match the kid in the key file ${join(dir, 'key.jwk')}`);
      expect(out.join('')).not.toContain(k.privateJwk.d);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('keywarden audit verify (fuzz-cli)', () => {
  it('a witness cosignature timestamped beyond what a Date holds: reported, not "could not complete: Invalid time value"', async () => {
    // Shrunk: the genuine log, its latest checkpoint cosigned by the configured witness at
    // 8.64e12 + 1 seconds (any uint64 up to 2^53 - 1 verifies; timestamps are returned, not
    // judged). Rendering it with Date#toISOString threw a RangeError: exit 3, no report.
    const witness = generateCosignerKey('fuzz.example/witness', new Uint8Array(32).fill(22));
    const magic = new TextEncoder().encode('keywarden-audit-v1\n');
    const notes = [signedAt(4), cosignCheckpoint(signedAt(14), newCosigner(witness.signerKey, () => 8.64e12 + 1))];
    const dir = await mkdtemp(join(tmpdir(), 'kw-fuzz-regr-'));
    try {
      await writeFile(join(dir, 'entries'), Buffer.concat([magic, ...entries.map(frame)]));
      await writeFile(join(dir, 'checkpoints'), Buffer.concat([magic, ...notes.map((n) => frame(new TextEncoder().encode(n)))]));
      await writeFile(join(dir, 'w.vkey'), witness.verifierKey);
      const out: string[] = [];
      const err: string[] = [];
      const code = await main(['audit', 'verify', '--dir', dir, '--key', LOG.verifierKey, '--witness', `@${join(dir, 'w.vkey')}`], { out: (x) => void out.push(String(x)), err: (x) => void err.push(x), env: {} });
      expect(err.join('')).toBe('');
      expect(code).toBe(0);
      expect(out.join('')).toContain('cosigned by fuzz.example/witness at 8640000000001 (Unix seconds');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
