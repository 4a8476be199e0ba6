/**
 * Ctrl-C (SIGINT) and SIGTERM for the long `keys` jobs: the first one stops the job after the
 * page in progress — whose keys are committed with their audit entries — so that a rerun simply
 * continues; a second one ends the process at once (still safe: an uncommitted page is redone).
 * @module
 */
import type { RunContext } from './spec.js';

/** The stop signal of a job, and what stopped it. */
export interface Interrupt {
  /** Fires on the first SIGINT or SIGTERM; pass it to the library call. */
  signal: AbortSignal;
  /** The signal's name once it fired. */
  readonly by: NodeJS.Signals | undefined;
  /** Gives the process its default signal handling back. */
  release(): void;
}

/** Listens for SIGINT and SIGTERM while a job runs (only when the CLI runs as a process). */
export function interruptible(ctx: RunContext, onStop: () => void): Interrupt {
  const controller = new AbortController();
  let by: NodeJS.Signals | undefined;
  const release = ctx.io.terminal?.onInterrupt((signal) => {
    by = signal;
    onStop();
    ctx.io.err(`${signal}: stopping after the page in progress (again to stop at once)\n`);
    controller.abort();
  }) ?? (() => undefined);
  return {
    signal: controller.signal,
    get by() {
      return by;
    },
    release,
  };
}
