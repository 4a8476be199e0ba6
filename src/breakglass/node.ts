/**
 * `keywarden/breakglass` on Node: the same exports as the portable build, with `BreakGlass`
 * defaulting to native node:crypto AEADs.
 * @module
 */
import { nodeAead } from '../aead/node.js';
import { BreakGlass as PortableBreakGlass, type BreakGlassOptions } from './access.js';

export * from './exports.js';

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
    // Own property only: a polluted Object.prototype.aead is not the caller's choice.
    super(options !== null && typeof options === 'object' && !Object.hasOwn(options, 'aead') ? { ...options, aead: nodeAead } : options);
  }
}
