/**
 * BreakGlass: reading messages for anyone who is not the platform's own service (trust & safety
 * reviewers, the legal team), only with an approved policy token (docs/BREAK-GLASS.md).
 *
 * Order of operations, and why:
 *  1. verify the token and every approval (cheap checks first, then each signature on its own);
 *  2. check the call against the token's scope (conversation, number of messages);
 *  3. consume the token id together with an "intent" audit entry — after this point the access
 *     is on the record before any key is touched, and a second use is a replay;
 *  4. unwrap only key versions a message of the page needs: one whose validity overlaps the
 *     window, or whose v2 message's header time lies inside it (a stale instance's seal; that
 *     time is authenticated only after the unwrap, so a forged one costs an unwrap and fails
 *     decryption: docs/BREAK-GLASS.md §5);
 *  5. decrypt;
 *  6. append an "outcome" entry with the count and a digest of exactly the ciphertexts opened;
 *  7. only then return plaintexts. A failed or timed-out audit write returns nothing, and the
 *     keys unwrapped for the call are wiped in every case.
 * Every refusal is recorded as a `breakglass.refused` entry (best effort when the audit log is
 * itself the problem).
 */
import { nobleAead } from '../aead/noble.js';
import type { AeadImpl } from '../aead/types.js';
import { type AuditEvent, type AuditIdHasher, MAX_ENTRY_BYTES, ciphertextsDigest, encodeEntry, newEvent } from '../audit/entry.js';
import type { AuditLog, AuditPending } from '../audit/log.js';
import { AuditEntryError, AuditUnavailableError, BreakGlassError, type BreakGlassErrorCode, DecryptionError, InternalError, InvalidInputError, KeyShreddedError, KeywardenError } from '../errors.js';
import { type DecryptItem, type DecryptResult, type ParsedItems, copyItems, parseDecryptItems } from '../format/items.js';
import type { SuiteInfo } from '../format/suites.js';
import { AadBuilder, parseHeader } from '../format/wire.js';
import { type Deadlines, openMessage, readVersion, shreddedError, unwrapRecord } from '../keys/key-path.js';
import type { KeyRecord } from '../keys/records.js';
import { validKeyAudit } from '../keys/audit-options.js';
import { validTimeouts } from '../keys/timeouts.js';
import { isAbortSignal, throwIfAborted } from '../util/deadline.js';
import type { MasterKeyProvider } from '../kms/provider.js';
import type { KeyStore } from '../store/types.js';
import { clean } from '../util/bytes.js';
import { MAX_AAD_BYTES, conversationIdBytes, ownOptions } from '../util/validate.js';
import { type TokenLedger, processTokenLedger } from './ledger.js';
import { type BreakGlassPolicy, validatePolicy, verifyToken } from './policy.js';
import { type BreakGlassRequest, type BreakGlassToken, decodeToken, isReasonShape, isTokenId } from './token.js';
// Attachments (issue #16): the block at the end of the class.
import { type BreakGlassAttachmentResult, SourceReadFailure, attachmentHeader, attachmentSource, openAndVerify, sealedInside } from './attachment.js';
import { checkCall } from '../stream/attachments.js';
import type { AttachmentSource } from '../stream/reader.js';

/**
 * A version as one break-glass call sees it: missing (empty), or its record, whether its validity
 * lies outside the window, and its key once unwrapped.
 */
interface WindowKey {
  outside?: true;
  shredded?: true;
  suite?: SuiteInfo;
  record?: KeyRecord;
  key?: Uint8Array;
}

const outOfScope = (message: string): DecryptResult => ({ ok: false, error: new BreakGlassError('ERR_BG_OUT_OF_SCOPE', message) });

