/**
 * What the soak expects of a conversation once shreds are mixed in (docs/KEYS.md §3), and the
 * per-conversation gate that makes that expectation exact.
 *
 * A shred or a new generation runs alone on its conversation (`Gate.exclusive`): it waits for the
 * operations in flight there and holds back new ones until it is done. Every other operation of
 * the soak therefore either completes before the change or starts after it, and its outcome is
 * known in advance: a message sealed under a shredded version must fail with ERR_KEY_SHREDDED
 * (never open, never ERR_DECRYPT_FAILED), a conversation shredded as a whole must refuse to seal
 * and to rotate with ERR_KEY_SHREDDED until `startGeneration`, and everything else must work.
 * Without the gate, an operation racing the shred could rightly end either way and the soak could
 * only accept both, which checks nothing. State is kept for shredded conversations only, so it is
 * bounded by the number of shreds (the heap check stays meaningful).
 */
import type { Rng } from './workload.js';

/** Readers-writer gate per conversation: many ordinary operations, or one exclusive one. */
export class Gate {
  readonly #active = new Map<string, number>();
  readonly #locked = new Map<string, Promise<void>>();
  readonly #drained = new Map<string, () => void>();

  /** Waits while the conversation is held exclusively, then counts one operation in. */
  async enter(conversation: string): Promise<void> {
    for (let l = this.#locked.get(conversation); l !== undefined; l = this.#locked.get(conversation)) await l;
    this.#active.set(conversation, (this.#active.get(conversation) ?? 0) + 1);
  }

  leave(conversation: string): void {
    const n = (this.#active.get(conversation) ?? 1) - 1;
    if (n > 0) {
      this.#active.set(conversation, n);
      return;
    }
    this.#active.delete(conversation);
    this.#drained.get(conversation)?.();
  }

  /** Runs `fn` with no other operation of the conversation in flight. */
  async exclusive<T>(conversation: string, fn: () => Promise<T>): Promise<T> {
    for (let l = this.#locked.get(conversation); l !== undefined; l = this.#locked.get(conversation)) await l;
    let release!: () => void;
    this.#locked.set(conversation, new Promise<void>((r) => (release = r)));
    try {
      if (this.#active.has(conversation)) await new Promise<void>((r) => this.#drained.set(conversation, r));
      this.#drained.delete(conversation);
      return await fn();
    } finally {
      this.#locked.delete(conversation);
      release();
    }
  }
}

/** Shredded versions and closed conversations, as the shreds' reports said. */
export class ShredModel {
  readonly #shredded = new Map<string, Set<number>>();
  /** Conversations shredded as a whole and not started again (a list, to pick from). */
  readonly #closed: string[] = [];
  readonly #closedAt = new Map<string, number>();
  /** Conversations ever shredded as a whole, and how many generations were started after. */
  readonly everClosed = new Map<string, number>();

  isShredded(conversation: string, version: number): boolean {
    return this.#shredded.get(conversation)?.has(version) ?? false;
  }
  isClosed(conversation: string): boolean {
    return this.#closedAt.has(conversation);
  }
  get closedCount(): number {
    return this.#closed.length;
  }
  /** The conversation's shredded versions, ascending. */
  shreddedVersions(conversation: string): number[] {
    return [...(this.#shredded.get(conversation) ?? [])].sort((a, b) => a - b);
  }

  recordShred(conversation: string, versions: readonly number[], whole: boolean): void {
    let set = this.#shredded.get(conversation);
    if (set === undefined) this.#shredded.set(conversation, (set = new Set()));
    for (const v of versions) set.add(v);
    if (whole && !this.#closedAt.has(conversation)) {
      this.#closedAt.set(conversation, this.#closed.length);
      this.#closed.push(conversation);
      if (!this.everClosed.has(conversation)) this.everClosed.set(conversation, 0);
    }
  }

  recordGeneration(conversation: string): void {
    const i = this.#closedAt.get(conversation);
    if (i === undefined) return;
    // Swap-remove from the list.
    const last = this.#closed.pop()!;
    if (last !== conversation) {
      this.#closed[i] = last;
      this.#closedAt.set(last, i);
    }
    this.#closedAt.delete(conversation);
    this.everClosed.set(conversation, (this.everClosed.get(conversation) ?? 0) + 1);
  }

  pickClosed(rng: Rng): string | undefined {
    return this.#closed.length === 0 ? undefined : this.#closed[rng.int(this.#closed.length)];
  }
}
