/**
 * keywarden for Node: the portable API with native node:crypto AEADs as the default, so the
 * hot path runs at OpenSSL speed (AES-NI for AES-256-GCM). Byte-for-byte identical output to
 * the portable build (checked by property tests).
 * @module
 */
import { nodeAead } from './aead/node.js';
import { Keywarden as PortableKeywarden, type KeywardenOptions } from './keywarden.js';
import { BreakGlass as PortableBreakGlass, type BreakGlassOptions } from './breakglass/access.js';

export * from './index.js';
export { nodeAead } from './aead/node.js';
export { FileAuditStore, type FileAuditStoreOptions } from './audit/file-store.js';

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
    super(options !== null && typeof options === 'object' && options.aead === undefined && !('aead' in options) ? { ...options, aead: nodeAead } : options);
  }
}

/**
 * {@link PortableBreakGlass | BreakGlass} with `aead` defaulting to native node:crypto.
 *
 * @example
 * ```ts
 * const bg = new BreakGlass({ policy, masterKey, keyStore, audit: { log, ids, actor: 'tns-console' } });
 * ```
 */
export class BreakGlass extends PortableBreakGlass {
  constructor(options: BreakGlassOptions) {
    super(options !== null && typeof options === 'object' && !('aead' in options) ? { ...options, aead: nodeAead } : options);
  }
}
