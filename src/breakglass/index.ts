/**
 * `keywarden/breakglass`: reading messages under an approved policy token (docs/BREAK-GLASS.md)
 * — tokens, trust policies, the single-use ledger and `BreakGlass` itself. This is the portable
 * build; on Node the same exports come from ./node.ts with native AEADs as the default.
 *
 * @example
 * ```ts
 * import { BreakGlass, createRequest, approveRequest, encodeToken } from 'keywarden/breakglass';
 * ```
 * @module
 */
export { BreakGlass } from './access.js';
export * from './exports.js';
