/**
 * The soak's workload: who talks (Zipf-like popularity over the conversations), what they write
 * (plaintexts derived from the message number, so nothing needs remembering to check a
 * decryption), and which old messages get read back (a bounded reservoir of single messages
 * and a bounded set of conversation pages). Deterministic for a given seed.
 */

/** xorshift128+ style generator on 32-bit halves (deterministic, fast, good enough for a workload). */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;
  constructor(seed: number) {
    // splitmix32 to spread the seed over the state.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next() | 1;
  }
  /** Uniform in [0, 1). (sfc32) */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Samples ranks 0..n-1 with P(rank k) proportional to 1/(k+1)^s: rank 0 is the hottest conversation. */
export class Zipf {
  readonly #cdf: Float64Array;
  constructor(readonly n: number, s: number) {
    this.#cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) this.#cdf[k] = sum += 1 / (k + 1) ** s;
    for (let k = 0; k < n; k++) this.#cdf[k]! /= sum;
  }
  sample(rng: Rng): number {
    const u = rng.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** Probability mass of the `k` hottest ranks (what an ideal cache of k conversations would hit). */
  massOfTop(k: number): number {
    return k <= 0 ? 0 : this.#cdf[Math.min(k, this.n) - 1]!;
  }
}

/** Conversation id of a rank (ULID-like length, as bench/memory uses). */
export function conversationId(rank: number): string {
  return `dm:${rank.toString(36).padStart(23, '0')}`;
}

/** Message id (the aad) of message number `m`. */
export function messageAad(m: number): string {
  return `msg:${m}`;
}

/**
 * The plaintext of message `m` in `conversation`: a header naming both, then filler bytes from
 * a generator seeded by `m`; 40 to ~1,000 bytes, mostly short like chat messages.
 */
export function plaintextOf(conversation: string, m: number): Uint8Array {
  let x = (m * 0x9e3779b1) >>> 0 || 1;
  const step = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  const r = step() % 1000;
  const len = 40 + (r < 800 ? r % 200 : r < 980 ? r % 600 : r); // 80% short, a few up to ~1 KB
  const out = new Uint8Array(len);
  const head = `${conversation}|${m}|`;
  const n = Math.min(head.length, len);
  for (let i = 0; i < n; i++) out[i] = head.charCodeAt(i);
  for (let i = n; i < len; i++) out[i] = step() & 0xff;
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A message written earlier, kept to be read back. */
export interface Written {
  conversation: string;
  m: number;
  /** The key version named in the ciphertext's header (what a shred decides the outcome by). */
  version: number;
  ct: Uint8Array;
}

/** Uniform sample (Algorithm R) of every message written, of bounded size. */
export class Reservoir {
  readonly items: Written[] = [];
  #seen = 0;
  constructor(readonly size: number) {}
  offer(w: Written, rng: Rng): void {
    this.#seen++;
    if (this.items.length < this.size) this.items.push(w);
    else {
      const j = rng.int(this.#seen);
      if (j < this.size) this.items[j] = w;
    }
  }
  pick(rng: Rng): Written | undefined {
    return this.items.length === 0 ? undefined : this.items[rng.int(this.items.length)];
  }
}

/**
 * Recent messages of a bounded set of conversations, read back as pages with decryptMany. A
 * conversation joins the set (replacing a random member) with probability `joinRate` per
 * message written, so the set keeps turning over; pages span rotations, hence several versions.
 */
export class Pages {
  readonly #pages = new Map<string, Written[]>();
  readonly #members: string[] = [];
  constructor(readonly conversations: number, readonly pageSize: number, readonly joinRate: number) {}
  offer(w: Written, rng: Rng): void {
    let page = this.#pages.get(w.conversation);
    if (page === undefined) {
      if (rng.next() >= this.joinRate) return;
      page = [];
      if (this.#members.length < this.conversations) this.#members.push(w.conversation);
      else {
        const j = rng.int(this.#members.length);
        this.#pages.delete(this.#members[j]!);
        this.#members[j] = w.conversation;
      }
      this.#pages.set(w.conversation, page);
    }
    page.push(w);
    if (page.length > this.pageSize) page.shift();
  }
  /** Every message the pages hold. */
  all(): Written[] {
    return [...this.#pages.values()].flat();
  }
  pick(rng: Rng): Written[] | undefined {
    if (this.#members.length === 0) return undefined;
    return this.#pages.get(this.#members[rng.int(this.#members.length)]!);
  }
}
