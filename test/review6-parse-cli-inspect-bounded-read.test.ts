/**
 * Outside review 6 (parsers, CLI): `keywarden inspect FILE` read its input whole, without bound.
 *
 * `inspect` (src/cli/inspect.ts) used `readFile(FILE)` (and, for `-`, every byte of standard
 * input), although no ciphertext is longer than header + nonce + 64 MiB + tag and
 * `inspectCiphertext` refuses anything longer. A FIFO, `/dev/zero` or a multi-GB file was read
 * into memory until node's 2 GiB limit or forever — where `readText` (tokens, policies, key files)
 * has bounded its reads since review 3.
 *
 * Now: inspect reads at most one byte more than the longest ciphertext; a longer input is
 * refused at once as ERR_UNSUPPORTED_FORMAT (exit 1), whether or not it ever ends.
 */
import { execFileSync } from 'node:child_process';
import { open, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { MAX_PLAINTEXT_BYTES } from '../src/util/validate.js';

/** Longest ciphertext of any suite and format: v2 header, XChaCha20 nonce, tag. */
const LONGEST = 10 + 24 + MAX_PLAINTEXT_BYTES + 16;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kw-r6-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => void out.push(String(s)), err: (s) => void err.push(s), env: {} });
  return { code, out: out.join(''), err: err.join('') };
}

describe('keywarden inspect: bounded input', () => {
  it('an input that never ends (a FIFO kept open) is refused after the longest ciphertext, not read forever', async () => {
    const fifo = join(dir, 'endless');
    execFileSync('mkfifo', [fifo]);
    const reading = run(['inspect', fifo]);
    // The writer opens after the reader, writes more than any ciphertext and never closes.
    const w = await open(fifo, 'w');
    const chunk = new Uint8Array(1 << 20);
    chunk.set([2, 1, 0, 0, 0, 1]); // a v2 AES header in front
    let writing = true;
    const writer = (async () => {
      try {
        for (let sent = 0; writing && sent <= LONGEST + (2 << 20); sent += chunk.length) await w.write(chunk);
      } catch {
        // EPIPE: the reader is gone
      }
    })();
    const r = await Promise.race([reading, new Promise<'hung'>((res) => setTimeout(() => res('hung'), 4000))]);
    writing = false;
    await w.close();
    await writer;
    if (r === 'hung') await reading; // the writer closed: let the old code finish before failing
    expect(r).not.toBe('hung');
    if (r !== 'hung') {
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^keywarden inspect: refused \(ERR_UNSUPPORTED_FORMAT\): .*\n$/);
    }
  }, 15_000);

  it('a regular file: the longest ciphertext is inspected, one byte more is refused (exit 1)', async () => {
    const file = join(dir, 'big');
    const header = new Uint8Array([2, 2, 0, 0, 0, 7, 0, 0, 0, 1]); // v2, XChaCha20-Poly1305, key version 7
    await writeFile(file, header);
    await truncate(file, LONGEST); // sparse: no disk used
    const ok = await run(['inspect', '--json', file]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ keyVersion: 7, size: LONGEST, bodyBytes: MAX_PLAINTEXT_BYTES });
    await truncate(file, LONGEST + 1);
    const big = await run(['inspect', file]);
    expect(big.code).toBe(1);
    expect(big.err).toMatch(/refused \(ERR_UNSUPPORTED_FORMAT\)/);
  }, 15_000);
});
