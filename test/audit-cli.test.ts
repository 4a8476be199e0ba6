/** `keywarden audit …` over a FileAuditStore directory: outputs and exit codes 0/1/2/3. (PostgreSQL: cli-audit-postgres.test.ts.) */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignCheckpoint, generateCosignerKey, newCosigner, openCheckpoint, parseCheckpoint } from '../src/audit/checkpoint.js';
import { encodeEntry } from '../src/audit/entry.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { frame } from '../src/audit/framing.js';
import { verifyTlogProof } from '../src/audit/formats.js';
import { AuditLog } from '../src/audit/log.js';
import { verifyConsistency } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteVerifier, verifierKeyFromSigner } from '../src/audit/note.js';
import { MemoryAuditStore } from '../src/audit/store.js';
import { main } from '../src/cli/index.js';
import { sampleEvent } from './support/audit-fixtures.js';

const ORIGIN = 'keywarden.example/cli-test';
const keys = generateNoteKey(ORIGIN, new Uint8Array(32).fill(3));
let dir: string;
let entries: Uint8Array[];

async function run(...argv: string[]) {
  const out: (string | Uint8Array)[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(s), err: (s) => void err.push(s) });
  const text = out.map((x) => (typeof x === 'string' ? x : new TextDecoder().decode(x))).join('');
  return { code, out: text, raw: out, err: err.join('') };
}

