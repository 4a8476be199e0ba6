/**
 * The soak's operations: `concurrency` workers, each running one operation at a time, drawn from
 * the mix below, until the messages are sealed. Every outcome is checked against what it must be
 * (model.ts): a decryption gives the plaintext the message was written with, or ERR_KEY_SHREDDED
 * when its key version was shredded; an encrypt or a rotation on a conversation shredded as a
 * whole is refused with ERR_KEY_SHREDDED until a new generation starts; a shred reports the
 * versions it must. Retryable keywarden errors are retried with backoff and counted by code;
 * anything else is a failure (the soak then exits non-zero): an error that is not keywarden's, an
 * error other than the expected one, a shredded message that opens, a wrong plaintext, an
 * operation still failing after MAX_ATTEMPTS attempts (a stuck conversation).
 */
import { type Keywarden, inspectCiphertext, isKeywardenError } from '../../src/node.js';
import { Gate, ShredModel } from './model.js';
import { Pages, Reservoir, type Rng, type Written, Zipf, conversationId, messageAad, plaintextOf, sameBytes } from './workload.js';

export type OpKind = 'encrypt' | 'decrypt' | 'decryptMany' | 'rotate' | 'shred' | 'startGeneration';
export const OP_KINDS: readonly OpKind[] = ['encrypt', 'decrypt', 'decryptMany', 'rotate', 'shred', 'startGeneration'];

/**
 * Share of operations of each kind; encrypt takes the rest. Shreds come at `shredRate`
 * (options), new generations at half that rate, each on a conversation shredded as a whole.
 */
const MIX = { rotate: 1 / 10_000, decryptMany: 0.03, decrypt: 0.15 };
/** Share of shreds that take the whole conversation (the rest: every version below the latest). */
const WHOLE_SHREDS = 0.6;
/** Share of shreds aimed at a conversation picked by message volume (the rest: uniformly, mostly the quiet tail). */
const HOT_SHREDS = 0.3;

const MAX_ATTEMPTS = 15;
const MAX_FAILURE_SAMPLES = 20;
const backoffMs = (attempt: number, rng: Rng) => Math.min(1000, 10 * 2 ** attempt) * (0.5 + rng.next());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Failure {
  kind:
    | 'foreign-error' | 'non-retryable' | 'unexpected-error' | 'stuck' | 'decrypt-failed' | 'wrong-plaintext'
    | 'shredded-message-opened' | 'sealed-after-shred' | 'shred-report' | 'unhandled-rejection' | 'key-check';
  op: OpKind | 'process' | 'key-check';
  conversation?: string;
  error?: string;
  at_s: number;
}

/** What an operation came to: done as expected, or failed (already counted in `failures`). */
type Outcome = boolean;

/** Latency histogram with buckets of 2^(1/4) ms. */
export class Histogram {
  readonly #buckets = new Float64Array(120);
  count = 0;
  max = 0;
  add(ms: number): void {
    this.count++;
    if (ms > this.max) this.max = ms;
    this.#buckets[Math.min(119, Math.max(0, Math.ceil(Math.log2(Math.max(ms, 0.001)) * 4) + 40))]!++;
  }
  quantile(q: number): number {
    let seen = 0;
    for (let i = 0; i < this.#buckets.length; i++) {
      seen += this.#buckets[i]!;
      if (seen >= q * this.count && this.count > 0) return Math.min(this.max, 2 ** ((i - 40) / 4));
    }
    return 0;
  }
  summary(): { count: number; p50_ms: number; p99_ms: number; max_ms: number } {
    const r = (x: number) => Math.round(x * 100) / 100;
    return { count: this.count, p50_ms: r(this.quantile(0.5)), p99_ms: r(this.quantile(0.99)), max_ms: r(this.max) };
  }
}

