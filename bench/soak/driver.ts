/**
 * The soak's operations: `concurrency` workers, each running one operation at a time, drawn from
 * the mix below, until the messages are written. Retryable keywarden errors are retried with
 * backoff and counted by code; everything else is a failure: an error that is not keywarden's,
 * a non-retryable one, a decryption that fails or gives other bytes, an operation still failing
 * after MAX_ATTEMPTS attempts (a stuck conversation).
 */
import { type Keywarden, isKeywardenError } from '../../src/node.js';
import { Pages, Reservoir, type Rng, type Written, Zipf, conversationId, messageAad, plaintextOf, sameBytes } from './workload.js';

export type OpKind = 'encrypt' | 'decrypt' | 'decryptMany' | 'rotate';
export const OP_KINDS: readonly OpKind[] = ['encrypt', 'decrypt', 'decryptMany', 'rotate'];

/** Share of operations of each kind; encrypt takes the rest. */
const MIX = { rotate: 1 / 10_000, decryptMany: 0.03, decrypt: 0.15 };
// Shreds (crypto-erasure of a conversation's keys) do not exist yet. When they do, mix them in
// here (e.g. 1 in 50,000 operations, on a Zipf-chosen conversation), drop the shredded
// conversation's messages from the reservoir and pages (or expect ERR_DECRYPT_FAILED /
// ERR_KEY_NOT_FOUND for them), and count them in `ops`.

const MAX_ATTEMPTS = 15;
const MAX_FAILURE_SAMPLES = 20;
const backoffMs = (attempt: number, rng: Rng) => Math.min(1000, 10 * 2 ** attempt) * (0.5 + rng.next());
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Failure {
  kind: 'foreign-error' | 'non-retryable' | 'stuck' | 'decrypt-failed' | 'wrong-plaintext' | 'unhandled-rejection';
  op: OpKind | 'process';
  conversation?: string;
  error?: string;
  at_s: number;
}

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
  readonly ops: Record<OpKind, number> = { encrypt: 0, decrypt: 0, decryptMany: 0, rotate: 0 };
  readonly latency: Record<OpKind, Histogram> = { encrypt: new Histogram(), decrypt: new Histogram(), decryptMany: new Histogram(), rotate: new Histogram() };
  /** All operations since the last sample (reset by the sampler). */
  interval = new Histogram();
  readonly retries: Record<string, number> = {};
  /** Retries by code and what lay under it (the SDK's error name, or keywarden's own deadline). */
  readonly retryCauses: Record<string, number> = {};
  retriedOps = 0;
  maxAttemptsUsed = 1;
  messagesRead = 0;
  failures = 0;
  readonly failureSamples: Failure[] = [];
  /** Next message number to write (= messages claimed). */
  written = 0;
  introduced = 0;
  stopping = false;
  readonly #inflight = new Map<number, { op: OpKind; conversation: string; since: number }>();
  readonly #zipf: Zipf;
  readonly #reservoir = new Reservoir(4096);
  readonly #pages = new Pages(256, 25, 0.05);
  readonly #warmupMessages: number;
  readonly #t0 = performance.now();

  constructor(
    readonly kw: Keywarden,
    readonly o: { messages: number; conversations: number; zipf: number; warmup: number; concurrency: number },
    readonly rng: Rng,
  ) {
    this.#zipf = new Zipf(o.conversations, o.zipf);
    this.#warmupMessages = Math.floor(o.messages * o.warmup);
  }

  get warmupMessages(): number {
    return this.#warmupMessages;
  }
  get zipf(): Zipf {
    return this.#zipf;
  }
  get opsDone(): number {
    return this.ops.encrypt + this.ops.decrypt + this.ops.decryptMany + this.ops.rotate;
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

  async #worker(id: number): Promise<void> {
    while (!this.stopping) {
      const r = this.rng.next();
      let kind: OpKind = r < MIX.rotate ? 'rotate' : r < MIX.rotate + MIX.decryptMany ? 'decryptMany' : r < MIX.rotate + MIX.decryptMany + MIX.decrypt ? 'decrypt' : 'encrypt';
      let page: Written[] | undefined;
      let one: Written | undefined;
      if (kind === 'decryptMany' && (page = this.#pages.pick(this.rng)?.slice()) === undefined) kind = 'encrypt';
      if (kind === 'decrypt' && (one = this.#reservoir.pick(this.rng)) === undefined) kind = 'encrypt';
      let conversation: string;
      let m = -1;
      if (kind === 'encrypt') {
        if (this.written >= this.o.messages) break;
        m = this.written++;
        conversation = conversationId(this.#pickForMessage(m));
      } else conversation = kind === 'rotate' ? conversationId(this.#zipf.sample(this.rng)) : (page?.[0] ?? one)!.conversation;
      const since = performance.now();
      this.#inflight.set(id, { op: kind, conversation, since });
      const ok = await this.#withRetries(kind, conversation, async () => {
        switch (kind) {
          case 'encrypt':
            return this.#encrypt(conversation, m);
          case 'decrypt':
            return this.#decrypt(one!);
          case 'decryptMany':
            return this.#decryptMany(conversation, page!);
          case 'rotate':
            await this.kw.rotate(conversation);
            return true;
        }
      });
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

  async #encrypt(conversation: string, m: number): Promise<boolean> {
    const ct = await this.kw.encrypt(conversation, plaintextOf(conversation, m), { aad: messageAad(m) });
    const w = { conversation, m, ct };
    this.#reservoir.offer(w, this.rng);
    this.#pages.offer(w, this.rng);
    return true;
  }

  async #decrypt(w: Written): Promise<boolean> {
    let pt: Uint8Array;
    try {
      pt = await this.kw.decrypt(w.conversation, w.ct, { aad: messageAad(w.m) });
    } catch (err) {
      if (isKeywardenError(err, 'ERR_DECRYPT_FAILED')) {
        this.fail({ kind: 'decrypt-failed', op: 'decrypt', conversation: w.conversation, error: `message ${w.m}: ${describe(err)}` });
        return false;
      }
      throw err;
    }
    this.messagesRead++;
    if (sameBytes(pt, plaintextOf(w.conversation, w.m))) return true;
    this.fail({ kind: 'wrong-plaintext', op: 'decrypt', conversation: w.conversation, error: `message ${w.m}` });
    return false;
  }

  async #decryptMany(conversation: string, page: Written[]): Promise<boolean> {
    const results = await this.kw.decryptMany(conversation, page.map((w) => ({ ciphertext: w.ct, aad: messageAad(w.m) })));
    let ok = true;
    for (let i = 0; i < page.length; i++) {
      const r = results[i]!;
      const w = page[i]!;
      this.messagesRead++;
      if (!r.ok) this.fail({ kind: 'decrypt-failed', op: 'decryptMany', conversation, error: `message ${w.m}: ${describe(r.error)}` });
      else if (!sameBytes(r.plaintext, plaintextOf(conversation, w.m))) this.fail({ kind: 'wrong-plaintext', op: 'decryptMany', conversation, error: `message ${w.m}` });
      else continue;
      ok = false;
    }
    return ok;
  }

  async #withRetries(op: OpKind, conversation: string, fn: () => Promise<boolean>): Promise<boolean> {
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
