/**
 * CSPRNG bytes for nonces. Uses the Web Crypto `getRandomValues` present on every supported
 * runtime (Node >= 20, browsers, workers). Nonces are drawn from a pool refilled 4 KiB at a
 * time, so the hot path pays one CSPRNG call per ~340 messages rather than one per message;
 * nonces are public, so holding them briefly in memory exposes nothing.
 */
import { InternalError } from '../errors.js';

const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

function getRandomValues(out: Uint8Array): void {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (!c || typeof c.getRandomValues !== 'function') {
    throw new InternalError('keywarden: no CSPRNG available (globalThis.crypto.getRandomValues)');
  }
  // getRandomValues fills at most 65536 bytes per call.
  for (let off = 0; off < out.length; off += 65536) c.getRandomValues(out.subarray(off, Math.min(out.length, off + 65536)));
}

/** Writes `length` random bytes into `out` at `offset`. Each byte is handed out once. */
export function fillNonce(out: Uint8Array, offset: number, length: number): void {
  if (poolOffset + length > POOL_SIZE) {
    getRandomValues(pool);
    poolOffset = 0;
  }
  out.set(pool.subarray(poolOffset, poolOffset + length), offset);
  // Zero what was handed out so no nonce can be handed out twice even after a bug elsewhere.
  pool.fill(0, poolOffset, poolOffset + length);
  poolOffset += length;
}

/** A fresh array of `length` CSPRNG bytes (for keys: never pooled). */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  getRandomValues(out);
  return out;
}
