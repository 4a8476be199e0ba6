/**
 * Outside review 7 (format, CLI): `keywarden inspect FILE` kept a 1 MiB buffer alive for every
 * read of its input, however few bytes the read returned.
 *
 * `readInput` (src/cli/inspect.ts) allocated a fresh `Uint8Array(min(1 MiB, what is left))` for
 * each `read()` and kept `buf.subarray(0, bytesRead)` — a view that holds the whole 1 MiB buffer.
 * A FIFO, a pipe or a slow network file returns what has arrived: a 64 KiB pipe buffer made a
 * 64 MiB ciphertext cost 1 GiB, and a writer that trickles one byte per read made 100 bytes cost
 * 100 MiB; a few tens of thousands of bytes sent that way left the process thrashing in garbage
 * collection (a loop of 65,000 such reads did not finish in two minutes) — the hang the bounded read of review
 * 6 was meant to rule out. (`readText`, for every other file the CLI reads, copies what it read.)
 *
 * Where: src/cli/inspect.ts, `readInput`.
 *
 * Now: what each read returned is copied out of one reused buffer: the memory held is about the
 * bytes read, whatever the size of the reads. The report is unchanged.
 */
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-r7-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => vi.restoreAllMocks());

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: (s) => void err.push(s), env: {} });
  return { code, out: out.join(''), err: err.join('') };
}

describe('keywarden inspect: input that arrives a byte at a time', () => {
  it('holds about the bytes read, not 1 MiB per read; the report is the same', async () => {
    // A v2 AES-256-GCM ciphertext of 62 bytes of plaintext: header, nonce, body, tag = 100 bytes.
    const ct = new Uint8Array(100);
    ct.set([2, 1, 0, 0, 0, 7, 0x6b, 0x0c, 0x13, 0xc0]);
    const file = join(dir, 'm.bin');
    await writeFile(file, ct);
    const expected = await run(['inspect', file, '--json']);
    expect(expected.code).toBe(0);

    // Every read returns at most one byte, as from a pipe whose writer trickles.
    const probe = await open(file, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...a: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    const read = proto.read;
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    let reads = 0;
    vi.spyOn(proto, 'read').mockImplementation(function (this: unknown, buf: unknown, offset: unknown, length: unknown, position: unknown) {
      reads++;
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      return read.call(this, buf, offset, Math.min(1, length as number), position);
    });
    const r = await run(['inspect', file, '--json']);
    expect(reads).toBeGreaterThan(100);
    expect(r).toEqual(expected);
    // 100 reads held 100 MiB before; now a 1 MiB scratch buffer and the bytes (with ample margin).
    expect(peak).toBeLessThan(24 << 20);
  });
});
