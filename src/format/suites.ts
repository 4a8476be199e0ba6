/**
 * Cipher suites of wire format v1 (docs/FORMAT.md §2). A suite fixes the AEAD, the nonce
 * length and how many messages one key version may seal (§5).
 */

/** Suite ids as they appear in byte 1 of a ciphertext. Frozen, as SUITES: see there. */
export const SuiteId = Object.freeze({
  /** AES-256-GCM, 96-bit random nonce, 128-bit tag (NIST SP 800-38D). The default. */
  AES_256_GCM: 0x01,
  /** XChaCha20-Poly1305, 192-bit random nonce, 128-bit tag (draft-irtf-cfrg-xchacha). */
  XCHACHA20_POLY1305: 0x02,
} as const);
/** A suite id. */
export type SuiteId = (typeof SuiteId)[keyof typeof SuiteId];

/** Suite names accepted in options. */
export type SuiteName = 'AES-256-GCM' | 'XChaCha20-Poly1305';

/** Static parameters of a suite. */
export interface SuiteInfo {
  readonly id: SuiteId;
  readonly name: SuiteName;
  readonly keyLength: 32;
  readonly nonceLength: number;
  readonly tagLength: 16;
  /**
   * Most messages one key version may seal under this suite (docs/FORMAT.md §5), or
   * `Infinity` where the nonce space makes a limit unnecessary in practice.
   */
  readonly maxMessagesPerKey: number;
}

/**
 * NIST SP 800-38D §8.3: with random 96-bit IVs the total number of invocations of the
 * authenticated encryption function with one key shall not exceed 2^32 (IV collision
 * probability then stays below 2^-32).
 */
export const AES_GCM_MAX_MESSAGES = 2 ** 32;

/**
 * The suites, by id. Frozen with every entry: these are the objects the header parser and every
 * instance use, exported from the root, and an assignment by any code in the process changed them
 * silently — `maxMessagesPerKey` (the AES-GCM bound of §5) or the nonce length of what `encrypt`
 * seals (outside review 7, test/review7-format-suites-mutable.test.ts).
 */
export const SUITES: Readonly<Record<SuiteId, SuiteInfo>> = Object.freeze({
  [SuiteId.AES_256_GCM]: Object.freeze({
    id: SuiteId.AES_256_GCM,
    name: 'AES-256-GCM',
    keyLength: 32,
    nonceLength: 12,
    tagLength: 16,
    maxMessagesPerKey: AES_GCM_MAX_MESSAGES,
  }),
  [SuiteId.XCHACHA20_POLY1305]: Object.freeze({
    id: SuiteId.XCHACHA20_POLY1305,
    name: 'XChaCha20-Poly1305',
    keyLength: 32,
    nonceLength: 24,
    tagLength: 16,
    // 192-bit random nonces: after 2^64 messages the collision probability is still below
    // 2^-64, far beyond any conversation's lifetime, so no count is kept.
    maxMessagesPerKey: Infinity,
  }),
});

/** Looks a suite up by its id; undefined for ids this version does not know. */
export function suiteById(id: number): SuiteInfo | undefined {
  // The known ids, compared (on the hot path: every decrypt reads its suite byte here): `SUITES[id]`
  // read Object.prototype ('toString', a polluted prototype's [3]) and threw on a null-prototype
  // object (outside review 6, test/review6-parse-suite-lookup.test.ts). A new suite is added here too.
  return id === SuiteId.AES_256_GCM ? SUITES[SuiteId.AES_256_GCM] : id === SuiteId.XCHACHA20_POLY1305 ? SUITES[SuiteId.XCHACHA20_POLY1305] : undefined;
}

/** Looks a suite up by name; undefined for unknown names. */
export function suiteByName(name: string): SuiteInfo | undefined {
  for (const s of Object.values(SUITES)) if (s.name === name) return s;
  return undefined;
}