export class Driver {
  /** Operations that completed as expected (expected ERR_KEY_SHREDDED refusals included). */
  readonly ops: Record<OpKind, number> = { encrypt: 0, decrypt: 0, decryptMany: 0, rotate: 0, shred: 0, startGeneration: 0 };
  readonly latency = Object.fromEntries(OP_KINDS.map((k) => [k, new Histogram()])) as Record<OpKind, Histogram>;
  /** All operations since the last sample (reset by the sampler). */
  interval = new Histogram();
  readonly retries: Record<string, number> = {};
  /** Retries by code and what lay under it (the SDK's error name, or keywarden's own deadline). */
  readonly retryCauses: Record<string, number> = {};
  retriedOps = 0;
  maxAttemptsUsed = 1;
  /** Messages sealed (the run stops at `messages`). */
  sealed = 0;
  /** Plaintexts read back and compared. */
  messagesRead = 0;
  /** ERR_KEY_SHREDDED where the model said so: these count as operations done as expected. */
  readonly refusedShredded = { encrypt: 0, rotate: 0, decrypt: 0, decryptManyItems: 0 };
  readonly shreds = { whole: 0, below: 0, versionsShredded: 0, repeated: 0, generationsStarted: 0 };
  /** `conversation#version` of every version a manual rotate or startGeneration returned (for the key check). */
  readonly madeByCall = new Set<string>();
  failures = 0;
  readonly failureSamples: Failure[] = [];
  introduced = 0;
  stopping = false;
  readonly model = new ShredModel();
  readonly #gate = new Gate();
  #nextMessage = 0;
  #encryptsInFlight = 0;
  readonly #inflight = new Map<number, { op: OpKind; conversation: string; since: number }>();
  readonly #zipf: Zipf;
  readonly #reservoir = new Reservoir(4096);
  readonly #pages = new Pages(256, 25, 0.05);
  /** Ranks whose conversation has a sealed message (shred targets must have a key). */
  readonly #hasKey: Uint8Array;
  readonly #warmupMessages: number;
  readonly #shares: readonly [OpKind, number][];
  readonly #t0 = performance.now();

  constructor(
    readonly kw: Keywarden,
    readonly o: { messages: number; conversations: number; zipf: number; warmup: number; concurrency: number; shredRate: number },
    readonly rng: Rng,
  ) {
    this.#zipf = new Zipf(o.conversations, o.zipf);
    this.#warmupMessages = Math.floor(o.messages * o.warmup);
    this.#hasKey = new Uint8Array(o.conversations);
    this.#shares = [['shred', o.shredRate], ['startGeneration', o.shredRate / 2], ['rotate', MIX.rotate], ['decryptMany', MIX.decryptMany], ['decrypt', MIX.decrypt]];
  }

