/**
 * The key-change subscription behind `watchKeyChanges`, kept alive. A subscription can die with
 * its connection (a PostgreSQL restart, a terminated backend, a pooler); until it is back, other
 * instances' rotations and shreds go unnoticed. So: on loss, forget every cached active version
 * at once (the cache's max age would otherwise be the only bound), re-subscribe with capped
 * exponential backoff and jitter, and forget them again once listening (notifications sent while
 * away are lost for good). A shred missed meanwhile stays cached until the cache's max age: that
 * is the documented fallback bound (docs/KEYS.md §5). The state is visible in `Keywarden.stats().watch`.
 */
import type { KeyChange, KeyStore } from '../store/types.js';

/** What `stats().watch` reports. */
export interface WatchStats {
  /** `off` (not configured, or closed), `connecting`, `listening`, or `retrying` after a loss or failure. */
  state: 'off' | 'connecting' | 'listening' | 'retrying';
  /** Times the subscription was re-established after being lost. */
  reconnects: number;
  /** Failed subscribe attempts. */
  failures: number;
  /** Code of the last failure or loss (e.g. `ECONNRESET`, `SQLSTATE 57P01`), if any. */
  lastError?: string;
}

const MIN_DELAY_MS = 50;
const MAX_DELAY_MS = 30_000;

export class KeyWatcher {
  readonly #store: KeyStore;
  readonly #onChange: (conversationId: string, change: KeyChange) => void;
  readonly #onMissed: () => void;
  readonly #stats: WatchStats = { state: 'connecting', reconnects: 0, failures: 0 };
  #stop: (() => Promise<void>) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #lost = false;
  #closed = false;
  readonly ready: Promise<void>;

  /** Starts listening at once. `onMissed` runs whenever notifications may have been missed. */
  constructor(store: KeyStore, onChange: (conversationId: string, change: KeyChange) => void, onMissed: () => void) {
    this.#store = store;
    this.#onChange = onChange;
    this.#onMissed = onMissed;
    this.ready = this.#subscribe();
  }

  stats(): WatchStats {
    return { ...this.#stats };
  }

  async #subscribe(): Promise<void> {
    if (this.#closed) return;
    let stop: () => Promise<void>;
    // A loss reported before `subscribe` resolved (the connection dropped right after LISTEN):
    // that subscription is dead on arrival. It is stopped once it resolves and never counted as
    // listening; #onLost has already scheduled the retry (outside review, 2026-12-02: it was
    // kept as live, and the retry's subscription replaced it without stopping it).
    let ready = false;
    let lostEarly = false;
    try {
      stop = await this.#store.subscribe!(this.#onChange, (err) => {
        if (!ready) lostEarly = true;
        this.#onLost(err);
      });
    } catch (err) {
      this.#stats.failures++;
      this.#fail(err);
      return;
    }
    ready = true;
    if (this.#closed || lostEarly) return void stopQuietly(stop);
    this.#stop = stop;
    this.#attempt = 0;
    if (this.#lost) this.#stats.reconnects++;
    this.#lost = false;
    this.#stats.state = 'listening';
    this.#onMissed(); // whatever changed while we were not listening
  }

  #onLost(err: unknown): void {
    if (this.#closed) return;
    this.#stop = undefined;
    this.#lost = true;
    this.#onMissed();
    this.#fail(err);
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    this.#stats.state = 'retrying';
    this.#stats.lastError = errorCode(err);
    const delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** this.#attempt++) * (0.5 + Math.random() / 2);
    this.#timer = setTimeout(() => void this.#subscribe(), delay);
    this.#timer.unref?.();
  }

  /** Stops listening and retrying. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stats.state = 'off';
    clearTimeout(this.#timer);
    const stop = this.#stop;
    this.#stop = undefined;
    if (stop !== undefined) await stopQuietly(stop);
  }
}

/**
 * Runs a subscription's stop function, ignoring its failure — a synchronous throw as well as a
 * rejection: Keywarden.close() does not wait for it (review 7: a stop that threw left an
 * unhandled rejection behind close()).
 */
async function stopQuietly(stop: () => Promise<void>): Promise<void> {
  try {
    await stop();
  } catch {
    // the subscription is abandoned either way
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string') return /^[0-9A-Z]{5}$/.test(e.code) ? `SQLSTATE ${e.code}` : e.code;
  return 'connection lost';
}
