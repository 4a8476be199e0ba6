/**
 * SHA-256 and HMAC-SHA-256 for the audit log, tokens and notes: OpenSSL through `node:crypto`
 * when the runtime has it, @noble/hashes everywhere else — the same bytes either way
 * (test/digest.test.ts checks the two against each other and against the NIST and RFC 4231
 * vectors).
 *
 * Why: the sequencer hashes every entry and tile and MACs every outbox record on the append
 * path. On Node, OpenSSL is ~3x (SHA-256 of 64 bytes) to ~4x (HMAC of 300 bytes) faster than the
 * JavaScript implementation (`npm run bench:audit` measures the effect). `node:crypto` is
 * reached through `process.getBuiltinModule` (Node >= 20.16) rather than a static import, so the
 * portable entry points still bundle for browsers and workers, where they use noble.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

/** The digests this module offers, one implementation. @internal */
export interface Digests {
  readonly name: 'node' | 'noble';
  /** SHA-256 of the concatenation of `parts`. */
  sha256(...parts: Uint8Array[]): Uint8Array;
  /** HMAC-SHA-256 under `key` of the concatenation of `parts`. */
  hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array;
}

/** @noble/hashes: any JavaScript runtime. @internal */
export const nobleDigests: Digests = {
  name: 'noble',
  sha256(...parts) {
    if (parts.length === 1) return nobleSha256(parts[0]!);
    const h = nobleSha256.create();
    for (const p of parts) h.update(p);
    return h.digest();
  },
  hmacSha256(key, ...parts) {
    if (parts.length === 1) return hmac(nobleSha256, key, parts[0]!);
    const h = hmac.create(nobleSha256, key);
    for (const p of parts) h.update(p);
    return h.digest();
  },
};

interface NodeCrypto {
  createHash(alg: string): { update(d: Uint8Array): unknown; digest(): Uint8Array };
  createHmac(alg: string, key: Uint8Array): { update(d: Uint8Array): unknown; digest(): Uint8Array };
  hash?: (alg: string, data: Uint8Array, encoding: 'buffer') => Uint8Array;
}

/**
 * `node:crypto` when the runtime offers it without a static import (`process.getBuiltinModule`,
 * Node >= 20.16), else undefined: browsers, workers and bundles for them never see the import.
 * Shared with util/ed25519.ts. @internal
 */
export function nodeCryptoModule(): Record<string, unknown> | undefined {
  try {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const c = typeof p?.getBuiltinModule === 'function' ? p.getBuiltinModule('node:crypto') : undefined;
    return c !== null && typeof c === 'object' ? (c as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function loadNodeCrypto(): NodeCrypto | undefined {
  const c = nodeCryptoModule() as Partial<NodeCrypto> | undefined;
  return typeof c?.createHash === 'function' && typeof c.createHmac === 'function' ? (c as NodeCrypto) : undefined;
}

/** A plain Uint8Array over a digest Buffer (its own 32-byte allocation, never a pool slab). */
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** Where short multi-part inputs are joined (hashing is synchronous, so one buffer serves all). */
const SCRATCH = new Uint8Array(2048);

function nodeDigests(c: NodeCrypto): Digests {
  const oneShot = c.hash;
  return {
    name: 'node',
    sha256(...parts) {
      // crypto.hash (Node >= 20.12) skips the Hash object: about half the cost for short inputs,
      // so short multi-part inputs (a leaf, two children) are joined in a scratch buffer first.
      if (oneShot !== undefined) {
        if (parts.length === 1) return plain(oneShot('sha256', parts[0]!, 'buffer'));
        let n = 0;
        for (const p of parts) n += p.length;
        if (n <= SCRATCH.length) {
          let at = 0;
          for (const p of parts) {
            SCRATCH.set(p, at);
            at += p.length;
          }
          const out = plain(oneShot('sha256', SCRATCH.subarray(0, n), 'buffer'));
          SCRATCH.fill(0, 0, n); // it may have held a token's canonical request
          return out;
        }
      }
      const h = c.createHash('sha256');
      for (const p of parts) h.update(p);
      return plain(h.digest());
    },
    hmacSha256(key, ...parts) {
      const h = c.createHmac('sha256', key);
      for (const p of parts) h.update(p);
      return plain(h.digest());
    },
  };
}

const nodeCrypto = loadNodeCrypto();

/** The implementation in use: node:crypto where available, else noble. @internal */
export const digests: Digests = nodeCrypto === undefined ? nobleDigests : nodeDigests(nodeCrypto);

/** node:crypto's, for the cross-check test; undefined on runtimes without it. @internal */
export const nativeDigests: Digests | undefined = nodeCrypto === undefined ? undefined : nodeDigests(nodeCrypto);

/** SHA-256 of the concatenation of `parts`. */
export function sha256(...parts: Uint8Array[]): Uint8Array {
  return digests.sha256(...parts);
}

/** HMAC-SHA-256 under `key` of the concatenation of `parts`. */
export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  return digests.hmacSha256(key, ...parts);
}