  get warmupMessages(): number {
    return this.#warmupMessages;
  }
  get zipf(): Zipf {
    return this.#zipf;
  }
  get opsDone(): number {
    return Object.values(this.ops).reduce((a, b) => a + b, 0);
  }
  /** Messages kept to be read back at the end of the run (the reservoir and the pages). */
  keptMessages(): Written[] {
    return [...this.#reservoir.items, ...this.#pages.all()];
  }

  /** Age of the oldest operation in flight, and what it is. */
  oldestInflight(): { ms: number; op?: OpKind; conversation?: string } {
    let oldest: { op: OpKind; conversation: string; since: number } | undefined;
    for (const x of this.#inflight.values()) if (oldest === undefined || x.since < oldest.since) oldest = x;
    return oldest === undefined ? { ms: 0 } : { ms: performance.now() - oldest.since, op: oldest.op, conversation: oldest.conversation };
  }

  run(): Promise<void>[] {
    return Array.from({ length: this.o.concurrency }, (_, i) => this.#worker(i));
  }

  fail(f: Omit<Failure, 'at_s'>): void {
    this.failures++;
    if (this.failureSamples.length < MAX_FAILURE_SAMPLES) this.failureSamples.push({ ...f, at_s: Math.round((performance.now() - this.#t0) / 100) / 10 });
  }

  #pickKind(): OpKind {
    let r = this.rng.next();
    for (const [kind, share] of this.#shares) if ((r -= share) < 0) return kind;
    return 'encrypt';
  }

  async #worker(id: number): Promise<void> {
    while (!this.stopping) {
      let kind = this.#pickKind();
      let page: Written[] | undefined;
      let one: Written | undefined;
      let target: string | undefined;
      if (kind === 'decryptMany' && (page = this.#pages.pick(this.rng)?.slice()) === undefined) kind = 'encrypt';
      if (kind === 'decrypt' && (one = this.#reservoir.pick(this.rng)) === undefined) kind = 'encrypt';
      if (kind === 'shred' && (target = this.#shredTarget()) === undefined) kind = 'encrypt';
      if (kind === 'startGeneration' && (target = this.model.pickClosed(this.rng)) === undefined) kind = 'encrypt';
      let conversation: string;
      let rank = -1;
      let m = -1;
      if (kind === 'encrypt') {
        if (this.sealed + this.#encryptsInFlight >= this.o.messages) {
          // Done, unless an encrypt in flight is refused (its conversation was shredded): wait and see.
          if (this.#encryptsInFlight === 0) break;
          await sleep(5);
          continue;
        }
        m = this.#nextMessage++;
        rank = this.#pickForMessage(m);
        conversation = conversationId(rank);
      } else if (kind === 'rotate') conversation = conversationId(this.#zipf.sample(this.rng));
      else conversation = target ?? (page?.[0] ?? one)!.conversation;

      const since = performance.now();
      this.#inflight.set(id, { op: kind, conversation, since });
      let ok: Outcome;
      if (kind === 'shred' || kind === 'startGeneration') {
        ok = await this.#gate.exclusive(conversation, () => this.#withRetries(kind, conversation, () => (kind === 'shred' ? this.#shred(conversation) : this.#startGeneration(conversation))));
      } else {
        if (kind === 'encrypt') this.#encryptsInFlight++;
        await this.#gate.enter(conversation);
        try {
          ok = await this.#withRetries(kind, conversation, async () => {
            switch (kind) {
              case 'encrypt':
                return this.#encrypt(conversation, rank, m);
              case 'decrypt':
                return this.#decrypt(one!);
              case 'decryptMany':
                return this.#decryptMany(conversation, page!);
              default:
                return this.#rotate(conversation);
            }
          });
        } finally {
          this.#gate.leave(conversation);
          if (kind === 'encrypt') this.#encryptsInFlight--;
        }
      }
      this.#inflight.delete(id);
      if (!ok) continue; // failed: counted in failures, not in ops
      const ms = performance.now() - since;
      this.ops[kind]++;
      this.latency[kind].add(ms);
      this.interval.add(ms);
    }
  }

  /** Warm-up introduces every conversation (in rank order) among its messages; then Zipf alone. */
  #pickForMessage(m: number): number {
    if (m < this.#warmupMessages && this.introduced < this.o.conversations) {
      const due = Math.ceil(((m + 1) * this.o.conversations) / this.#warmupMessages);
      if (this.introduced < due) return this.introduced++;
    }
    return this.#zipf.sample(this.rng);
  }

  /** A conversation with a key: by message volume (a written message's) or uniformly. */
  #shredTarget(): string | undefined {
    if (this.rng.next() < HOT_SHREDS) return this.#reservoir.pick(this.rng)?.conversation;
    const rank = this.rng.int(Math.max(1, this.introduced));
    return this.#hasKey[rank] === 1 ? conversationId(rank) : undefined;
  }

  /** An unexpected outcome: retryable errors go back to #withRetries, anything else fails the run. */
  #unexpected(op: OpKind, conversation: string, err: unknown, expected: string): false {
    if (isKeywardenError(err) && err.retryable) throw err;
    this.fail({ kind: isKeywardenError(err) ? 'unexpected-error' : 'foreign-error', op, conversation, error: `expected ${expected}, got ${describe(err)}` });
    return false;
  }

  async #encrypt(conversation: string, rank: number, m: number): Promise<Outcome> {
    const closed = this.model.isClosed(conversation);
    let ct: Uint8Array;
    try {
      ct = await this.kw.encrypt(conversation, plaintextOf(conversation, m), { aad: messageAad(m) });
    } catch (err) {
      if (closed && isKeywardenError(err, 'ERR_KEY_SHREDDED')) {
        this.refusedShredded.encrypt++;
        return true;
      }
      return this.#unexpected('encrypt', conversation, err, closed ? 'ERR_KEY_SHREDDED (conversation shredded)' : 'a ciphertext');
    }
    const version = inspectCiphertext(ct).keyVersion;
    if (closed || this.model.isShredded(conversation, version)) {
      this.fail({ kind: 'sealed-after-shred', op: 'encrypt', conversation, error: `message ${m} sealed under version ${version}${closed ? ' of a conversation shredded as a whole' : ', which was shredded'}` });
      return false;
    }
    this.sealed++;
    this.#hasKey[rank] = 1;
    const w = { conversation, m, version, ct };
    this.#reservoir.offer(w, this.rng);
    this.#pages.offer(w, this.rng);
    return true;
  }

  async #decrypt(w: Written): Promise<Outcome> {
    const gone = this.model.isShredded(w.conversation, w.version);
    let pt: Uint8Array;
    try {
      pt = await this.kw.decrypt(w.conversation, w.ct, { aad: messageAad(w.m) });
    } catch (err) {
      if (gone && isKeywardenError(err, 'ERR_KEY_SHREDDED')) {
        this.refusedShredded.decrypt++;
        return true;
      }
      if (!gone && isKeywardenError(err, 'ERR_DECRYPT_FAILED')) {
        this.fail({ kind: 'decrypt-failed', op: 'decrypt', conversation: w.conversation, error: `message ${w.m}: ${describe(err)}` });
        return false;
      }
      return this.#unexpected('decrypt', w.conversation, err, gone ? `ERR_KEY_SHREDDED (message ${w.m}, version ${w.version} shredded)` : `the plaintext of message ${w.m}`);
    }
    if (gone) {
      this.fail({ kind: 'shredded-message-opened', op: 'decrypt', conversation: w.conversation, error: `message ${w.m} under shredded version ${w.version}` });
      return false;
    }
    this.messagesRead++;
    if (sameBytes(pt, plaintextOf(w.conversation, w.m))) return true;
    this.fail({ kind: 'wrong-plaintext', op: 'decrypt', conversation: w.conversation, error: `message ${w.m}` });
    return false;
  }

  async #decryptMany(conversation: string, page: Written[]): Promise<Outcome> {
    const results = await this.kw.decryptMany(conversation, page.map((w) => ({ ciphertext: w.ct, aad: messageAad(w.m) })));
    let ok = true;
    for (let i = 0; i < page.length; i++) {
      const r = results[i]!;
      const w = page[i]!;
      const gone = this.model.isShredded(conversation, w.version);
      if (gone) {
        if (!r.ok && isKeywardenError(r.error, 'ERR_KEY_SHREDDED')) {
          this.refusedShredded.decryptManyItems++;
          continue;
        }
        if (r.ok) this.fail({ kind: 'shredded-message-opened', op: 'decryptMany', conversation, error: `message ${w.m} under shredded version ${w.version}` });
        else this.fail({ kind: 'unexpected-error', op: 'decryptMany', conversation, error: `message ${w.m}: expected ERR_KEY_SHREDDED, got ${describe(r.error)}` });
      } else {
        this.messagesRead++;
        if (!r.ok) this.fail({ kind: 'decrypt-failed', op: 'decryptMany', conversation, error: `message ${w.m}: ${describe(r.error)}` });
        else if (!sameBytes(r.plaintext, plaintextOf(conversation, w.m))) this.fail({ kind: 'wrong-plaintext', op: 'decryptMany', conversation, error: `message ${w.m}` });
        else continue;
      }
      ok = false;
    }
    return ok;
  }

  async #rotate(conversation: string): Promise<Outcome> {
    const closed = this.model.isClosed(conversation);
    try {
      const info = await this.kw.rotate(conversation);
      if (closed) {
        this.fail({ kind: 'sealed-after-shred', op: 'rotate', conversation, error: `rotate made version ${info.version} of a conversation shredded as a whole` });
        return false;
      }
      this.madeByCall.add(`${conversation}#${info.version}`);
      return true;
    } catch (err) {
      if (closed && isKeywardenError(err, 'ERR_KEY_SHREDDED')) {
        this.refusedShredded.rotate++;
        return true;
      }
      return this.#unexpected('rotate', conversation, err, closed ? 'ERR_KEY_SHREDDED (conversation shredded)' : 'a new version');
    }
  }

  /**
   * Shreds the whole conversation, or every version below its latest (a minimum version; with
   * one version, that one: the conversation goes on with a new one). Runs alone on the
   * conversation; checks the report against the versions the store lists.
   */
  async #shred(conversation: string): Promise<Outcome> {
    const closed = this.model.isClosed(conversation);
    const whole = closed || this.rng.next() < WHOLE_SHREDS;
    const before = await this.kw.describeKeys(conversation);
    const latest = before[before.length - 1]!.version;
    const previously = before.filter((r) => r.state === 'shredded').map((r) => r.version);
    const report = whole ? await this.kw.shred(conversation) : await this.kw.shred(conversation, { below: Math.max(2, latest) });
    // What must have been shredded: every version (whole), or every version below max(2, latest).
    const want = before.filter((r) => (whole ? true : r.version < Math.max(2, latest))).map((r) => r.version);
    const got = [...report.shredded, ...report.alreadyShredded].sort((a, b) => a - b);
    const fresh = want.filter((v) => !previously.includes(v));
    if (JSON.stringify(got) !== JSON.stringify(want) || JSON.stringify(report.shredded) !== JSON.stringify(fresh)) {
      this.fail({ kind: 'shred-report', op: 'shred', conversation, error: `${whole ? 'whole' : `below ${Math.max(2, latest)}`}: expected ${JSON.stringify({ shredded: fresh, all: want })}, got ${JSON.stringify(report)}` });
      return false;
    }
    this.model.recordShred(conversation, got, whole);
    this.shreds[whole ? 'whole' : 'below']++;
    this.shreds.versionsShredded += report.shredded.length;
    if (report.shredded.length === 0) this.shreds.repeated++;
    return true;
  }

  /** Starts a new generation of a conversation shredded as a whole; its old messages stay shredded. */
  async #startGeneration(conversation: string): Promise<Outcome> {
    const info = await this.kw.startGeneration(conversation);
    if (this.model.isShredded(conversation, info.version) || info.state !== 'active') {
      this.fail({ kind: 'shred-report', op: 'startGeneration', conversation, error: `new generation got version ${info.version} (${info.state})` });
      return false;
    }
    this.madeByCall.add(`${conversation}#${info.version}`);
    this.model.recordGeneration(conversation);
    this.shreds.generationsStarted++;
    return true;
  }

  async #withRetries(op: OpKind, conversation: string, fn: () => Promise<Outcome>): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        const ok = await fn();
        if (attempt > 1) {
          this.retriedOps++;
          if (attempt > this.maxAttemptsUsed) this.maxAttemptsUsed = attempt;
        }
        return ok;
      } catch (err) {
        if (!isKeywardenError(err)) {
          this.fail({ kind: 'foreign-error', op, conversation, error: describe(err) });
          return false;
        }
        if (!err.retryable) {
          this.fail({ kind: 'non-retryable', op, conversation, error: describe(err) });
          return false;
        }
        this.retries[err.code] = (this.retries[err.code] ?? 0) + 1;
        const cause = causeOf(err);
        this.retryCauses[cause] = (this.retryCauses[cause] ?? 0) + 1;
        if (attempt >= MAX_ATTEMPTS) {
          this.fail({ kind: 'stuck', op, conversation, error: `still failing after ${attempt} attempts: ${describe(err)}` });
          return false;
        }
        await sleep(backoffMs(attempt, this.rng));
      }
    }
  }
}

/** `CODE (what lay under it)`: the innermost cause's name, or `deadline` for keywarden's own. */
function causeOf(err: { code: string; message: string; cause?: unknown }): string {
  let inner: unknown = err.cause;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  const what = inner instanceof Error ? inner.name : err.message.includes('did not complete within') ? 'deadline' : 'no cause';
  return `${err.code} (${what})`;
}

/** `Name [code]: message <- cause <- cause`, for failure reports. */
export function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof Error) {
      const code = (e as { code?: unknown }).code;
      parts.push(`${e.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${e.message}`);
    } else parts.push(String(e));
  }
  return parts.join(' <- ');
}
