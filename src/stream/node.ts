/**
 * `keywarden/attachments`: attachments with Node streams and files (Node only). The portable
 * attachment API — in-memory, Web Streams and random access — is on `Keywarden` itself; this
 * entry adds `stream.pipeline`-friendly `Transform`s and file helpers over it (docs/FORMAT.md §9).
 *
 * @example
 * ```ts
 * import { pipeline } from 'node:stream/promises';
 * import { createDecryptStream, createEncryptStream, decryptFile, encryptFile, fileSource } from 'keywarden/attachments';
 *
 * await pipeline(upload, createEncryptStream(kw, conversationId, { aad: attachmentId }), storeWriter);
 * ```
 * @module
 */
export { createEncryptStream, createDecryptStream } from './node-stream.js';
export { encryptFile, decryptFile, fileSource } from './files.js';
export type { FileResult, FileSource } from './files.js';
