/**
 * `keywarden keys retain --cache-max-age` accepts values the library refuses, and the refusal
 * then comes out as "could not complete" (exit 3) in the library's words, after the command has
 * already opened its database pool — not as the usage error (exit 2) naming the flag.
 *
 * Where: src/cli/keys-retain.ts:57-58 parses `--cache-max-age` with parseDuration (src/cli/durations.ts:
 * anything up to 2^47 ms), but KeyCache allows at most 2^40 ms (src/cache/key-cache.ts:113,
 * `assertInt('cache.maxAgeMs', …, 0, 2 ** 40)`). The InvalidInputError is raised when withKeys
 * builds the Keywarden, inside withPool (src/cli/keys-config.ts withKeys), and its parameter
 * `cache.maxAgeMs` is not in keysParams (src/cli/keys-config.ts:59-72), so runCommand
 * (src/cli/common.ts) cannot name the flag and reports exit 3.
 *
 * Promised: src/cli/keys-config.ts module doc: "Everything on the command line and in files is
 * checked before any connection is made"; README: exit 2 = "usage: the command line is wrong
 * (one line naming the unknown or missing option)", exit 3 = "could not complete: database or
 * KMS unreachable, …". SECURITY.md: "bad input is refused naming the parameter".
 *
 * The same for `--batch-size` and `--list-limit` (src/cli/keys-retain.ts:62-63: integerArg without
 * the library's maxima 10,000 and 1,000,000, src/keys/retention.ts:96-97): they are checked by
 * kw.retain only, after withKeys has connected and opened the audit log, so with the database
 * unreachable `--batch-size 20000` ends as exit 3 "database: ECONNREFUSED" instead of the usage
 * error (`keys rewrap` bounds the same flag up front with boundedArg).
 *
 * Correct: `--cache-max-age` bounded like the library (or parsed with max 2^40 ms), refused as
 * exit 2 naming `--cache-max-age` before any connection; and `cache.maxAgeMs` mapped in keysParams.
 *
 * Now: --cache-max-age, --batch-size and --list-limit are bounded as the library bounds them,
 * before anything connects (exit 2).
 */
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/index.js';
import { keyFiles } from './support/keys-cli.js';

describe('keys retain --cache-max-age out of the library range', () => {
  it('is a usage error (exit 2) naming --cache-max-age', async () => {
    const err: string[] = [];
    const code = await main(
      // 20000w = 1.2e13 ms: under parseDuration's 2^47, over KeyCache's 2^40. The database is
      // unreachable (port 1): a usage error must not depend on it.
      ['keys', 'retain', '--older-than', '90d', '--dry-run', '--cache-max-age', '20000w', '--database-url', 'postgres://kw@127.0.0.1:1/none'],
      { out: () => undefined, err: (s) => void err.push(s), env: {} },
    );
    expect({ code, err: err.join('') }).toEqual({ code: 2, err: expect.stringContaining('--cache-max-age') });
  });

  it('--batch-size over the library maximum is refused before connecting (exit 2)', async () => {
    const files = await keyFiles();
    try {
      const err: string[] = [];
      const code = await main(
        ['keys', 'retain', '--older-than', '90d', '--batch-size', '20000', ...files.audit, '--database-url', 'postgres://kw@127.0.0.1:1/none'],
        { out: () => undefined, err: (s) => void err.push(s), env: {} },
      );
      expect({ code, err: err.join('') }).toEqual({ code: 2, err: expect.stringContaining('--batch-size') });
    } finally {
      await files.cleanup();
    }
  });
});