/** keywarden's own error as is; anything else (a bug) as ERR_INTERNAL with the cause kept. */
function asKeywardenError(err: unknown): KeywardenError {
  return err instanceof KeywardenError ? err : new InternalError('break-glass failed unexpectedly', err);
}

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
  /**
   * Single-use enforcement. Default: one in-memory ledger for the whole process, shared by every
   * BreakGlass instance (and by every copy of keywarden loaded in the process), so a service that
   * builds a BreakGlass per request still redeems each token once. Several processes need a
   * shared ledger: `PostgresTokenLedger` from `keywarden/postgres`.
   */
  ledger?: TokenLedger;
  /** AEAD implementation (default: native on Node, noble elsewhere). */
  aead?: AeadImpl;
  /** keywarden's deadlines on key store and KMS calls (as `KeywardenOptions.timeouts`). */
  timeouts?: { kmsMs?: number; storeMs?: number };
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
  readonly #o: Required<Omit<BreakGlassOptions, 'aead' | 'timeouts'>> & { aead: AeadImpl; timeouts: Deadlines };
  readonly #ad = new AadBuilder(MAX_AAD_BYTES);

  constructor(options: BreakGlassOptions) {
    if (options === undefined) throw new InvalidInputError('options', 'expected an options object');
    // Own properties only: a polluted Object.prototype.ledger (or .now, .aead) is not the caller's.
    const o = ownOptions('options', options, ['policy', 'masterKey', 'keyStore', 'audit', 'ledger', 'aead', 'timeouts', 'now']);
    validatePolicy(o.policy);
    if (!o.masterKey || typeof o.masterKey.unwrapDataKey !== 'function') throw new InvalidInputError('options.masterKey', 'expected a MasterKeyProvider');
    if (!o.keyStore || typeof o.keyStore.getVersion !== 'function') throw new InvalidInputError('options.keyStore', 'expected a KeyStore');
    const audit = validKeyAudit('options.audit', o.audit);
    if (o.ledger !== undefined && typeof o.ledger?.consume !== 'function') throw new InvalidInputError('options.ledger', 'expected a TokenLedger');
    if (o.aead !== undefined && (typeof o.aead?.seal !== 'function' || typeof o.aead.open !== 'function')) throw new InvalidInputError('options.aead', 'expected an AeadImpl');
    if (o.now !== undefined && typeof o.now !== 'function') throw new InvalidInputError('options.now', 'expected a function returning a Date');
    this.#o = {
      policy: o.policy,
      masterKey: o.masterKey,
      keyStore: o.keyStore,
      audit: { log: audit.log, ids: audit.ids, actor: audit.actor },
      ledger: o.ledger ?? processTokenLedger(),
      aead: o.aead ?? nobleAead,
      now: o.now ?? (() => new Date()),
      timeouts: validTimeouts(o.timeouts),
    };
  }

  /**
   * Opens messages of one conversation under a break-glass token (single use). Refusals throw
   * a {@link BreakGlassError} with a stable code and are recorded; audit failures throw
   * `ERR_AUDIT_UNAVAILABLE` and release nothing.
   */
  async decrypt(token: string | BreakGlassToken, conversationId: string, items: readonly DecryptItem[], options?: { signal?: AbortSignal }): Promise<BreakGlassResult> {
    conversationIdBytes(conversationId);
    // Copies: the window is checked on a message before its key is awaited, and the outcome's
    // digest computed after; the caller's buffers may change in between (docs/BREAK-GLASS.md §3).
    const parsed = copyItems(parseDecryptItems(items));
    // An empty page would spend the single-use token on nothing (outside review 7).
    if (parsed.cts.length === 0) throw new InvalidInputError('items', 'expected at least one message: the token is single-use');
    const o = ownOptions('options', options, ['signal']);
    if (o.signal !== undefined && !isAbortSignal(o.signal)) throw new InvalidInputError('options.signal', 'expected an AbortSignal');
    const signal = o.signal;
    throwIfAborted(signal);
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
    if (parsed.cts.length > req.scope.maxMessages) {
      await this.#refuse(req, 'ERR_BG_MESSAGE_LIMIT', `${parsed.cts.length} messages requested, the token allows ${req.scope.maxMessages}`);
    }

    // 3. Single use, on the record before any key is touched.
    const intent = this.#event('breakglass.access', req, {
      approvers: verified.approvers,
      requester: req.requester,
      case: req.detail.length > 0 ? this.#o.audit.ids.case(req.detail) : null,
      scope: { ...req.scope, conversations: req.scope.conversations.map((c) => this.#o.audit.ids.conversation(c)) },
    });
    throwIfAborted(signal); // last moment a caller can give up with nothing on the record
    await this.#consumeWithIntent(req, intent, verified.expiresAt);

    // 4-5. Only key versions valid during the window are unwrapped (through the same key path as
    // Keywarden's); every unwrapped key is wiped at the end, whatever happens.
    const keys = new Map<number, WindowKey>();
    let page: { results: DecryptResult[]; opened: Uint8Array[] };
    try {
      page = await this.#openPage(conversationId, parsed, Date.parse(req.scope.from), Date.parse(req.scope.to), keys, signal);
    } catch (err) {
      // Nothing was released: record exactly that, then report the cause (keywarden's own error).
      await this.#recordOutcome(req, intent.id, 'failed', []).catch(() => undefined);
      throw asKeywardenError(err);
    } finally {
      for (const k of keys.values()) if (k.key !== undefined) clean(k.key);
    }

    // 6. The outcome is on the record before anything is released. If it cannot be acknowledged,
    // nothing is returned, and the log says so: `withheld` (the failed append itself left no
    // `released` record, or — if a timed-out write landed after all — the `withheld` record
    // after it voids it; docs/BREAK-GLASS.md §3).
    try {
      await this.#recordOutcome(req, intent.id, 'released', page.opened);
    } catch (err) {
      for (const r of page.results) if (r.ok) clean(r.plaintext);
      await this.#recordOutcome(req, intent.id, 'withheld', []).catch(() => undefined);
      throw asKeywardenError(err);
    }
    return { token: req.jti, approvers: verified.approvers, intent: intent.id, results: page.results, opened: page.opened.length };
  }

  /**
   * Opens a page, unwrapping each needed version at most once. The window is applied per message
   * (docs/FORMAT.md §3.3): a v2 message is opened only when the whole second
   * its authenticated sealing time names lies inside [from, to) — the header is checked before
   * decrypting, and a forged header fails decryption because the tag covers it; a v1 message (no
   * sealing time) only when its key version was valid during the window.
   */
  async #openPage(
    conversationId: string, parsed: ParsedItems, from: number, to: number, keys: Map<number, WindowKey>, signal: AbortSignal | undefined,
  ): Promise<{ results: DecryptResult[]; opened: Uint8Array[] }> {
    const results: DecryptResult[] = [];
    const opened: Uint8Array[] = [];
    try {
      for (let i = 0; i < parsed.cts.length; i++) {
        const ct = parsed.cts[i]!;
        const h = parseHeader(ct);
        if (h !== undefined && h.sealedAt !== undefined && !(h.sealedAt * 1000 >= from && h.sealedAt * 1000 + 1000 <= to)) {
          results.push(outOfScope('message was sealed outside the token time window'));
          continue;
        }
        let k = h === undefined ? undefined : keys.get(h.keyVersion);
        if (h !== undefined && k === undefined) {
          throwIfAborted(signal);
          k = await this.#keyFor(conversationId, h.keyVersion, from, to);
          keys.set(h.keyVersion, k);
        }
        if (k?.shredded) {
          results.push({ ok: false, error: shreddedError(h!.keyVersion) });
          continue;
        }
        // Only v1 messages are windowed by key version: a v2 message carries its own time.
        if (k?.outside && h?.sealedAt === undefined) {
          results.push(outOfScope('message key version is outside the token time window'));
          continue;
        }
        const key = k?.key ?? (k?.outside ? await this.#unwrapOutside(h!.keyVersion, keys) : undefined);
        const pt = h === undefined || key === undefined ? null : openMessage(this.#o.aead, this.#ad, conversationId, k!.suite!, h.keyVersion, key, ct, parsed.aads[i]!);
        if (pt === null) {
          results.push({ ok: false, error: new DecryptionError() });
          continue;
        }
        results.push({ ok: true, plaintext: pt });
        opened.push(ct);
      }
    } catch (err) {
      // Nothing is released after a failure: what was opened before it is wiped (outside review,
      // 2026-12-01: a later version's failed unwrap left the earlier plaintexts readable).
      for (const r of results) if (r.ok) clean(r.plaintext);
      throw err;
    }
    return { results, opened };
  }

  /**
   * The record and suite of a version, with its key unwrapped when its validity
   * [activatedAt, supersededAt) overlaps the token window [from, to); `outside` (nothing
   * unwrapped yet) when it does not; no key when the version does not exist.
   */
  async #keyFor(conversationId: string, version: number, from: number, to: number): Promise<WindowKey> {
    let checked: Awaited<ReturnType<typeof readVersion>>;
    try {
      checked = await readVersion(this.#o.keyStore, conversationId, version, this.#o.timeouts);
    } catch (err) {
      if (err instanceof KeyShreddedError) return { shredded: true }; // that item fails, the page goes on
      throw err;
    }
    if (checked === undefined) return {};
    const { record, suite } = checked;
    const start = record.activatedAt.getTime();
    const end = record.supersededAt === null ? Infinity : record.supersededAt.getTime();
    // A version activated at `to` or later, or superseded at `from` or earlier, sealed nothing
    // inside it (up to an instance's cache max age, which is why v2 messages carry their time).
    if (start >= to || end <= from) return { outside: true, suite, record };
    return { suite, record, key: await unwrapRecord(this.#o.masterKey, record, this.#o.timeouts) };
  }

  /**
   * A v2 message whose authenticated time is inside the window but whose key version's recorded
   * validity is not (sealed by an instance that had not yet seen a rotation): its key is
   * unwrapped after all, since the message's own time decides.
   */
  async #unwrapOutside(version: number, keys: Map<number, WindowKey>): Promise<Uint8Array | undefined> {
    const k = keys.get(version);
    if (k?.record === undefined) return undefined;
    const key = await unwrapRecord(this.#o.masterKey, k.record, this.#o.timeouts);
    keys.set(version, { ...k, key });
    return key;
  }

  /**
   * Consumes the token and records its intent; resolves only once the intent is in the log under
   * a signed checkpoint. A database ledger hands us its transaction, and a log that can join it
   * (a PostgreSQL audit store) does: the intent's outbox record
   * commits with the consumption and is integrated under a checkpoint after the commit (an append
   * that waits for its checkpoint cannot run inside a transaction, docs/AUDIT.md §4.2). If that
   * does not happen in time the token is spent (its intent will still be integrated) and nothing
   * is released (docs/BREAK-GLASS.md §3). A token already used is refused as a replay.
   */
  async #consumeWithIntent(req: BreakGlassRequest, intent: AuditEvent, expiresAt: number): Promise<void> {
    // A token the log cannot record is refused before it is used, with its refusal on the
    // record: many long approver ids beside a large scope can outgrow one entry (policy.ts).
    try {
      encodeEntry(intent);
    } catch (err) {
      if (err instanceof AuditEntryError) await this.#refuse(req, 'ERR_BG_OUT_OF_SCOPE', `the access record of this token would exceed the largest audit entry (${MAX_ENTRY_BYTES} bytes): ask for fewer conversations`);
      throw err;
    }
    let consumed: boolean;
    let pending: AuditPending | undefined;
    let recorded = false;
    let expired = false;
    try {
      consumed = await this.#o.ledger.consume(req.jti, new Date(req.exp * 1000), async (tx) => {
        // The point of use: the token's times again, just before it is marked used. The
        // redemption may have waited here (behind a concurrent redemption of the same token, a
        // ledger row lock) past `exp` (outside review, 2026-12-02: it then consumed the token
        // and released plaintext after it expired). Throwing leaves the token unused.
        if (Math.floor(this.#o.now().getTime() / 1000) >= expiresAt) {
          expired = true;
          throw new BreakGlassError('ERR_BG_EXPIRED', 'token expired while its redemption waited');
        }
        // The ledger's transaction is joined only by a log that can join one (as the key
        // lifecycle does); any other log (a file store beside a PostgreSQL ledger) appends here,
        // before the token's row commits — every access failed ERR_INVALID_INPUT naming
        // `options.tx` otherwise (outside review 7).
        if (tx === undefined || !this.#o.audit.log.joinsTransactions) await this.#o.audit.log.append(intent);
        else pending = await this.#o.audit.log.record(intent, { tx, checkpoint: true });
        recorded = true;
      });
    } catch (err) {
      if (expired) await this.#refuse(req, 'ERR_BG_EXPIRED', `token (with its approvals) was valid until ${new Date(expiresAt * 1000).toISOString()}: it expired while its redemption waited`);
      // The intent was appended (not written into a transaction the ledger rolled back), then the
      // ledger failed (a COMMIT lost with its connection): nothing is released, and the log says
      // so — it kept an access with no outcome otherwise (outside review 7).
      if (recorded && pending === undefined) await this.#recordOutcome(req, intent.id, 'failed', []).catch(() => undefined);
      throw err instanceof KeywardenError ? err : new AuditUnavailableError('could not record the break-glass intent', err);
    }
    if (!consumed) await this.#refuse(req, 'ERR_BG_REPLAYED', 'this token was already used');
    // A ledger's `true` counts only with the intent recorded (`ledger` is a public option: one
    // that did not run `record` to completion let plaintext out with nothing on the log —
    // outside review, 2026-12-01). Nothing is released; if its write lands later, so does this.
    if (!recorded) {
      await this.#recordOutcome(req, intent.id, 'failed', []).catch(() => undefined);
      throw new AuditUnavailableError('the token ledger consumed the token without recording the break-glass intent (TokenLedger.consume must await record)');
    }
    if (pending === undefined) return;
    try {
      await pending.checkpointed();
    } catch (err) {
      await this.#recordOutcome(req, intent.id, 'failed', []).catch(() => undefined);
      throw asKeywardenError(err);
    }
  }

  #recordOutcome(req: BreakGlassRequest, intent: string, outcome: 'released' | 'failed' | 'withheld', opened: Uint8Array[]): Promise<unknown> {
    return this.#o.audit.log.append(
      this.#event('breakglass.outcome', req, { intent, outcome, messages: opened.length, ciphertexts: ciphertextsDigest(opened) }),
    );
  }

  #event(type: 'breakglass.access' | 'breakglass.outcome', req: BreakGlassRequest, fields: Record<string, unknown>): AuditEvent {
    return newEvent(type, { actor: this.#o.audit.actor, now: this.#o.now }, { token: req.jti, ...(type === 'breakglass.access' ? { reason: req.reason } : {}), ...fields });
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
    // A token passed as an object was not validated: copy only what has the shape of a token id
    // and of a reason code. Any other text could be anything its author chose — a conversation
    // id, a case number — written for good into a log that holds those only as keyed HMACs
    // (outside review, 2026-12-01); and anything the entry schema refuses (ERR_AUDIT_ENTRY)
    // would replace the refusal and lose its record.
    const token = isTokenId(req?.jti) ? req.jti : 'unparseable';
    const reason = isReasonShape(req?.reason) ? req.reason : 'unknown';
    // A refusal is refused either way; if even its record cannot be written (or built: a clock
    // that fails), the caller still gets the refusal (not a hang, not another error), and the
    // audit log's own unavailability shows elsewhere.
    try {
      const event = newEvent('breakglass.refused', { actor: this.#o.audit.actor, now: this.#o.now }, { token, reason, refusal: err.code });
      await this.#o.audit.log.append(event);
    } catch {
      // the refusal below is what the caller needs
    }
  }

  // ==== Attachments (issue #16) ==============================================================
  // One block; the attachment work itself is in ./attachment.ts (docs/BREAK-GLASS.md §6).

  /**
   * Opens one attachment of one conversation under a break-glass token (single use; the
   * attachment counts as one message of the token's scope, whose `maxMessages` is at least 1).
   * The attachment must have been sealed inside the token's window — checked on its header
   * before the token is used, and authenticated with it. Every segment is authenticated, and the access and its outcome
   * (with a digest of the whole stored attachment) are in the audit log, before the attachment
   * is returned; read it with `attachment.decryptRange()` and `close()` it when done.
   *
   * @example
   * ```ts
   * const { attachment } = await bg.openAttachment(tokenJson, conversationId, storedBytesOrSource, { aad: attachmentId });
   * const video = await attachment.decryptRange(0, attachment.size);
   * attachment.close();
   * ```
   */
  async openAttachment(
    token: string | BreakGlassToken, conversationId: string, source: Uint8Array | AttachmentSource, options?: { aad?: Uint8Array | string; signal?: AbortSignal },
  ): Promise<BreakGlassAttachmentResult> {
    const c = checkCall(conversationId, options, false);
    // Our own copy of the aad, as decrypt copies its items: it is used only after the token
    // checks, the header read and the token's consumption, and a view of the caller's bytes
    // transferred away meanwhile threw a raw TypeError with the token spent (outside review,
    // 2026-12-02; test/review5-bg-attachment-aad-detached.test.ts).
    const aad = typeof c.aad === 'string' ? c.aad : Uint8Array.from(c.aad);
    // The source too is an argument: checked before the token, so a bad one writes nothing.
    const src = attachmentSource(source);
    const now = this.#o.now();
    let request: BreakGlassRequest | undefined;
    try {
      request = (typeof token === 'string' ? decodeToken(token) : token).request;
    } catch {
      // verifyToken reports the malformed token below
    }
    const verified = await this.#refuseOnError(request, () => verifyToken(token, this.#o.policy, now));
    const req = verified.request;
    if (!req.scope.conversations.includes(conversationId)) await this.#refuse(req, 'ERR_BG_OUT_OF_SCOPE', 'conversation is not in the token scope');
    // The header (no key needed) says when the attachment was sealed: outside the window, refuse
    // before the token is used or any key is touched.
    const at = await attachmentHeader(src, c.signal);
    if (!sealedInside(at.h, Date.parse(req.scope.from), Date.parse(req.scope.to))) {
      await this.#refuse(req, 'ERR_BG_OUT_OF_SCOPE', 'attachment was sealed outside the token time window');
    }
    const intent = this.#event('breakglass.access', req, {
      approvers: verified.approvers,
      requester: req.requester,
      case: req.detail.length > 0 ? this.#o.audit.ids.case(req.detail) : null,
      scope: { ...req.scope, conversations: req.scope.conversations.map((x) => this.#o.audit.ids.conversation(x)) },
    });
    throwIfAborted(c.signal);
    await this.#consumeWithIntent(req, intent, verified.expiresAt);
    let opened: Awaited<ReturnType<typeof openAndVerify>>;
    try {
      opened = await openAndVerify(this.#o, conversationId, c.conv, aad, at, c.signal);
    } catch (err) {
      await this.#recordOutcome(req, intent.id, 'failed', []).catch(() => undefined);
      // The caller's own read error passes through unchanged, as it does from the header read.
      throw err instanceof SourceReadFailure ? err.error : asKeywardenError(err);
    }
    try {
      await this.#o.audit.log.append(this.#event('breakglass.outcome', req, { intent: intent.id, outcome: 'released', messages: 1, ciphertexts: opened.digest }));
    } catch (err) {
      opened.reader.close();
      await this.#recordOutcome(req, intent.id, 'withheld', []).catch(() => undefined);
      throw asKeywardenError(err);
    }
    return { token: req.jti, approvers: verified.approvers, intent: intent.id, attachment: opened.reader, ciphertexts: opened.digest };
  }
  // ==== end of attachments =====================================================================
}
