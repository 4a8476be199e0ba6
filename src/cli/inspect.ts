/**
 * `keywarden inspect FILE`: the public header of one ciphertext and the sizes of its parts
 * (docs/FORMAT.md §3). Reads bytes only: no key, no database, no KMS, and nothing is decrypted.
 * @module
 */
import { type FileHandle, open } from 'node:fs/promises';
import { UnsupportedFormatError } from '../errors.js';
import { type CiphertextInfo, HEADER_LENGTH_V2, inspectCiphertext, parseHeader } from '../format/wire.js';
import { concatBytes } from '../util/bytes.js';
import { MAX_PLAINTEXT_BYTES } from '../util/validate.js';
import { type CommandSpec, EXIT, IncompleteError, RefusedError, UsageError } from './common.js';
import { jsonOption } from './options.js';

/** What `inspect` reports: the header's fields and every part's size in bytes. */
export interface InspectReport extends CiphertextInfo {
  file: string;
  /** Bytes in the file. */
  size: number;
  headerBytes: number;
  nonceBytes: number;
  /** The encrypted message (as long as the plaintext). */
  bodyBytes: number;
  tagBytes: number;
}

/**
 * Longest ciphertext of any format and suite (v2 header, 24-byte nonce, 64 MiB, tag): inspect
 * reads one byte more at most. Read whole, a FIFO or /dev/zero filled memory up to node's 2 GiB
 * limit or forever (outside review 6, 2026-12-02; test/review6-parse-cli-inspect-bounded-read.test.ts).
 */
const MAX_INPUT = HEADER_LENGTH_V2 + 24 + MAX_PLAINTEXT_BYTES + 16;

async function readInput(file: string, stdin: ((max?: number) => Promise<Uint8Array>) | undefined): Promise<Uint8Array> {
  if (file === '-') {
    if (stdin === undefined) throw new UsageError('FILE: standard input is not available here');
    return stdin(MAX_INPUT + 1);
  }
  let h: FileHandle | undefined;
  try {
    h = await open(file, 'r');
    const parts: Uint8Array[] = [];
    let total = 0;
    // One scratch buffer, and a copy of what each read returned: a FIFO or pipe returns what has
    // arrived, and a view per read kept 1 MiB alive for each (outside review 7,
    // test/review7-format-inspect-trickle-read.test.ts).
    const buf = new Uint8Array(1 << 20);
    while (total <= MAX_INPUT) {
      const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, MAX_INPUT + 1 - total), null);
      if (bytesRead === 0) break;
      parts.push(buf.slice(0, bytesRead));
      total += bytesRead;
    }
    return parts.length === 1 ? parts[0]! : concatBytes(...parts);
  } catch (e) {
    throw new IncompleteError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    await h?.close().catch(() => undefined);
  }
}

function render(r: InspectReport): string {
  return [
    `format: v${r.formatVersion}`,
    `suite: ${r.suite}`,
    `key version: ${r.keyVersion}`,
    `sealed at: ${r.sealedAt ?? '(not recorded: format v1)'}`,
    `size: ${r.size} bytes = header ${r.headerBytes} + nonce ${r.nonceBytes} + body ${r.bodyBytes} + tag ${r.tagBytes} (overhead ${r.overhead})`,
    'The header is authenticated only by a successful decrypt; nothing was decrypted.',
  ].join('\n') + '\n';
}

/** The `keywarden inspect` command. */
export const inspectCommand: CommandSpec = {
  name: 'inspect',
  summary: "show a ciphertext's header (format, suite, key version, sealing time) and sizes; never decrypts",
  description:
    "FILE holds one ciphertext exactly as Keywarden.encrypt returned it (raw bytes); '-' reads\n" +
    'standard input. Exit status 1 (ERR_UNSUPPORTED_FORMAT) when it is not a ciphertext of a\n' +
    'known format version and suite.',
  positionals: [{ name: 'FILE', required: true, description: "the ciphertext file, or '-' for standard input" }],
  options: [jsonOption],
  async run(args, ctx) {
    const file = args.positional('FILE')!;
    const bytes = await readInput(file, ctx.io.stdin);
    let info: CiphertextInfo;
    try {
      if (bytes.length > MAX_INPUT) throw new UnsupportedFormatError('ciphertext: longer than any ciphertext');
      info = inspectCiphertext(bytes);
    } catch (err) {
      if (err instanceof UnsupportedFormatError) throw new RefusedError(err.code, `${file === '-' ? 'standard input' : file}: ${err.message.replace(/^ciphertext: /, '')}`);
      throw err;
    }
    // inspectCiphertext accepted it, so the header parses; the sizes come from the same parser.
    const h = parseHeader(bytes)!;
    const report: InspectReport = {
      file, size: bytes.length, ...info,
      headerBytes: h.headerLength, nonceBytes: h.bodyOffset - h.headerLength,
      bodyBytes: bytes.length - h.bodyOffset - h.suite.tagLength, tagBytes: h.suite.tagLength,
    };
    ctx.emit(report, render(report));
    return EXIT.OK;
  },
};
