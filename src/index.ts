/**
 * keywarden — server-side envelope encryption for direct messages: the envelope API.
 *
 * This is the portable build of the root entry point (every AEAD through @noble/ciphers, any
 * JavaScript runtime). On Node, `import 'keywarden'` resolves to the Node build (./node.ts):
 * the same exports, with native node:crypto AEADs as the default. Other concerns have their own
 * entry points: `keywarden/audit`, `keywarden/tlog`, `keywarden/breakglass`,
 * `keywarden/postgres`, `keywarden/aws`.
 *
 * @example
 * ```ts
 * import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
 * const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
 * ```
 * @module
 */
export { Keywarden } from './keywarden.js';
export * from './envelope-exports.js';
