/**
 * File input and output for the commands: reads that fail become "could not complete" (exit 3),
 * and key files are only ever created, never overwritten.
 * @module
 */
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { IncompleteError } from './common.js';

/** Longest text file a command reads unless told otherwise (tokens, policies, checkpoints). */
const MAX_TEXT = 16 * 1024 * 1024;
/** Longest key file (a verifier or signer key is one line of ~100 bytes). */
export const MAX_KEY_FILE = 64 * 1024;

/**
 * The text of `file`; `what` names it in the error ("token", "policy"). At most `max` bytes are
 * read: a larger file, or one without an end (`/dev/zero`, a FIFO), is refused (exit 3) instead
 * of being read into memory whole.
 */
export async function readText(file: string, what: string, max = MAX_TEXT): Promise<string> {
  let h: FileHandle | undefined;
  try {
    h = await open(file, 'r');
    const buf = Buffer.alloc(Math.min(max + 1, 64 * 1024));
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) throw new IncompleteError(`${what} ${file} is larger than ${max} bytes`);
      parts.push(Buffer.from(buf.subarray(0, bytesRead)));
    }
    return Buffer.concat(parts).toString('utf8');
  } catch (e) {
    if (e instanceof IncompleteError) throw e;
    throw new IncompleteError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    await h?.close();
  }
}

/** The JSON value in `file` (at most `max` bytes, as readText). */
export async function readJson(file: string, what: string, max?: number): Promise<unknown> {
  const text = await readText(file, what, max);
  try {
    return JSON.parse(text);
  } catch {
    throw new IncompleteError(`${what} ${file} is not JSON`);
  }
}

/** A file to create: `secret` files get mode 0600. */
export interface NewFile {
  path: string;
  text: string;
  secret?: boolean;
}

/**
 * Creates every file in order, or none: a file that already exists is an error (exit 3), never
 * overwritten (losing a key, or swapping one that a policy still trusts, is worse than an error),
 * and when one write fails the files this call created are removed again.
 */
export async function writeNewFiles(files: readonly NewFile[]): Promise<void> {
  const created: string[] = [];
  try {
    for (const f of files) {
      let handle: FileHandle;
      try {
        // 'wx': create, fail if it exists. A secret file is 0600 from its first byte on.
        handle = await open(f.path, 'wx', f.secret ? 0o600 : 0o644);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new IncompleteError(code === 'EEXIST' ? `${f.path} already exists (not overwritten)` : `cannot create ${f.path}: ${code ?? (e as Error).message}`);
      }
      created.push(f.path);
      try {
        // The umask may have narrowed the mode; set it exactly, still owner-only for secrets.
        if (f.secret) await handle.chmod(0o600);
        await handle.writeFile(f.text);
        await handle.sync();
      } catch (e) {
        throw new IncompleteError(`cannot write ${f.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      } finally {
        await handle.close();
      }
    }
  } catch (err) {
    for (const path of created.reverse()) await unlink(path).catch(() => undefined);
    throw err;
  }
}
