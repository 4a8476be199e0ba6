/**
 * A progress bar with rate and ETA for the long `keys` jobs (retain, rewrap), drawn on stderr
 * by `cli-progress` — only when stderr is a terminal and the output is not JSON, so logs, pipes
 * and scripts see nothing but the result.
 * @module
 */
import cliProgress from 'cli-progress';
import type { Args, RunContext } from './spec.js';

/** Where a long job reports how far it got. */
export interface Progress {
  /** `done` so far (including earlier runs of a resumed job) of `total`, when known. */
  update(done: number, total: number | undefined): void;
  /** Removes the bar's timer and leaves the last state on screen; call before printing anything. */
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };

/**
 * A bar for `unit`s (`keys`, `versions`), or a no-op when it must stay off. Call it when the job
 * starts; `doneBefore` is what earlier runs of a resumed job did (it does not count in the rate).
 */
export function progressBar(args: Args, ctx: RunContext, label: string, unit: string, doneBefore = 0): Progress {
  const stream = ctx.io.terminal?.stderr;
  if (stream === undefined || args.json) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} |{bar}| {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      hideCursor: true,
      // The rate and ETA over the last 50 updates (pages): steady, yet quick to follow a change.
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const at = performance.now();
  let shown = false;
  return {
    update(done, total) {
      const t = Math.max(total ?? done, done);
      const seconds = (performance.now() - at) / 1000;
      const rate = String(seconds > 0 ? Math.round((done - doneBefore) / seconds) : 0);
      if (!shown) {
        shown = true;
        bar.start(t, done, { rate });
        return;
      }
      bar.setTotal(t);
      bar.update(done, { rate });
    },
    stop() {
      if (shown) bar.stop();
    },
  };
}
