/**
 * Ed25519 (RFC 8032) for signed notes and cosignatures, through @noble/curves: one place that
 * fixes the verification rule. Verification is strict RFC 8032 (no ZIP-215 leniency), the rule
 * Go's crypto/ed25519 applies, so a note that an outside auditor's Go tools reject is never
 * accepted here; checked against the Wycheproof EdDSA vectors (test/primitives-wycheproof.test.ts).
 */
import { ed25519 } from '@noble/curves/ed25519.js';

/** Public key of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** Deterministic signature of `message` under the 32-byte `seed`. */
export function ed25519Sign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  return ed25519.sign(message, seed);
}

/** Strict verification that never throws: false for any malformed key, signature or message. */
export function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 64 || !(message instanceof Uint8Array)) return false;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}
