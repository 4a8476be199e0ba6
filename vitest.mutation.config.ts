import { defineConfig } from 'vitest/config';

// `npm run mutation` (stryker.config.mjs): the test files that exercise the mutated core (wire
// format, AEAD wrappers, key lifecycle, break-glass token and policy checks, Merkle tree hashing).
// The rest of the fast suite (CLI, PostgreSQL, audit stores and notes, the KMS server, the cache
// model, the demo) tests other modules, yet covers core code through them: under Stryker every
// covering test re-runs for every mutant, and with them a full run was estimated at 5-14 hours
// on this 2-core machine. Survivors of a run with this list can be re-checked against the whole
// fast suite: `npx stryker run stryker.full.config.mjs --mutate <file:line...>`.
// KEYWARDEN_MUT_TESTS (comma-separated paths or globs) narrows the list for one file's run, e.g.
// the Merkle tree with its own suites only (docs/MUTATION.md, "How to run").
const only = process.env.KEYWARDEN_MUT_TESTS?.split(',').map((s) => s.trim()).filter(Boolean);

export default defineConfig({
  test: {
    include: only?.length ? only : [
      // wire format and AEADs
      'test/format-vectors.test.ts',
      'test/format-limits.test.ts',
      'test/aead-*.test.ts',
      'test/primitives-wycheproof.test.ts',
      'test/keywarden-properties.test.ts',
      // key lifecycle (through Keywarden)
      'test/validation.test.ts',
      'test/review-fixes.test.ts',
      'test/keywarden-lifecycle.test.ts',
      'test/keywarden-cache.test.ts',
      'test/keywarden-audit.test.ts',
      'test/kms-deadline.test.ts',
      'test/watch-key-changes.test.ts',
      'test/key-watcher.test.ts',
      'test/key-path.test.ts',
      'test/key-reservations.test.ts',
      'test/key-lifecycle.test.ts',
      // shredding, new generations, retention and the rotation policy (issue #12) run through the
      // same lifecycle code; the branch-key and master-key re-wrap suites (src/keys/branch-keys.ts,
      // rewrap.ts, outside the measured core) are left out: ~35 s per covering mutant here.
      'test/keywarden-shred.test.ts',
      'test/keywarden-shred-edges.test.ts',
      'test/keywarden-retention.test.ts',
      'test/keywarden-rotation-policy.test.ts',
      // a new conversation's key and its audit record in one statement (PGlite, or DATABASE_URL)
      'test/audit-new-conversation.test.ts',
      // key records as stores copy them, and the encryption context the master keys bind
      'test/store-memory.test.ts',
      'test/local-master-key.test.ts',
      'test/aws-kms.test.ts',
      // break-glass tokens and policy
      'test/breakglass-token.test.ts',
      'test/breakglass-limits.test.ts',
      'test/breakglass-jose-independent.test.ts',
      'test/breakglass-access.test.ts',
      'test/breakglass-outcome.test.ts',
      'test/breakglass-cli-token.test.ts',
      // break-glass opens its own copies of the caller's page (src/format/items.ts copyItems)
      'test/breakglass-toctou.test.ts',
      // the outside review of 2026-12-01: refusal fields, the intent's size, a ledger's word,
      // wiping after a failure; a load racing a rotation (the cache's active mark)
      'test/breakglass-refusal-fields.test.ts',
      'test/breakglass-intent-size.test.ts',
      'test/breakglass-ledger-contract.test.ts',
      'test/breakglass-failed-wipe.test.ts',
      'test/rotation-load-race.test.ts',
      'test/aws-kms-pinned.test.ts',
      // Merkle tree
      'test/audit-merkle.test.ts',
      'test/audit-interop.test.ts',
    ],
    exclude: ['test/ci/**', 'node_modules/**'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
