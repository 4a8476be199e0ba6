/**
 * Review 3 (files): encryptFile / decryptFile do not validate their `kw` argument.
 *
 * Where: src/stream/files.ts:135-145 (encryptFile) and :158-170 (decryptFile). Unlike
 * createEncryptStream/createDecryptStream (node-stream.ts `checkKeywarden`, called at :126 and :143: "a wrong
 * argument is named, not a TypeError later"), the file helpers go on to open the source file and
 * then fail with a bare `TypeError: Cannot read properties of undefined (reading
 * 'createAttachmentEncryptor')` — not a KeywardenError, and not naming the parameter
 * (SECURITY.md: every error a public function throws is a KeywardenError with a stable code;
 * the attachment API names the offending parameter).
 *
 * Correct behaviour: check `kw` first (the same checkKeywarden as the stream functions) and throw
 * ERR_INVALID_INPUT with param 'kw' before touching the file system.
 *
 * Now: encryptFile and decryptFile check `kw` first, as the stream functions do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decryptFile, encryptFile } from '../src/stream/node.js';

const dir = mkdtempSync(join(tmpdir(), 'kw-review3-kw-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const src = join(dir, 'in.bin');
writeFileSync(src, new Uint8Array(100));

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

describe('file helpers name a wrong kw', () => {
  it('encryptFile(undefined, …) is ERR_INVALID_INPUT naming kw', async () => {
    expect(await failure(encryptFile(undefined as never, 'dm:alice:bob', src, join(dir, 'out.kw')))).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'kw' });
  });
  it('decryptFile({}, …) is ERR_INVALID_INPUT naming kw', async () => {
    expect(await failure(decryptFile({} as never, 'dm:alice:bob', src, join(dir, 'out.bin')))).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'kw' });
  });
});
