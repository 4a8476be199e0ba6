/**
 * The person at the terminal, when there is one: whether stdin and stderr are terminals, a
 * yes/no question, and Ctrl-C. Kept apart from the commands so that a command run in-process
 * (tests, `main(argv, io)` without `io.terminal`) never blocks on a prompt, never draws on a
 * stream it does not own and never takes over the process's signals.
 * @module
 */
import { createInterface } from 'node:readline/promises';

/** What a command may ask of the terminal it runs in. */
export interface Terminal {
  /** True when standard input is a terminal: a question can be answered. */
  readonly stdinIsTTY: boolean;
  /** Standard error when it is a terminal (progress bars draw on it), else undefined. */
  readonly stderr: NodeJS.WriteStream | undefined;
  /** Asks `question` on stderr and resolves with the line typed (trimmed); '' at end of input. */
  ask(question: string): Promise<string>;
  /**
   * Calls `onStop` on the first SIGINT or SIGTERM instead of dying; a second one ends the
   * process the default way. Returns the function that gives the signals back.
   */
  onInterrupt(onStop: (signal: NodeJS.Signals) => void): () => void;
}

/** The terminal of this process. */
export function processTerminal(): Terminal {
  return {
    stdinIsTTY: process.stdin.isTTY === true,
    stderr: process.stderr.isTTY === true ? process.stderr : undefined,
    async ask(question) {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      // Ctrl-D closes the interface without an answer: that is a "no".
      const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
      try {
        return (await Promise.race([rl.question(question), closed])).trim();
      } finally {
        rl.close();
      }
    },
    onInterrupt(onStop) {
      let seen = false;
      const handler = (signal: NodeJS.Signals) => {
        if (seen) {
          // The second signal: stop at once, exactly as without a handler (exit status 128+n).
          release();
          process.kill(process.pid, signal);
          return;
        }
        seen = true;
        onStop(signal);
      };
      const release = () => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      };
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      return release;
    },
  };
}

/** Standard input, whole (for `inspect -`), or its first chunks once `max` bytes have come. */
export async function readStdin(max = Infinity): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total >= max) break; // enough to tell it is too long: the rest is never buffered
  }
  return new Uint8Array(Buffer.concat(chunks));
}
