/**
 * How a branch key wraps a conversation's data key (docs/FORMAT.md §6.3, docs/KEYS.md §9):
 *
 *   binding  = u16be(len(branch)) || branch || u32be(branch version)
 *           || u16be(len(conversation)) || conversation || u32be(key version)
 *   K_wrap   = HKDF-SHA-256(IKM = branch key, salt = 16 random bytes,
 *                           info = "keywarden/branch-wrap/v1" || 0x00 || binding, L = 32)
 *   wrapped  = 0x02 || salt || AES-256-GCM(K_wrap, nonce = 0^96, data key, AAD = binding)   (65 bytes)
 *
 * Why a key derived per wrap, rather than AES-GCM directly under the branch key: one branch key
 * version may wrap the keys of a billion conversations, past the 2^32 invocations that random
 * 96-bit nonces allow under one key (NIST SP 800-38D §8.3); a fresh 128-bit salt per wrap makes
 * every AES-GCM key single-use (hence the fixed nonce is safe) and pushes the limit to salt
 * collisions, ~2^64 wraps. The binding is both in the derivation and in the AEAD's associated data,
 * so a wrapped key moved to another conversation, key version, branch or branch version does not
 * unwrap. This mirrors the AWS Encryption SDK's hierarchical keyring (a key derived per data key
 * from the branch key and a 16-byte random salt), with HKDF (RFC 5869) as the KDF.
 */
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { nobleAead } from '../aead/noble.js';
import type { AeadImpl } from '../aead/types.js';
import { SuiteId } from '../format/suites.js';
import { clean, concatBytes, utf8 } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';

/** First byte of a branch-wrapped data key (LocalMasterKey's envelope is 0x01). */
export const BRANCH_WRAP_V1 = 0x02;
/** Length of a branch-wrapped data key: version, salt, encrypted key, tag. */
export const BRANCH_WRAPPED_KEY_LENGTH = 1 + 16 + 32 + 16;
const LABEL = utf8('keywarden/branch-wrap/v1');
const NONCE = new Uint8Array(12);

/** What a wrapping binds: the branch key version that wraps, and the conversation key it wraps. */
export interface WrapBinding {
  branch: string;
  branchVersion: number;
  conversationId: string;
  keyVersion: number;
}

/** The canonical binding bytes (length-prefixed, so distinct bindings never encode alike). */
export function bindingBytes(b: WrapBinding): Uint8Array {
  const branch = utf8(b.branch);
  const conv = utf8(b.conversationId);
  const out = new Uint8Array(2 + branch.length + 4 + 2 + conv.length + 4);
  const v = new DataView(out.buffer);
  v.setUint16(0, branch.length);
  out.set(branch, 2);
  const c = 2 + branch.length + 4;
  v.setUint32(c - 4, b.branchVersion);
  v.setUint16(c, conv.length);
  out.set(conv, c + 2);
  v.setUint32(c + 2 + conv.length, b.keyVersion);
  return out;
}

function wrappingKey(branchKey: Uint8Array, salt: Uint8Array, binding: Uint8Array): Uint8Array {
  return hkdf(sha256, branchKey, salt, concatBytes(LABEL, new Uint8Array([0]), binding), 32);
}

/**
 * Wraps `dataKey` (32 bytes) under `branchKey`; the caller keeps (and wipes) both. `salt` only
 * for vectors. `aead` runs AES-256-GCM: native node:crypto on Node (an order of magnitude faster
 * than the portable one for a 32-byte key, whose cost is the key schedule), same bytes either way.
 */
export function branchWrap(branchKey: Uint8Array, binding: WrapBinding, dataKey: Uint8Array, salt: Uint8Array = randomBytes(16), aead: AeadImpl = nobleAead): Uint8Array {
  const bind = bindingBytes(binding);
  const k = wrappingKey(branchKey, salt, bind);
  try {
    return aead.seal(SuiteId.AES_256_GCM, k, NONCE, dataKey, bind, concatBytes(new Uint8Array([BRANCH_WRAP_V1]), salt));
  } finally {
    clean(k);
  }
}

/** Unwraps; null for anything that does not authenticate under this branch key and binding. */
export function branchUnwrap(branchKey: Uint8Array, binding: WrapBinding, wrapped: Uint8Array, aead: AeadImpl = nobleAead): Uint8Array | null {
  if (!(wrapped instanceof Uint8Array) || wrapped.length !== BRANCH_WRAPPED_KEY_LENGTH || wrapped[0] !== BRANCH_WRAP_V1) return null;
  const bind = bindingBytes(binding);
  const k = wrappingKey(branchKey, wrapped.subarray(1, 17), bind);
  try {
    return aead.open(SuiteId.AES_256_GCM, k, NONCE, wrapped, bind, 17);
  } catch {
    return null;
  } finally {
    clean(k);
  }
}
