/**
 * The soak's KMS: test/support/kms-server.ts in a child process of its own (forked by
 * kms-remote.ts), so that its CPU does not share the soak's event loop and its memory is not
 * counted in the heap the soak checks. It injects the faults itself on a schedule: every
 * `faultEveryMs` it clears the previous episode (cutting requests left hanging) and starts a new
 * one, chosen at random:
 *
 * - throttle: a burst of ThrottlingException (the SDK retries, then gives up);
 * - 5xx: a run of 500/502/503 answers;
 * - drop: sockets destroyed instead of answered;
 * - hang: requests accepted and never answered (keywarden's `timeouts.kmsMs` must end them; the
 *   next episode cuts whatever is still hanging);
 * - slow-short: every answer delayed to ~75% of `timeouts.kmsMs` for a moment (a hang shorter
 *   than the deadline: the calls succeed, late);
 * - slow-long: every answer delayed to 1.5 x `timeouts.kmsMs` for a moment (a hang longer than it);
 * - quiet: nothing.
 *
 * Protocol (IPC): it sends `{ type: 'ready', endpoint, region, accessKeyId, secretAccessKey, keyArn }`;
 * it answers `{ type: 'stats', id }` with `{ type: 'stats', id, calls, faults, memory }`.
 */
import { startKmsServer } from '../../test/support/kms-server.js';
import { Rng } from './workload.js';

interface Config { latencyMs: number; faultEveryMs: number; kmsTimeoutMs: number; seed: number }
const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const send = (m: unknown) => process.send!(m);

const server = await startKmsServer({ latencyMs: config.latencyMs });
const key = server.createKey({ alias: 'alias/keywarden-soak' });

// The endpoint logs every request; the soak makes hundreds of thousands.
setInterval(() => void (server.log.length = 0), 1000).unref();

const injected: Record<string, number> = {};
const rng = new Rng(config.seed ^ 0x5eed);
let slowTimer: ReturnType<typeof setTimeout> | undefined;

type Episode = [name: string, weight: number, start: () => void];
const episodes: Episode[] = [
  ['quiet', 3, () => {}],
  ['throttle', 3, () => server.faults.throttleNext(20 + rng.int(180))],
  ['5xx', 2, () => server.faults.failNext(5 + rng.int(45), [500, 502, 503][rng.int(3)])],
  ['drop', 2, () => server.faults.dropNext(2 + rng.int(18))],
  ['hang', 1, () => server.faults.hangNext(1 + rng.int(4))],
  ['slow-short', 1, () => slow(Math.round(config.kmsTimeoutMs * 0.75), 800)],
  ['slow-long', 1, () => slow(Math.round(config.kmsTimeoutMs * 1.5), 300)],
];
const totalWeight = episodes.reduce((a, e) => a + e[1], 0);

function slow(latencyMs: number, forMs: number): void {
  server.faults.latencyMs = latencyMs;
  slowTimer = setTimeout(() => void (server.faults.latencyMs = config.latencyMs), forMs);
}

function nextEpisode(): void {
  clearTimeout(slowTimer);
  server.faults.reset(); // also cuts requests a 'hang' left open, and sets latency to 0
  server.faults.latencyMs = config.latencyMs;
  let r = rng.int(totalWeight);
  for (const [name, weight, start] of episodes) {
    if ((r -= weight) >= 0) continue;
    injected[name] = (injected[name] ?? 0) + 1;
    start();
    return;
  }
}
if (config.faultEveryMs > 0) setInterval(nextEpisode, config.faultEveryMs);

process.on('message', (m: { type: string; id?: number }) => {
  if (m.type === 'stats') send({ type: 'stats', id: m.id, calls: { ...server.calls }, faults: { ...injected }, memory: process.memoryUsage() });
});
process.on('disconnect', () => {
  void server.close().finally(() => process.exit(0));
});

send({ type: 'ready', endpoint: server.endpoint, region: server.region, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey, keyArn: key.arn });
