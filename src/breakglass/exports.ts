/**
 * Everything `keywarden/breakglass` exports besides `BreakGlass`, shared by its portable and
 * Node builds so that both export exactly the same names.
 * @module
 */
export type { BreakGlassOptions, BreakGlassResult } from './access.js';
export type { BreakGlassAttachmentResult } from './attachment.js';
export { MemoryTokenLedger } from './ledger.js';
export type { TokenLedger } from './ledger.js';
export { validatePolicy, verifyToken, inspectToken } from './policy.js';
export type { BreakGlassPolicy, PolicyFactor, ApproverKey, VerifiedToken, TokenInspection } from './policy.js';
export { REASON_CODES, APPROVAL_TYP, REQUEST_SIGNATURE_TYP, createRequest, canonicalRequest, requestDigest, approveRequest, signRequest, encodeToken, decodeToken, generateApproverKey, nameSkeleton } from './token.js';
export type { BreakGlassRequest, BreakGlassScope, BreakGlassToken, Jwk, ReasonCode, RequestFields } from './token.js';
