/** FileAuditStore: append-only framing, persistence, torn-tail detection, single writer. */
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { FileAuditStore, frame, scanFrames } from '../src/audit/file-store.js';

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

describe('FileAuditStore', () => {
  it('persists entries and checkpoints across reopen, in order', async () => {
    const dir = await tempDir();
    const s = await FileAuditStore.open(dir);
    expect(await s.append([bytes('a'), bytes('b')])).toBe(0);
    expect(await s.append([bytes('c')])).toBe(2);
    await s.appendCheckpoint('cp-1\n');
    await s.close();
    const again = await FileAuditStore.open(dir);
    expect(await again.size()).toBe(3);
    expect((await again.read(0, 3)).map((b) => new TextDecoder().decode(b))).toEqual(['a', 'b', 'c']);
    expect(await again.checkpoints()).toEqual(['cp-1\n']);
    await again.close();
  });

  it('detects a torn last record on reopen, for every cut point, and never accepts it silently', async () => {
    const dir = await tempDir();
    const s = await FileAuditStore.open(dir);
    await s.append([bytes('first entry'), bytes('second entry')]);
    await s.close();
    const path = join(dir, 'entries');
    const full = await readFile(path);
    const lastLen = frame(bytes('second entry')).length;
    for (let cut = 1; cut < lastLen; cut++) {
      await writeFile(path, full.subarray(0, full.length - cut));
      const err = await FileAuditStore.open(dir).catch((e) => e);
      expect(err.code).toBe('ERR_AUDIT_CORRUPT');
      expect(err.at).toBe(full.length - lastLen); // the byte offset where the torn record starts
    }
    // The operator can cut exactly the torn record (never acknowledged), and nothing else.
    await writeFile(path, full.subarray(0, full.length - 3));
    const repaired = await FileAuditStore.open(dir, { repairTornTail: true });
    expect(await repaired.size()).toBe(1);
    expect((await stat(path)).size).toBe(full.length - lastLen);
    await repaired.append([bytes('after repair')]);
    await repaired.close();
    const final = await FileAuditStore.open(dir);
    expect((await final.read(0, 2)).map((b) => new TextDecoder().decode(b))).toEqual(['first entry', 'after repair']);
    await final.close();
  });

  it('a damaged record followed by others is corruption, never repaired', async () => {
    const dir = await tempDir();
    const s = await FileAuditStore.open(dir);
    await s.append([bytes('one'), bytes('two'), bytes('three')]);
    await s.close();
    const path = join(dir, 'entries');
    const data = await readFile(path);
    data[data.indexOf(bytes('two')[0]!, 25)]! ^= 1; // flip a byte inside the second record
    await writeFile(path, data);
    for (const opts of [{}, { repairTornTail: true }]) {
      const err = await FileAuditStore.open(dir, opts).catch((e) => e);
      expect(err.code).toBe('ERR_AUDIT_CORRUPT');
      expect(err.message).not.toContain('torn');
    }
  });

  it('a second writer is refused while the first holds the store; a dead writer\'s lock is taken over', async () => {
    const dir = await tempDir();
    const s = await FileAuditStore.open(dir);
    expect((await FileAuditStore.open(dir).catch((e) => e)).code).toBe('ERR_AUDIT_UNAVAILABLE');
    await s.close();
    await writeFile(join(dir, 'LOCK'), '2147483646'); // no such process
    const t = await FileAuditStore.open(dir);
    await t.close();
  });

  it('appends after close fail with ERR_AUDIT_UNAVAILABLE', async () => {
    const s = await FileAuditStore.open(await tempDir());
    await s.close();
    expect((await s.append([bytes('x')]).catch((e) => e)).code).toBe('ERR_AUDIT_UNAVAILABLE');
  });

  it('framing: scan(frames) returns the records; any truncation is a torn tail; any bit flip is detected', () => {
    const magic = bytes('keywarden-audit-v1\n');
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 8 }), fc.nat(), (records, seed) => {
        const data = Buffer.concat([magic, ...records.map(frame)]);
        const scan = scanFrames(data);
        expect(scan.damage).toBeUndefined();
        expect(scan.records.map((r) => Buffer.from(r).toString('hex'))).toEqual(records.map((r) => Buffer.from(r).toString('hex')));
        const cut = magic.length + (seed % (data.length - magic.length));
        if (cut < data.length) {
          const t = scanFrames(data.subarray(0, cut));
          if (t.damage) expect(t.damage.torn).toBe(true);
          else expect(t.records.length).toBeLessThan(records.length); // cut on a record boundary
        }
        const flipped = Buffer.from(data);
        const pos = magic.length + (seed % (data.length - magic.length));
        flipped[pos]! ^= 1 << (seed % 8);
        const f = scanFrames(flipped);
        expect(f.damage).toBeDefined();
      }),
    );
  });

  it('an empty or missing file opens as an empty log', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'entries'), '');
    const s = await FileAuditStore.open(dir);
    expect(await s.size()).toBe(0);
    await s.close();
    await truncate(join(dir, 'checkpoints'), 0);
    const t = await FileAuditStore.open(dir);
    expect(await t.checkpoints()).toEqual([]);
    await t.close();
  });

  it('a missing directory is created (owner-only), with its parents; a path that is a file is a typed error naming it', async () => {
    const base = await tempDir();
    const dir = join(base, 'var', 'audit');
    const s = await FileAuditStore.open(dir);
    expect(await s.append([bytes('a')])).toBe(0);
    await s.close();
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    const file = join(base, 'not-a-dir');
    await writeFile(file, 'x');
    const err = await FileAuditStore.open(file).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(err.message).toContain(file);
  });
});
