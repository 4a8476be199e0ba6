/**
 * FileAuditStore (issue #14): the tlog-tiles layout on disk, persistence, one sequencer at a time
 * among any number of instances and processes, producers' outbox files, framing, the checkpoint
 * history's crash recovery, and the migration from keywarden 0.1's two files (resumable).
 */
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { decodeEntry, encodeEntry } from '../src/audit/entry.js';
import { fileMigration } from '../src/audit/file-migrate.js';
import { FileAuditStore } from '../src/audit/file-store.js';
import { MAGIC, frame, scanFrames } from '../src/audit/framing.js';
import { AuditLog } from '../src/audit/log.js';
import { MerkleTree, leafHash } from '../src/audit/merkle.js';
import { generateNoteKey, newNoteSigner } from '../src/audit/note.js';
import { decodeBundle, tilePath } from '../src/audit/tiles.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { toHex } from '../src/util/bytes.js';
import { sampleEvent } from './support/audit-fixtures.js';

const keys = generateNoteKey('keywarden.example/file-store', new Uint8Array(32).fill(5));
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'kw-audit-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const bytes = (s: string) => new TextEncoder().encode(s);
const ids = (entries: Uint8Array[]) => entries.map((e) => decodeEntry(e).id);

describe('FileAuditStore', () => {
  it('keeps the log as tlog-tiles files and persists it across reopen', async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, checkpointIntervalMs: 3_600_000 });
    await log.append(Array.from({ length: 300 }, (_, i) => sampleEvent(i)));
    await log.record(sampleEvent(300));
    await log.close();
    expect(decodeBundle(await readFile(join(dir, tilePath('entries', 0))))).toHaveLength(256);
    expect(decodeBundle(await readFile(join(dir, tilePath('entries', 1, 45))))).toHaveLength(45);
    expect((await readFile(join(dir, tilePath(0, 0)))).length).toBe(8192);
    expect((await readFile(join(dir, tilePath(0, 1, 45)))).length).toBe(45 * 32);
    expect((await readFile(join(dir, tilePath(1, 0, 1)))).length).toBe(32);
    expect((await readFile(join(dir, 'checkpoint'), 'utf8')).split('\n')[1]).toBe('300');
    // Partial versions a full tile made redundant are gone (tlog-tiles §"Partial Tiles").
    await expect(stat(join(dir, 'tile/0/000.p'))).rejects.toMatchObject({ code: 'ENOENT' });
    const store = await FileAuditStore.open(dir);
    expect(await store.size()).toBe(301);
    expect(ids(await store.read(298, 301))).toEqual([298, 299, 300].map((i) => sampleEvent(i).id));
    expect(await store.checkpoints()).toHaveLength(1);
    await store.close();
    const again = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    expect(again.stats()).toMatchObject({ size: 301, checkpointSize: 300, pending: 1 });
    const tree = new MerkleTree(Array.from({ length: 301 }, (_, i) => leafHash(encodeEntry(sampleEvent(i)))));
    expect(toHex(await again.root())).toBe(toHex(tree.root()));
    await again.close();
  });

  it('one sequencer at a time: other instances are producers; a dead process\'s lock is taken over', async () => {
    const dir = await tempDir();
    const a = await FileAuditStore.open(dir);
    const b = await FileAuditStore.open(dir);
    expect(await a.acquireSequencer()).toBe(true);
    expect(await b.acquireSequencer()).toBe(false);
    expect(await a.acquireSequencer()).toBe(true);
    await a.close();
    expect(await b.acquireSequencer()).toBe(true);
    await b.close();
    await writeFile(join(dir, 'LOCK'), '2147483646 dead'); // no such process
    const c = await FileAuditStore.open(dir);
    expect(await c.acquireSequencer()).toBe(true);
    await c.close();
    await expect(c.enqueue({ bundle: new Uint8Array(0), flags: 0, mac: new Uint8Array(32) })).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
  });

  it('a producer instance records through its outbox file; the sequencer integrates it; a waiting producer gets its receipt', async () => {
    const dir = await tempDir();
    const sequencer = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, pollMs: 5 });
    const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, pollMs: 5 });
    expect([sequencer.isSequencer, producer.isSequencer]).toEqual([true, false]);
    const durable = await Promise.all([1, 2, 3].map((i) => producer.record(sampleEvent(i))));
    expect(durable.every((d) => d.index === undefined)).toBe(true);
    expect((await readdir(join(dir, 'outbox'))).length).toBe(1);
    const receipt = await producer.append(sampleEvent(4));
    expect(receipt.index).toBe(3); // after the three it recorded before, in order
    expect(Number(receipt.checkpoint.split('\n')[1])).toBeGreaterThanOrEqual(4);
    await producer.close();
    await sequencer.close();
    const store = await FileAuditStore.open(dir);
    expect(ids(await store.read(0, 4))).toEqual([1, 2, 3, 4].map((i) => sampleEvent(i).id));
    await store.close();
  });

  it('framing: scan(frames) returns the records; any truncation is a torn tail; any bit flip is detected', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 8 }), fc.nat(), (records, seed) => {
        const data = Buffer.concat([MAGIC, ...records.map(frame)]);
        const scan = scanFrames(data);
        expect(scan.damage).toBeUndefined();
        expect(scan.records.map(toHex)).toEqual(records.map(toHex));
        const cut = MAGIC.length + (seed % (data.length - MAGIC.length));
        const t = scanFrames(data.subarray(0, cut));
        if (t.damage) expect(t.damage.torn).toBe(true);
        else expect(t.records.length).toBeLessThan(records.length);
        const flipped = Buffer.from(data);
        flipped[MAGIC.length + (seed % (data.length - MAGIC.length))]! ^= 1 << (seed % 8);
        expect(scanFrames(flipped).damage).toBeDefined();
      }),
    );
  });

  it('a missing directory is created (owner-only), with its parents; a path that is a file is a typed error naming it', async () => {
    const base = await tempDir();
    const dir = join(base, 'var', 'audit');
    const s = await FileAuditStore.open(dir);
    await s.close();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const file = join(base, 'not-a-dir');
    await writeFile(file, 'x');
    const err = await FileAuditStore.open(file).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(err.message).toContain(file);
  });

  it('pruning keeps the newest checkpoints; the history survives a crash that cut its last record', async () => {
    const dir = await tempDir();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    for (let i = 0; i < 6; i++) await log.append(sampleEvent(i));
    expect(await log.pruneCheckpoints(2)).toBe(4);
    await log.append(sampleEvent(6));
    await log.close();
    let store = await FileAuditStore.open(dir);
    expect((await store.checkpoints()).map((c) => c.split('\n')[1])).toEqual(['5', '6', '7']);
    await store.close();
    // A crash cut the newest history record (its batch's head was already written).
    const history = await readFile(join(dir, 'checkpoints'));
    await writeFile(join(dir, 'checkpoints'), history.subarray(0, history.length - 11));
    const again = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
    await again.close();
    store = await FileAuditStore.open(dir);
    expect((await store.checkpoints()).map((c) => c.split('\n')[1])).toEqual(['5', '6', '7']); // completed from the head
    expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries: await store.read(0, 7), checkpoints: await store.checkpoints() }).problems).toEqual([]);
    await store.close();
  });
});