/** A copy of the log directory with its entries file replaced. */
async function withEntries(records: Uint8Array[]): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kw-cli-'));
  await writeFile(join(d, 'checkpoints'), await readFile(join(dir, 'checkpoints')));
  await writeFile(join(d, 'entries'), Buffer.concat([new TextEncoder().encode('keywarden-audit-v1\n'), ...records.map(frame)]));
  return d;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-cli-'));
  const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
  for (let i = 0; i < 12; i++) await log.append(sampleEvent(i));
  entries = await Promise.all(Array.from({ length: 12 }, (_, i) => log.entry(i)));
  await log.close();
  await writeFile(join(dir, 'log.vkey'), `${keys.verifierKey}\n`);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('keywarden audit', () => {
  it('verify: 0 for an untouched log', async () => {
    const r = await run('audit', 'verify', '--dir', dir, '--key', `@${join(dir, 'log.vkey')}`);
    expect(r.code).toBe(0);
    expect(r.out).toContain('entries: 12, checkpoints: 12');
    expect(r.out).toContain('OK');
  });

  it('verify: 1 with the index and evidence when an entry was changed', async () => {
    const changed = [...entries];
    changed[5] = new Uint8Array([...entries[5]!.subarray(0, -2), 0x7d, 0x7d]);
    const d = await withEntries(changed);
    const r = await run('audit', 'verify', '--dir', d, '--key', keys.verifierKey);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/PROBLEM entry index=5/);
    expect(r.out).toMatch(/PROBLEM checkpoint-root index=5 checkpoint=5/);
    expect(r.out).toContain('evidence:');
    await rm(d, { recursive: true });
  });

  it('verify: 1 when the tail was cut, and when a record is torn', async () => {
    const d = await withEntries(entries.slice(0, 9));
    const r = await run('audit', 'verify', '--dir', d, '--key', keys.verifierKey, '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report.problems.some((p: { kind: string; index: number }) => p.kind === 'checkpoint-size' && p.index === 9)).toBe(true);
    const raw = await readFile(join(d, 'entries'));
    await writeFile(join(d, 'entries'), raw.subarray(0, raw.length - 5));
    const torn = await run('audit', 'verify', '--dir', d, '--key', keys.verifierKey);
    expect(torn.code).toBe(1);
    expect(torn.out).toContain('torn last record');
    await rm(d, { recursive: true });
  });

  it('verify --trusted: 1 when the log no longer contains what the auditor saw', async () => {
    const trustedFile = join(dir, 'trusted.checkpoint');
    const log = await run('audit', 'consistency', '12', '--dir', dir, '--key', keys.verifierKey);
    const latestNote = log.out.slice(log.out.indexOf('\n\n') + 2);
    await writeFile(trustedFile, latestNote);
    expect((await run('audit', 'verify', '--dir', dir, '--key', keys.verifierKey, '--trusted', trustedFile)).code).toBe(0);
    const d = await withEntries(entries.slice(0, 11));
    await writeFile(join(d, 'checkpoints'), Buffer.alloc(0));
    const r = await run('audit', 'verify', '--dir', d, '--key', keys.verifierKey, '--trusted', trustedFile);
    expect(r.code).toBe(1);
    expect(r.out).toContain('truncated');
    await rm(d, { recursive: true });
  });

  it('verify --witness (repeatable, @file) --quorum: 0 when the latest checkpoint carries enough cosignatures, else 1', async () => {
    const w1 = generateCosignerKey('witness1.example', new Uint8Array(32).fill(7));
    const w2 = generateCosignerKey('witness2.example', new Uint8Array(32).fill(8));
    const d = await mkdtemp(join(tmpdir(), 'kw-cli-witness-'));
    try {
      const log = await AuditLog.open({ store: await FileAuditStore.open(d), signerKey: keys.signerKey });
      for (let i = 0; i < 3; i++) await log.append(sampleEvent(i));
      await log.acceptCosignatures(cosignCheckpoint(log.latestCheckpoint!, newCosigner(w1.signerKey, () => 1_790_000_000)), [w1.verifierKey]);
      await log.close();
      await writeFile(join(d, 'w2.vkey'), `${w2.verifierKey}\n`);
      const verify = (...more: string[]) => run('audit', 'verify', '--dir', d, '--key', keys.verifierKey, ...more);
      const one = await verify('--witness', w1.verifierKey, '--witness', `@${join(d, 'w2.vkey')}`, '--quorum', '1');
      expect(one.code, one.out + one.err).toBe(0);
      expect(one.out).toContain(`cosigned by witness1.example at ${new Date(1_790_000_000_000).toISOString()}`);
      const two = await verify('--witness', w1.verifierKey, '--witness', `@${join(d, 'w2.vkey')}`, '--quorum', '2', '--json');
      expect(two.code).toBe(1);
      expect(JSON.parse(two.out).problems).toEqual([expect.objectContaining({ kind: 'witness' })]);
      // Every --witness is read and checked, not only the first; the log's own key is no witness key.
      const bad = await verify('--witness', w1.verifierKey, '--witness', keys.verifierKey);
      expect([bad.code, bad.err]).toEqual([2, expect.stringContaining('--witness: not a witness cosigner key')]);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('verify --witness --quorum fails when there is no checkpoint to check; --quorum needs as many --witness; --witness-max-age bounds the cosignature', async () => {
    // Outside review, 2026-12-01: a store writer who removed the checkpoint history turned the
    // witness requirement off (exit 0), `--quorum 2` alone enforced nothing, and a store rolled
    // back to an older cosigned checkpoint passed (cosignature times were never judged).
    const w1 = generateCosignerKey('witness1.example', new Uint8Array(32).fill(7));
    const w2 = generateCosignerKey('witness2.example', new Uint8Array(32).fill(8));
    const d = await mkdtemp(join(tmpdir(), 'kw-cli-witness-'));
    try {
      const cosignedAt = Math.floor(Date.now() / 1000) - 3 * 86_400; // three days ago
      const log = await AuditLog.open({ store: await FileAuditStore.open(d), signerKey: keys.signerKey, checkpointIntervalMs: 86_400_000 });
      for (let i = 0; i < 3; i++) await log.append(sampleEvent(i));
      await log.acceptCosignatures(cosignCheckpoint(log.latestCheckpoint!, newCosigner(w1.signerKey, () => cosignedAt)), [w1.verifierKey]);
      for (let i = 3; i < 6; i++) await log.record(sampleEvent(i)); // past the checkpoint, under tree heads
      await log.close();
      const verify = (...more: string[]) => run('audit', 'verify', '--dir', d, '--key', keys.verifierKey, ...more);
      expect((await verify('--witness', w1.verifierKey, '--quorum', '1')).code).toBe(0);
      const fresh = await verify('--witness', w1.verifierKey, '--witness-max-age', '1d', '--json');
      expect(fresh.code).toBe(1);
      expect(JSON.parse(fresh.out).problems).toEqual([expect.objectContaining({ kind: 'witness', message: expect.stringContaining('older than') })]);
      expect((await verify('--witness', w1.verifierKey, '--witness-max-age', '4d')).code).toBe(0);
      const alone = await verify('--quorum', '2');
      expect([alone.code, alone.err]).toEqual([2, expect.stringContaining('--quorum')]);
      const more = await verify('--witness', w1.verifierKey, '--witness', w2.verifierKey, '--quorum', '3');
      expect([more.code, more.err]).toEqual([2, expect.stringContaining('--quorum')]);
      expect((await verify('--witness-max-age', '1d')).code).toBe(2);
      // The writer removes the checkpoint history: every entry is still under a signed tree head.
      await rm(join(d, 'checkpoints'));
      await rm(join(d, 'checkpoint'));
      const gone = await verify('--witness', w1.verifierKey, '--quorum', '1', '--json');
      expect(gone.code).toBe(1);
      expect(JSON.parse(gone.out).problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'witness', message: expect.stringContaining('no checkpoint') })]));
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('prove: a tlog-proof@v1 file that verifies offline', async () => {
    const r = await run('audit', 'prove', '7', '--dir', dir, '--key', keys.verifierKey);
    expect(r.code).toBe(0);
    expect(r.out.split('\n').slice(0, 2)).toEqual(['c2sp.org/tlog-proof@v1', 'index 7']);
    expect(verifyTlogProof(r.out, entries[7]!, keys.verifierKey)).toMatchObject({ ok: true, index: 7, size: 12 });
  });

  it('entry: the exact bytes', async () => {
    const r = await run('audit', 'entry', '3', '--dir', dir);
    expect(r.code).toBe(0);
    expect(r.raw).toHaveLength(1);
    expect(Buffer.from(r.raw[0] as Uint8Array).equals(Buffer.from(entries[3]!))).toBe(true);
  });

  it('consistency: a tlog-witness add-checkpoint body whose proof verifies', async () => {
    const r = await run('audit', 'consistency', '5', '--dir', dir, '--key', keys.verifierKey);
    expect(r.code).toBe(0);
    const [head, note] = [r.out.slice(0, r.out.indexOf('\n\n')), r.out.slice(r.out.indexOf('\n\n') + 2)];
    const lines = head.split('\n');
    expect(lines[0]).toBe('old 5');
    const proof = lines.slice(1).map((l) => Uint8Array.from(atob(l), (c) => c.charCodeAt(0)));
    const latest = openCheckpoint(note, newNoteVerifier(keys.verifierKey), ORIGIN).checkpoint;
    const at5 = (await run('audit', 'consistency', '5', '--dir', dir, '--key', keys.verifierKey)).out;
    expect(at5).toBe(r.out); // deterministic
    const five = parseCheckpoint(await checkpointAt(5));
    expect(verifyConsistency(5, latest.size, five.rootHash, latest.rootHash, proof)).toBe(true);
  });

  it('usage errors exit 2 with one line naming the problem; unreadable input exits 3', async () => {
    const cases: [string[], string][] = [
      [['audit', 'verify', '--dir', dir], "missing required option '--key'"],
      [['audit', 'frobnicate'], "unknown command 'frobnicate'"],
      [['audit', 'prove', 'x', '--dir', dir, '--key', keys.verifierKey], 'INDEX: expected a non-negative integer'],
      [['audit', 'prove', '99', '--dir', dir, '--key', keys.verifierKey], 'INDEX: the latest checkpoint covers 12 entries'],
      [['audit', 'verify', '--dir', dir, '--key', 'not-a-key'], '--key: not a verifier key'],
      [['audit', 'verify', '--dir', dir, '--key', keys.verifierKey, '--quorum', 'two'], '--quorum: expected a non-negative integer'],
      [['nope'], "unknown command 'nope'"],
    ];
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      expect([r.code, r.out], argv.join(' ')).toEqual([2, '']);
      expect(r.err.trimEnd().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.err).toContain(message);
    }
    const missing = await run('audit', 'verify', '--dir', join(dir, 'missing'), '--key', keys.verifierKey);
    expect(missing.code).toBe(3);
    expect(missing.err).toMatch(/^keywarden audit verify: could not complete: .*missing.*does not exist\n$/);
    // A key file without an end is refused after 64 KiB, not read into memory whole (an outside
    // review saw ~650 MB of RSS before the error).
    const endless = await run('audit', 'verify', '--dir', dir, '--key', '@/dev/zero');
    expect(endless.code).toBe(3);
    expect(endless.err).toContain('larger than 65536 bytes');
  });

  it('keygen writes the signer key to a new 0600 file, prints the verifier key, and never prints the signer key', async () => {
    const d = await mkdtemp(join(tmpdir(), 'kw-keygen-'));
    try {
      const priv = join(d, 'log.key');
      const r = await run('audit', 'keygen', 'example.com/new-log', '--out-private', priv, '--out-public', join(d, 'log.vkey'));
      expect(r.code, r.err).toBe(0);
      expect(r.out.trim()).toMatch(/^example\.com\/new-log\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$/);
      const signer = (await readFile(priv, 'utf8')).trim();
      expect(signer).toMatch(/^PRIVATE\+KEY\+example\.com\/new-log\+/);
      expect(verifierKeyFromSigner(signer)).toBe(r.out.trim());
      expect((await readFile(join(d, 'log.vkey'), 'utf8')).trim()).toBe(r.out.trim());
      expect((await stat(priv)).mode & 0o777).toBe(0o600);
      const secret = signer.split('+').slice(4).join('+'); // the base64 seed (it may contain '+' itself)
      expect(r.out + r.err).not.toContain('PRIVATE+KEY');
      expect(r.out + r.err).not.toContain(secret);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});

/** The text of the checkpoint of size n, as issued. */
async function checkpointAt(n: number): Promise<string> {
  const store = await FileAuditStore.open(dir);
  try {
    const notes = await store.checkpoints();
    const note = notes.find((c) => parseCheckpoint(c.slice(0, c.indexOf('\n\n') + 1)).size === n)!;
    return note.slice(0, note.indexOf('\n\n') + 1);
  } finally {
    await store.close();
  }
}

describe('keywarden audit verify exits 1 for any tampering (property)', () => {
  const magic = new TextEncoder().encode('keywarden-audit-v1\n');
  async function logDir(entries: Uint8Array[], checkpoints: string[]): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'kw-cli-prop-'));
    await writeFile(join(d, 'entries'), Buffer.concat([magic, ...entries.map(frame)]));
    await writeFile(join(d, 'checkpoints'), Buffer.concat([magic, ...checkpoints.map((c) => frame(new TextEncoder().encode(c)))]));
    return d;
  }

  it('modify, delete, insert or reorder an entry, or alter a checkpoint byte: exit 1; untouched: exit 0', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 80 }),
        fc.integer({ min: 1, max: 10 }),
        fc.nat(),
        fc.constantFrom('none', 'modify', 'delete', 'insert', 'reorder', 'checkpoint-byte'),
        async (n, batch, seed, how) => {
          const store = new MemoryAuditStore();
          const log = await AuditLog.open({ store, signerKey: keys.signerKey });
          for (let i = 0; i < n; i += batch) await log.append(Array.from({ length: Math.min(batch, n - i) }, (_, j) => sampleEvent(i + j)));
          const es = await store.read(0, n);
          const cps = await store.checkpoints();
          const i = seed % n;
          if (how === 'modify') es[i] = encodeEntry({ ...sampleEvent(i), actor: 'tampered' });
          if (how === 'delete') es.splice(i, 1);
          if (how === 'insert') es.splice(i, 0, encodeEntry(sampleEvent(n + 500)));
          if (how === 'reorder') [es[i], es[(i + 1) % n]] = [es[(i + 1) % n]!, es[i]!];
          if (how === 'checkpoint-byte') {
            const c = seed % cps.length;
            const pos = seed % cps[c]!.length;
            cps[c] = cps[c]!.slice(0, pos) + String.fromCharCode(cps[c]!.charCodeAt(pos) ^ 1) + cps[c]!.slice(pos + 1);
          }
          const d = await logDir(es, cps);
          try {
            const r = await run('audit', 'verify', '--dir', d, '--key', keys.verifierKey);
            expect(r.code, r.out).toBe(how === 'none' ? 0 : 1);
          } finally {
            await rm(d, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
