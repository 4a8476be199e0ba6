/**
 * Secret key files the `keys` commands read: a local master key, the audit log's signer key and
 * the audit HMAC key. Keys come from files only — a key in a flag would show in `ps` and in the
 * shell history — and no message ever repeats a file's content, only its name and what is wrong.
 * @module
 */
import { stat } from 'node:fs/promises';
import { newNoteSigner } from '../audit/note.js';
import { MAX_KEY_FILE, readText } from './files.js';
import { UsageError } from './spec.js';

/** A secret read from a file, with a warning when others may read the file too. */
export interface SecretFile<T> {
  value: T;
  /** Set when the file's mode lets group or others read it. */
  warning: string | undefined;
}

/** The warning for a secret file whose mode lets group or others read it (undefined otherwise). */
export async function exposedFileWarning(file: string, label: string): Promise<string | undefined> {
  try {
    const mode = (await stat(file)).mode & 0o777;
    if ((mode & 0o077) !== 0) return `warning: ${label} ${file} can be read by others (mode ${mode.toString(8).padStart(4, '0')}; chmod 600 it)\n`;
  } catch {
    // Read just now, so it exists; a stat failure only costs the warning.
  }
  return undefined;
}

async function readSecret(file: string, label: string): Promise<SecretFile<string>> {
  const text = await readText(file, label, MAX_KEY_FILE);
  return { value: text.trim(), warning: await exposedFileWarning(file, label) };
}

/**
 * A 32-byte key written as base64 (44 characters, e.g. `openssl rand -base64 32`) or as 64 hex
 * digits, alone in the file. `label` is the flag (or variable) that named the file.
 */
export async function readKey32(file: string, label: string): Promise<SecretFile<Uint8Array>> {
  const { value, warning } = await readSecret(file, label);
  let bytes: Uint8Array | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(value)) bytes = new Uint8Array(Buffer.from(value, 'hex'));
  else if (/^[A-Za-z0-9+/]{43}=$/.test(value)) bytes = new Uint8Array(Buffer.from(value, 'base64'));
  if (bytes?.length !== 32) throw new UsageError(`${label}: ${file} does not hold a 32-byte key (base64 or 64 hex digits)`);
  return { value: bytes, warning };
}

/** An audit log signer key (`PRIVATE+KEY+…`, as `keywarden audit keygen --out-private` writes it). */
export async function readSignerKey(file: string, label: string): Promise<SecretFile<string>> {
  const secret = await readSecret(file, label);
  try {
    newNoteSigner(secret.value);
  } catch {
    throw new UsageError(`${label}: ${file} does not hold a signed-note signer key (from 'keywarden audit keygen --out-private')`);
  }
  return secret;
}
