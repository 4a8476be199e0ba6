/**
 * BreakGlass: reading messages for anyone who is not the platform's own service (trust & safety
 * reviewers, the legal team), only with an approved policy token (docs/BREAK-GLASS.md).
 *
 * Order of operations, and why:
 *  1. verify the token and every approval (cheap checks first, then each signature on its own);
 *  2. check the call against the token's scope (conversation, number of messages);
 *  3. consume the token id together with an "intent" audit entry — after this point the access
 *     is on the record before any key is touched, and a second use is a replay;
 *  4. unwrap only key versions whose validity period overlaps the token's time window, so the
 *     window is enforced by which keys exist in memory, not only by a check;
 *  5. decrypt;
 *  6. append an "outcome" entry with the count and a digest of exactly the ciphertexts opened;
 *  7. only then return plaintexts. A failed or timed-out audit write returns nothing, and the
 *     keys unwrapped for the call are wiped in every case.
 * Every refusal is recorded as a `breakglass.refused` entry (best effort when the audit log is
 * itself the problem).
 */
import { nobleAead } from '../aead/noble.js';
import type { AeadImpl } from '../aead/types.js';
import { type AuditEvent, type AuditIdHasher, ciphertextsDigest } from '../audit/entry.js';
import type { AuditLog } from '../audit/log.js';
import { AuditUnavailableError, BreakGlassError, type BreakGlassErrorCode, DecryptionError, InvalidInputError, KeywardenError } from '../errors.js';
import { AadBuilder, HEADER_LENGTH, parseHeader } from '../format/wire.js';
import { suiteByName } from '../format/suites.js';
import { keyContext } from '../keys/records.js';
import type { MasterKeyProvider } from '../kms/provider.js';
import type { KeyStore } from '../store/types.js';
import { clean, toHex } from '../util/bytes.js';
import { randomBytes } from '../util/random.js';
import { MAX_AAD_BYTES, assertOptions, conversationIdBytes } from '../util/validate.js';
import { VERSION } from '../version.js';
import type { DecryptResult } from '../keywarden.js';
import { type DecryptItem, parseDecryptItems } from '../format/items.js';
import { type TokenLedger, MemoryTokenLedger } from './ledger.js';
import { type BreakGlassPolicy, validatePolicy, verifyToken } from './policy.js';
import { type BreakGlassRequest, type BreakGlassToken, decodeToken } from './token.js';

/** Options of {@link BreakGlass}. */
export interface BreakGlassOptions {
  /** The trust policy: approvers, thresholds, allowed reasons, limits. */
  policy: BreakGlassPolicy;
  /** The master key that wraps conversation keys (the same as the service's). */
  masterKey: MasterKeyProvider;
  /** The key store holding wrapped conversation keys. */
  keyStore: KeyStore;
  /** Where every access and refusal is recorded; fail-closed. */
  audit: { log: AuditLog; ids: AuditIdHasher; actor: string };
  /** Single-use enforcement. Default: a MemoryTokenLedger (one process only). */
  ledger?: TokenLedger;
  /** AEAD implementation (default: native on Node, noble elsewhere). */
  aead?: AeadImpl;
  /** Clock, for tests. */
  now?: () => Date;
}

/** What a break-glass read returns. */
export interface BreakGlassResult {
  /** Token id (jti) that was consumed. */
  token: string;
  /** Approvers counted for the token. */
  approvers: string[];
  /** Id of the intent audit entry. */
  intent: string;
  /** One result per item, in order; items outside the token's time window fail with ERR_BG_OUT_OF_SCOPE. */
  results: DecryptResult[];
  /** Number of messages opened. */
  opened: number;
}


/**
 * Break-glass access.
 *
 * @example
 * ```ts
 * const bg = new BreakGlass({ policy, masterKey, keyStore, audit: { log, ids, actor: 'tns-console' } });
 * const { results } = await bg.decrypt(tokenJson, conversationId, rows.map((r) => ({ ciphertext: r.body, aad: r.id })));
 * ```
 */
export class BreakGlass {
  readonly #o: Required<Omit<BreakGlassOptions, 'aead'>> & { aead: AeadImpl };
  readonly #ad = new AadBuilder(MAX_AAD_BYTES);

