/**
 * keywarden for Node: the root entry point with native node:crypto AEADs as the default, so
 * the hot path runs at OpenSSL speed (AES-NI for AES-256-GCM). Byte-for-byte identical output
 * to the portable build (checked by property tests), and exactly the same exports.
 * @module
 */
import { nodeAead } from './aead/node.js';
import { BranchKeyProvider as PortableBranchKeyProvider, type BranchKeyOptions } from './keys/branch-keys.js';
import { Keywarden as PortableKeywarden, type KeywardenOptions } from './keywarden.js';

export * from './envelope-exports.js';

/**
 * {@link PortableKeywarden | Keywarden} with `aead` defaulting to native node:crypto.
 *
 * @example
 * ```ts
 * import { Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
 * const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });
 * kw.implementation; // 'node'
 * ```
 */
export class Keywarden extends PortableKeywarden {
  constructor(options: KeywardenOptions) {
    // Own property only: a polluted Object.prototype.aead is not the caller's choice.
    super(options !== null && typeof options === 'object' && !Object.hasOwn(options, 'aead') ? { ...options, aead: nodeAead } : options);
  }
}

/**
 * {@link PortableBranchKeyProvider | BranchKeyProvider} with `aead` (the local wrapping of
 * conversation keys, docs/FORMAT.md §6.3) defaulting to native node:crypto: a cold open then
 * costs microseconds. Same bytes as the portable build.
 *
 * @example
 * ```ts
 * import { BranchKeyProvider, Keywarden, LocalMasterKey, MemoryKeyStore } from 'keywarden';
 * const branches = new BranchKeyProvider({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), store: new MemoryKeyStore() });
 * const kw = new Keywarden({ masterKey: branches, keyStore: new MemoryKeyStore() });
 * ```
 */
export class BranchKeyProvider extends PortableBranchKeyProvider {
  constructor(options: BranchKeyOptions) {
    super(options !== null && typeof options === 'object' && !Object.hasOwn(options, 'aead') ? { ...options, aead: nodeAead } : options);
  }
}
