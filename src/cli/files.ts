/**
 * File input and output for the commands: reads that fail become "could not complete" (exit 3),
 * and key files are only ever created, never overwritten.
 * @module
 */
import { type FileHandle, open, readFile, unlink } from 'node:fs/promises';
import { IncompleteError } from './common.js';

/** The text of `file`; `what` names it in the error ("token", "policy"). */
export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new IncompleteError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** The JSON value in `file`. */
export async function readJson(file: string, what: string): Promise<unknown> {
  const text = await readText(file, what);
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
