/**
 * Named prepared statements for keywarden's own SQL (docs/KEYS.md §11.2).
 *
 * Why: node-postgres sends a parameterised query as an unnamed statement, which PostgreSQL
 * parses, analyses and plans on every call. Named, a statement is parsed once per connection and
 * its plan is cached. Measured here (2 cores, PostgreSQL 15, `.scratch`-style run of 32
 * concurrent first encrypts for 8 s): PostgreSQL's CPU per new conversation fell from ~0.9 to
 * ~0.5 ms, and new conversations/s rose ~40 % with audit off and ~55 % with the audit outbox on.
 *
 * How, and what can go wrong:
 * - A statement's name is `kw_` + 16 hex digits of SHA-256(text) + a suffix drawn per client
 *   connection object: a server session that outlives the client connection (PGlite's socket
 *   server keeps one backend for every connection) never sees a name twice for another client.
 * - Statements without parameters (BEGIN, COMMIT, DDL) stay unnamed, and at most 256 texts per
 *   process are named (keywarden's SQL is a fixed set; the bound guards the server's memory).
 * - A pool behind a pooler that does not keep prepared statements per client (PgBouncer in
 *   transaction mode before 1.21) answers `26000 prepared statement does not exist` or `42P05
 *   already exists`; a table whose columns changed under a cached plan answers `0A000 cached plan
 *   must not change result type`. On any of these the pool falls back to unnamed statements for
 *   good, and a statement run on the pool alone is retried once, unnamed. `preparedStatements:
 *   false` on the stores turns naming off from the start.
 * @module
 */
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { InvalidInputError } from '../errors.js';
import { sha256 } from '../util/digest.js';
import { toHex } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';

/** Pools and clients whose statements go unnamed. */
const unnamed = new WeakSet<object>();
/** The pool a client was checked out from by keywarden, to switch the pool off from its client. */
const poolOf = new WeakMap<object, Pool>();
/** Per-client suffix of statement names. */
const suffixes = new WeakMap<object, string>();
/** Statement text -> name stem. */
const stems = new Map<string, string>();
const MAX_NAMED_TEXTS = 256;

/** SQLSTATEs after which a pool stops naming statements (see the module comment). */
const FALLBACK_SQLSTATES = new Set(['26000', '42P05', '0A000']);

/** Whether a SQLSTATE (and message) says a named statement was not kept. @internal */
export function isNamingFailure(code: unknown, message: unknown): boolean {
  if (typeof code !== 'string' || !FALLBACK_SQLSTATES.has(code)) return false;
  // 0A000 is also "feature not supported" in general: only the cached-plan case is about naming.
  return code !== '0A000' || /cached plan/i.test(String(message));
}

/**
 * Applies a store's `preparedStatements` option: `false` sends this pool's statements unnamed
 * from now on (for every store on the pool); `true` and undefined leave naming on.
 * @internal
 */
export function preparedStatementsOption(pool: Pool, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'boolean') throw new InvalidInputError('options.preparedStatements', `expected a boolean, got ${typeof value}`);
  if (!value) unnamed.add(pool);
}

/** Remembers which pool a client keywarden checked out came from. @internal */
export function checkedOut(pool: Pool, client: PoolClient): void {
  poolOf.set(client, pool);
  if (unnamed.has(pool)) unnamed.add(client);
}

/** The query to send on `client`: named when it has parameters and naming is on. @internal */
export function statement(client: PoolClient, text: string, values: unknown[] | undefined): QueryConfig {
  if (values === undefined || values.length === 0 || unnamed.has(client)) return { text, ...(values !== undefined && { values }) };
  const pool = poolOf.get(client);
  if (pool !== undefined && unnamed.has(pool)) {
    unnamed.add(client);
    return { text, values };
  }
  let stem = stems.get(text);
  if (stem === undefined) {
    if (stems.size >= MAX_NAMED_TEXTS) return { text, values };
    stem = `kw_${toHex(sha256(new TextEncoder().encode(text))).slice(0, 16)}`;
    stems.set(text, stem);
  }
  let suffix = suffixes.get(client);
  if (suffix === undefined) suffixes.set(client, (suffix = toHex(randomBytes(4))));
  return { text, values, name: `${stem}_${suffix}` };
}

/**
 * After a failed statement: whether it failed because of naming (then the client's pool, and
 * the client, send unnamed statements from now on, and the caller may retry unnamed).
 * @internal
 */
export function namingFailed(client: PoolClient, err: unknown): boolean {
  if (err === null || typeof err !== 'object' || !isNamingFailure((err as { code?: unknown }).code, (err as { message?: unknown }).message)) return false;
  unnamed.add(client);
  const pool = poolOf.get(client);
  if (pool !== undefined) unnamed.add(pool);
  return true;
}
