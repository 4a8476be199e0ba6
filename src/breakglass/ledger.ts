/**
 * The token ledger: makes every break-glass token single-use. Consuming a token id and
 * recording the "intent" audit entry happen as one step — if the audit append fails, the token
 * stays unused and nothing is decrypted; if the token was used before, nothing is recorded as
 * intent and the caller refuses with ERR_BG_REPLAYED. Across processes, PostgresTokenLedger
 * (./postgres-ledger.ts) keeps the same contract inside one database transaction.
 */
import { InvalidInputError } from '../errors.js';

export interface TokenLedger {
  /**
   * Marks `jti` used and runs `record` as one step. Resolves true when this call consumed the
   * token; false when it was already used (or is being used by a concurrent call that succeeds).
   * If `record` rejects, the token is not consumed and the rejection propagates. A database
   * ledger passes its open transaction to `record` as `tx`, so that the audit append joins it
   * (when the audit log's store can join one; BreakGlass appends the intent otherwise).
   */
  consume(jti: string, expiresAt: Date, record: (tx?: unknown) => Promise<void>): Promise<boolean>;
}

/**
 * The arguments of {@link TokenLedger.consume}, checked before anything is recorded: a bad one
 * found after `record` ran would leave an intent entry for a token still unused (outside review,
 * 2026-12-02). A token id is non-empty, well-formed and without U+0000 (a database text column
 * holds neither a NUL nor a lone surrogate). @internal
 */
export function checkConsumeArgs(jti: unknown, expiresAt: unknown, record: unknown): void {
  if (typeof jti !== 'string' || jti.length === 0 || jti.includes('\u0000') || !jti.isWellFormed()) {
    throw new InvalidInputError('jti', 'expected a non-empty well-formed string without U+0000');
  }
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) throw new InvalidInputError('expiresAt', 'expected a valid Date');
  if (typeof record !== 'function') throw new InvalidInputError('record', 'expected a function');
}

// Registered symbol: every copy of keywarden in the process (ESM and CommonJS builds) finds the
// same default ledger, so loading both cannot double the redemptions of a token.
const PROCESS_LEDGER = Symbol.for('keywarden.breakglass.processTokenLedger.v1');

/**
 * The process-wide default ledger of BreakGlass (created on first use): one per process, not one
 * per BreakGlass instance, so replay protection does not depend on how often a service builds one.
 *
 * @example
 * ```ts
 * processTokenLedger() === processTokenLedger(); // true
 * ```
 */
export function processTokenLedger(): TokenLedger {
  const g = globalThis as { [PROCESS_LEDGER]?: TokenLedger };
  return (g[PROCESS_LEDGER] ??= new MemoryTokenLedger());
}

/**
 * A {@link TokenLedger} in memory, for one process. Concurrent redemptions of one token are
 * serialised per token id: exactly one can succeed.
 *
 * @example
 * ```ts
 * const breakGlass = new BreakGlass({ ..., ledger: new MemoryTokenLedger() });
 * ```
 */
export class MemoryTokenLedger implements TokenLedger {
  readonly #used = new Map<string, number>();
  readonly #pending = new Map<string, Promise<boolean>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    if (typeof now !== 'function') throw new InvalidInputError('now', 'expected a function returning ms since 1970');
    this.#now = now;
  }

  async consume(jti: string, expiresAt: Date, record: (tx?: unknown) => Promise<void>): Promise<boolean> {
    checkConsumeArgs(jti, expiresAt, record);
    for (;;) {
      if (this.#used.has(jti)) return false;
      const pending = this.#pending.get(jti);
      if (pending === undefined) break;
      // Another redemption is recording its intent: wait for it, then look again (if it
      // failed, the token is still unused and one of the waiters may take it).
      await pending.catch(() => false);
    }
    const p = (async () => {
      await record();
      this.#used.set(jti, expiresAt.getTime());
      return true;
    })();
    this.#pending.set(jti, p);
    try {
      return await p;
    } finally {
      this.#pending.delete(jti);
      this.#prune();
    }
  }

  /** Token ids whose token has expired can never be redeemed again: forget them. */
  #prune(): void {
    if (this.#used.size < 1024) return;
    const now = this.#now();
    for (const [jti, exp] of this.#used) if (exp < now - 86_400_000) this.#used.delete(jti);
  }
}