describe('migration from the 0.1 layout (entries + checkpoints files)', () => {
  /** A 0.1 directory: `n` entries, one checkpoint per append, then `unsigned` entries no checkpoint covers. */
  async function legacyDir(n: number, unsigned = 0): Promise<{ dir: string; tree: MerkleTree; history: Buffer }> {
    const dir = await tempDir();
    const signer = newNoteSigner(keys.signerKey);
    const tree = new MerkleTree();
    const entries: Uint8Array[] = [];
    const notes: Uint8Array[] = [];
    for (let i = 0; i < n + unsigned; i++) {
      entries.push(encodeEntry(sampleEvent(i)));
      tree.append(leafHash(entries[i]!));
      if (i < n) notes.push(bytes(signCheckpoint({ origin: 'keywarden.example/file-store', size: i + 1, rootHash: tree.root(), extensions: [] }, signer)));
    }
    const history = Buffer.concat([MAGIC, ...notes.map(frame)]);
    await writeFile(join(dir, 'entries'), Buffer.concat([MAGIC, ...entries.map(frame)]));
    await writeFile(join(dir, 'checkpoints'), history);
    return { dir, tree, history };
  }

  it('migrates resumably; roots and existing checkpoints are unchanged; the 0.1 entries are kept aside', async () => {
    const { dir, tree, history } = await legacyDir(600);
    const chunk = fileMigration.chunk;
    fileMigration.chunk = 100;
    try {
      // A first run dies after three chunks: the second resumes from there (and does not redo them).
      fileMigration.afterChunk = (size) => {
        if (size === 300) throw new Error('killed');
      };
      const first = await FileAuditStore.open(dir);
      expect(first.legacy).toBe(true);
      await expect(AuditLog.open({ store: first, signerKey: keys.signerKey })).rejects.toThrow('killed');
      await first.close();
      expect(JSON.parse(await readFile(join(dir, 'migration'), 'utf8')).size).toBe(300);
      const resumed: number[] = [];
      fileMigration.afterChunk = (size) => void resumed.push(size);
      const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey });
      expect(resumed).toEqual([400, 500, 600]);
      expect(log.size).toBe(600);
      for (const k of [1, 255, 256, 300, 599, 600]) expect(toHex(await log.root(k))).toBe(toHex(tree.root(k)));
      expect(await log.proof(450)).toContain('index 450');
      await log.append(sampleEvent(600));
      await log.close();
      await expect(stat(join(dir, 'migration'))).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await readFile(join(dir, 'checkpoints'))).subarray(0, history.length)).toEqual(history);
      expect((await stat(join(dir, 'entries.v1'))).isFile()).toBe(true);
      const again = await FileAuditStore.open(dir);
      expect(again.legacy).toBe(false);
      expect(verifyAuditLog({ verifierKey: keys.verifierKey, entries: await again.read(0, 601), checkpoints: await again.checkpoints() }).problems).toEqual([]);
      await again.close();
    } finally {
      fileMigration.chunk = chunk;
      fileMigration.afterChunk = undefined;
    }
  });

  it('a 0.1 unsigned tail stays past the head: open refuses it until the operator repairs; a torn 0.1 record needs repairTornTail', async () => {
    const { dir } = await legacyDir(5, 1);
    const store = await FileAuditStore.open(dir);
    await expect(AuditLog.open({ store, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', at: 5 });
    await store.close();
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), signerKey: keys.signerKey, repair: { unsignedTail: 'drop', actor: 'ops' } });
    expect(decodeEntry(await log.entry(5))).toMatchObject({ type: 'audit.repaired', dropped: 1 });
    await log.close();

    // A crash mid-append left the last entry torn (its checkpoint never came): refused, unless repairTornTail.
    const torn = await legacyDir(2, 1);
    const raw = await readFile(join(torn.dir, 'entries'));
    await writeFile(join(torn.dir, 'entries'), raw.subarray(0, raw.length - 4));
    const s1 = await FileAuditStore.open(torn.dir);
    await expect(AuditLog.open({ store: s1, signerKey: keys.signerKey })).rejects.toMatchObject({ code: 'ERR_AUDIT_CORRUPT', message: expect.stringContaining('repairTornTail') });
    await s1.close();
    const s2 = await FileAuditStore.open(torn.dir, { repairTornTail: true });
    const l2 = await AuditLog.open({ store: s2, signerKey: keys.signerKey });
    expect(l2.size).toBe(2);
    await l2.close();
  });
});