  constructor(options: BreakGlassOptions) {
    assertOptions('options', options, ['policy', 'masterKey', 'keyStore', 'audit', 'ledger', 'aead', 'now']);
    validatePolicy(options?.policy);
    if (!options.masterKey || typeof options.masterKey.unwrapDataKey !== 'function') throw new InvalidInputError('options.masterKey', 'expected a MasterKeyProvider');
    if (!options.keyStore || typeof options.keyStore.getVersion !== 'function') throw new InvalidInputError('options.keyStore', 'expected a KeyStore');
    assertOptions('options.audit', options.audit, ['log', 'ids', 'actor']);
    if (!options.audit?.log || !options.audit.ids || typeof options.audit.actor !== 'string' || options.audit.actor.length === 0) {
      throw new InvalidInputError('options.audit', 'expected { log: AuditLog, ids: AuditIdHasher, actor: string }');
    }
    this.#o = {
      ...options,
      ledger: options.ledger ?? new MemoryTokenLedger(),
      aead: options.aead ?? nobleAead,
      now: options.now ?? (() => new Date()),
    };
  }

  /**
   * Opens messages of one conversation under a break-glass token (single use). Refusals throw
   * a {@link BreakGlassError} with a stable code and are recorded; audit failures throw
   * `ERR_AUDIT_UNAVAILABLE` and release nothing.
   */
  async decrypt(token: string | BreakGlassToken, conversationId: string, items: readonly DecryptItem[]): Promise<BreakGlassResult> {
    conversationIdBytes(conversationId);
    const parsed = parseDecryptItems(items);
    const now = this.#o.now();
    let request: BreakGlassRequest | undefined;
    try {
      request = (typeof token === 'string' ? decodeToken(token) : token).request;
    } catch {
      // verifyToken reports the malformed token below
    }
    const verified = await this.#refuseOnError(request, () => verifyToken(token, this.#o.policy, now));
    const req = verified.request;
    if (!req.scope.conversations.includes(conversationId)) {
      await this.#refuse(req, 'ERR_BG_OUT_OF_SCOPE', 'conversation is not in the token scope');
    }
    if (parsed.length > req.scope.maxMessages) {
      await this.#refuse(req, 'ERR_BG_MESSAGE_LIMIT', `${parsed.length} messages requested, the token allows ${req.scope.maxMessages}`);
    }

    // 3. Single use, on the record before any key is touched.
    const intentId = this.#eventId();
    const intent = this.#event('breakglass.access', intentId, req, {
      approvers: verified.approvers,
      requester: req.requester,
      case: req.detail.length > 0 ? this.#o.audit.ids.case(req.detail) : null,
      scope: { ...req.scope, conversations: req.scope.conversations.map((c) => this.#o.audit.ids.conversation(c)) },
    });
    let consumed: boolean;
    try {
      // A database ledger hands us its transaction: the intent entry commits with the consumption.
      consumed = await this.#o.ledger.consume(req.jti, new Date(req.exp * 1000), async (tx) => {
        await this.#o.audit.log.append(intent, tx === undefined ? undefined : { tx });
      });
    } catch (err) {
      throw err instanceof KeywardenError ? err : new AuditUnavailableError('could not record the break-glass intent', err);
    }
    if (!consumed) await this.#refuse(req, 'ERR_BG_REPLAYED', 'this token was already used');

    // 4-5. Only key versions valid during the window are unwrapped; all are wiped at the end.
    const keys = new Map<number, Uint8Array | 'outside' | 'missing'>();
    const plaintexts: Uint8Array[] = [];
    try {
      const from = Date.parse(req.scope.from);
      const to = Date.parse(req.scope.to);
      const results: DecryptResult[] = [];
      const opened: Uint8Array[] = [];
      for (const { ct, aad } of parsed) {
        const h = parseHeader(ct);
        if (h === undefined) {
          results.push({ ok: false, error: new DecryptionError() });
          continue;
        }
        let key = keys.get(h.keyVersion);
        if (key === undefined) {
          key = await this.#keyInWindow(conversationId, h.keyVersion, from, to);
          keys.set(h.keyVersion, key);
        }
        if (key === 'outside') {
          results.push({ ok: false, error: new BreakGlassError('ERR_BG_OUT_OF_SCOPE', 'message key version is outside the token time window') });
          continue;
        }
        const pt = key === 'missing' ? null : this.#open(conversationId, key, h, ct, aad);
        if (pt === null) {
          results.push({ ok: false, error: new DecryptionError() });
          continue;
        }
        plaintexts.push(pt);
        results.push({ ok: true, plaintext: pt });
        opened.push(ct);
      }
      // 6. The outcome is recorded before anything is released.
      await this.#o.audit.log.append(
        this.#event('breakglass.outcome', this.#eventId(), req, { intent: intentId, outcome: 'released', messages: opened.length, ciphertexts: ciphertextsDigest(opened) }),
      );
      return { token: req.jti, approvers: verified.approvers, intent: intentId, results, opened: opened.length };
    } catch (err) {
      for (const p of plaintexts) clean(p);
      await this.#o.audit.log
        .append(this.#event('breakglass.outcome', this.#eventId(), req, { intent: intentId, outcome: 'failed', messages: 0, ciphertexts: ciphertextsDigest([]) }))
        .catch(() => undefined);
      throw err instanceof KeywardenError ? err : new AuditUnavailableError('break-glass failed before its outcome was recorded', err);
    } finally {
      for (const k of keys.values()) if (typeof k !== 'string') clean(k);
    }
  }

  /**
   * The unwrapped key of a version whose validity [activatedAt, supersededAt) overlaps the
   * token window [from, to]; 'outside' when it does not (nothing is unwrapped); 'missing' when
   * the version does not exist.
   */
  async #keyInWindow(conversationId: string, version: number, from: number, to: number): Promise<Uint8Array | 'outside' | 'missing'> {
    const rec = await this.#o.keyStore.getVersion(conversationId, version);
    if (rec === undefined || !suiteByName(rec.suite)) return 'missing';
    const start = rec.activatedAt.getTime();
    const end = rec.supersededAt === null ? Infinity : rec.supersededAt.getTime();
    if (start > to || end <= from) return 'outside';
    return this.#o.masterKey.unwrapDataKey(rec.wrappedKey, keyContext(conversationId, version), rec.masterKeyId);
  }

  #open(conversationId: string, key: Uint8Array, h: NonNullable<ReturnType<typeof parseHeader>>, ct: Uint8Array, aad: Uint8Array | string): Uint8Array | null {
    const ad = this.#ad.build(h.suite.id, h.keyVersion, conversationId, aad);
    return this.#o.aead.open(h.suite.id, key, ct.slice(HEADER_LENGTH, h.bodyOffset), ct, ad, h.bodyOffset);
  }

  #eventId(): string {
    return toHex(randomBytes(16));
  }

  #event(type: AuditEvent['type'], id: string, req: BreakGlassRequest, fields: Record<string, unknown>): AuditEvent {
    return { id, type, time: this.#o.now().toISOString(), actor: this.#o.audit.actor, lib: `keywarden/${VERSION}`, token: req.jti, ...(type === 'breakglass.access' ? { reason: req.reason } : {}), ...fields } as AuditEvent;
  }

  /** Records a refusal (best effort) and throws it. */
  async #refuse(req: BreakGlassRequest | undefined, code: BreakGlassErrorCode, message: string): Promise<never> {
    const err = new BreakGlassError(code, message);
    await this.#record(req, err);
    throw err;
  }

  async #refuseOnError<T>(req: BreakGlassRequest | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BreakGlassError) await this.#record(req, err);
      throw err;
    }
  }

  async #record(req: BreakGlassRequest | undefined, err: KeywardenError): Promise<void> {
    const token = typeof req?.jti === 'string' && req.jti.length > 0 && req.jti.length <= 1024 ? req.jti : 'unparseable';
    const reason = typeof req?.reason === 'string' && req.reason.length > 0 && req.reason.length <= 1024 ? req.reason : 'unknown';
    const event = { id: this.#eventId(), type: 'breakglass.refused', time: this.#o.now().toISOString(), actor: this.#o.audit.actor, lib: `keywarden/${VERSION}`, token, reason, refusal: err.code } as AuditEvent;
    // A refusal is refused either way; if even its record cannot be written, the caller still
    // gets the refusal (not a hang), and the audit log's own unavailability shows elsewhere.
    await this.#o.audit.log.append(event).catch(() => undefined);
  }
}
