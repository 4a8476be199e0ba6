/**
 * An unwrapped conversation key version as the cache holds it: the key bytes, the associated
 * data prefix computed once (so the hot path never re-encodes the conversation id), and the
 * number of seals this process may still make under it (docs/FORMAT.md §5).
 */
import type { SuiteInfo } from '../format/suites.js';
import { aadPrefix } from '../format/wire.js';

export class LiveKey {
  readonly conversationId: string;
  readonly version: number;
  readonly suite: SuiteInfo;
  /** 32 key bytes, owned by this object; zeroed by {@link LiveKey.wipe}. */
  readonly key: Uint8Array;
  /** version | suite | key version | u16 len | conversation id (docs/FORMAT.md §4). */
  readonly aadPrefix: Uint8Array;
  /** Seals still granted to this process; Infinity for suites without a message bound. */
  remaining: number;
  /** In-flight reservation or rotation (single-flight per key). */
  refill: Promise<LiveKey> | undefined;
  /** Users that awaited while holding it (decryptMany); wiping waits for them. */
  pins = 0;
  /** Left the cache: never hand it out again. */
  disposed = false;
  #wiped = false;

  constructor(conversationId: string, conversationIdBytes: Uint8Array, version: number, suite: SuiteInfo, key: Uint8Array, remaining: number) {
    this.conversationId = conversationId;
    this.version = version;
    this.suite = suite;
    this.key = key;
    this.aadPrefix = aadPrefix(suite.id, version, conversationIdBytes);
    this.remaining = remaining;
  }

  /** Called when the cache drops it: wipe now, or when the last pin is released. */
  dispose(): void {
    this.disposed = true;
    if (this.pins === 0) this.wipe();
  }

  pin(): void {
    this.pins++;
  }

  unpin(): void {
    this.pins--;
    if (this.pins === 0 && this.disposed) this.wipe();
  }

  /** Zeroes the key (best effort: the engine may have made copies we cannot reach). */
  wipe(): void {
    if (this.#wiped) return;
    this.#wiped = true;
    this.key.fill(0);
    this.remaining = 0;
  }

  get wiped(): boolean {
    return this.#wiped;
  }
}

/** The cached answer to "which version do new messages of this conversation use?". */
export interface ActivePointer {
  readonly version: number;
  /** The key itself, a hint valid while `!live.disposed`. */
  live: LiveKey;
}
