/**
 * framedRecords (the streaming reader of framed files: checkpoint histories, 0.1 entry files)
 * reads a record longer than its 4 MiB chunk in one read, and stops at once at a length the
 * file cannot hold (outside review, 2026-12-01: a hostile length grew its carry by 4 MiB per
 * pass, copying it each time — memory up to the file's size and time quadratic in it).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { MAGIC, frame, framedRecords } from '../src/audit/framing.js';

/** Every read framedRecords makes through its file handles: [position, length asked]. */
const reads: [number, number][] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof fs.open = async (...args) => {
    const h = await fs.open(...args);
    const read = h.read.bind(h) as (b: Uint8Array, o: number, l: number, p: number) => Promise<{ bytesRead: number; buffer: Uint8Array }>;
    (h as unknown as { read: typeof read }).read = (b, o, l, p) => {
      reads.push([p, l]);
      return read(b, o, l, p);
    };
    return h;
  };
  return { ...fs, open };
});

async function readAll(path: string) {
  const records: Uint8Array[] = [];
  const damage: { offset: number; torn: boolean; message: string }[] = [];
  for await (const r of framedRecords(path, (d) => damage.push(d))) records.push(r);
  return { records, damage };
}

describe('framedRecords', () => {
  it('a record larger than a read chunk comes whole; a length past the end of the file is a torn record at its offset', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-frames-'));
    try {
      const small = new Uint8Array(100).fill(1);
      const big = new Uint8Array(9 * 1024 * 1024).map((_, i) => i & 0xff);
      const path = join(dir, 'f');
      await writeFile(path, Buffer.concat([MAGIC, frame(small), frame(big), frame(small)]));
      const ok = await readAll(path);
      expect(ok.damage).toEqual([]);
      expect(ok.records.map((r) => r.length)).toEqual([100, big.length, 100]);
      expect(Buffer.from(ok.records[1]!).equals(Buffer.from(big))).toBe(true);
      // A header that claims 4 GiB - 16 bytes, then 6 MiB of filler: damage at the header, at once.
      const at = MAGIC.length + frame(small).length;
      const hostile = Buffer.alloc(4);
      hostile.writeUInt32BE(0xfffffff0);
      await writeFile(path, Buffer.concat([MAGIC, frame(small), hostile, Buffer.alloc(6 * 1024 * 1024, 7)]));
      reads.length = 0;
      const bad = await readAll(path);
      expect(bad.records.map((r) => r.length)).toEqual([100]);
      expect(bad.damage).toEqual([expect.objectContaining({ offset: at, torn: true })]);
      // The file header, then one read: the length cannot fit in what is left of the file.
      expect(reads).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
