/**
 * Outside review 3 (break-glass): `MemoryTokenLedger.consume` does not validate its parameters.
 *
 * Where: src/breakglass/ledger.ts:55-68. `consume(jti, expiresAt, record)` runs `record` (the
 * intent audit append) first and only afterwards calls `expiresAt.getTime()`. With an
 * `expiresAt` that is not a Date the intent is already recorded, then a raw TypeError (no ERR_
 * code, no parameter named) escapes and the token is NOT marked used — contrary to the
 * TokenLedger contract (ledger.ts:11-15: "If `record` rejects, the token is not consumed"; here
 * `record` succeeded) — so the same jti can be consumed again and a second intent recorded. A
 * non-string jti is accepted as is. PostgresTokenLedger (postgres-ledger.ts:150-154) checks all
 * three up front with InvalidInputError naming `jti` / `expiresAt` / `record`.
 *
 * Correct: the same up-front checks as PostgresTokenLedger (InvalidInputError with `param`),
 * before `record` runs and before anything is marked.
 *
 * Now: both ledgers check jti, expiresAt and record first (checkConsumeArgs), naming the parameter.
 */
import { describe, expect, it } from 'vitest';
import { MemoryTokenLedger } from '../src/breakglass/ledger.js';

const JTI = 'AAAAAAAAAAAAAAAAAAAAAA';

describe('MemoryTokenLedger.consume validates its parameters before recording', () => {
  it('an expiresAt that is not a Date: InvalidInputError naming expiresAt, and record never runs', async () => {
    const ledger = new MemoryTokenLedger();
    let records = 0;
    const err = await ledger.consume(JTI, 'tomorrow' as unknown as Date, async () => { records++; }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'expiresAt' });
    expect(records).toBe(0);
  });

  it('a consume that failed after its record ran does not leave the token for a second intent', async () => {
    const ledger = new MemoryTokenLedger();
    let records = 0;
    const record = async () => { records++; };
    await ledger.consume(JTI, undefined as unknown as Date, record).catch(() => undefined);
    await ledger.consume(JTI, new Date(Date.now() + 3_600_000), record);
    // One intent for one token: today the first call records, throws a TypeError, leaves the jti unused, and the second records again.
    expect(records).toBe(1);
  });

  it('an invalid Date: InvalidInputError naming expiresAt', async () => {
    const ledger = new MemoryTokenLedger();
    await expect(ledger.consume(JTI, new Date(Number.NaN), async () => undefined)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'expiresAt' });
  });

  it('a jti that is not a string: InvalidInputError naming jti', async () => {
    const ledger = new MemoryTokenLedger();
    await expect(ledger.consume(42 as unknown as string, new Date(), async () => undefined)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'jti' });
  });

  it('a record that is not a function: InvalidInputError naming record', async () => {
    const ledger = new MemoryTokenLedger();
    await expect(ledger.consume(JTI, new Date(), 'x' as unknown as () => Promise<void>)).rejects.toMatchObject({ code: 'ERR_INVALID_INPUT', param: 'record' });
  });
});
