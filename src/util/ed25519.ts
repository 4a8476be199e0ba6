/**
 * Ed25519 (RFC 8032) for signed notes and cosignatures: one place that fixes the verification
 * rule. Verification is always @noble/curves, strict RFC 8032 (no ZIP-215 leniency), the rule
 * Go's crypto/ed25519 applies, so a note that an outside auditor's Go tools reject is never
 * accepted here; checked against the Wycheproof EdDSA vectors (test/primitives-wycheproof.test.ts).
 *
 * Signing is deterministic (RFC 8032 §5.1.6), so any correct implementation gives the same
 * bytes: on Node it is OpenSSL through `node:crypto` (~46 µs here against noble's ~910 µs — the
 * sequencer signs a tree head per batch), reached through `process.getBuiltinModule` so the
 * portable entry points still bundle for browsers, where noble signs. test/digest.test.ts checks
 * the two against each other and against RFC 8032's vectors.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { clean, equalBytes } from './bytes.js';
import { nodeCryptoModule } from './digest.js';

interface NodeSigning {
  createPrivateKey(o: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): unknown;
  sign(algorithm: null, data: Uint8Array, key: unknown): Uint8Array;
}

function loadNodeSigning(): NodeSigning | undefined {
  const c = nodeCryptoModule() as Partial<NodeSigning> | undefined;
  return typeof c?.createPrivateKey === 'function' && typeof c.sign === 'function' ? (c as NodeSigning) : undefined;
}

const nodeSigning = loadNodeSigning();
/** PKCS#8 wrapping of a 32-byte Ed25519 seed (RFC 8410 §7): this prefix, then the seed. */
const PKCS8_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);
/**
 * OpenSSL key objects by seed array: a signer signs many times with one seed. The entry keeps a
 * copy of the seed and is rebuilt when the array's bytes change (a caller reusing the array).
 */
const keyObjects = new WeakMap<Uint8Array, { seed: Uint8Array; key: unknown }>();

function nodeKey(n: NodeSigning, seed: Uint8Array): unknown {
  const cached = keyObjects.get(seed);
  if (cached !== undefined && equalBytes(cached.seed, seed)) return cached.key;
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX);
  der.set(seed, PKCS8_PREFIX.length);
  try {
    const key = n.createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    keyObjects.set(seed, { seed: seed.slice(), key });
    return key;
  } finally {
    clean(der);
  }
}

/** Signs with noble (any runtime; the cross-check of the OpenSSL path). @internal */
export function ed25519SignNoble(message: Uint8Array, seed: Uint8Array): Uint8Array {
  return ed25519.sign(message, seed);
}

/** Whether signing goes through node:crypto here. @internal */
export const ED25519_NATIVE = nodeSigning !== undefined;

/** Public key of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** Deterministic signature of `message` under the 32-byte `seed`. */
export function ed25519Sign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  if (nodeSigning === undefined || !(seed instanceof Uint8Array) || seed.length !== 32 || !(message instanceof Uint8Array)) return ed25519.sign(message, seed);
  const sig = nodeSigning.sign(null, message, nodeKey(nodeSigning, seed));
  return new Uint8Array(sig.buffer, sig.byteOffset, sig.byteLength);
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
