/**
 * A process for test/review6-audit-file-*.test.ts that is killed (SIGKILL, by itself) at a chosen
 * point of a FileAuditStore operation. The point is a file system call, found by wrapping
 * `node:fs/promises` before the store is loaded (module.syncBuiltinESMExports updates the named
 * imports): KILL = JSON { op: 'rename' | 'write', match: <path suffix>, nth: <1-based>, when:
 * 'before' | 'after' }. Nothing fails: the process just stops existing at that point.
 *
 * SCENARIO:
 * - `step`: opens the log in DIR as sequencer, appends SETUP events (each under a checkpoint),
 *   records PRODUCED events through a second, producer-only instance (acknowledged once durable
 *   in its outbox file), then arms the kill and appends one more event (the step that integrates
 *   the outbox records and carries a checkpoint).
 * - `prune`: appends SETUP events (one checkpoint each), arms the kill, prunes the history to KEEP.
 * - `migrate`: opens a 0.1 directory (chunks of CHUNK entries), armed from the start.
 * With KILL.signal = 'SIGSTOP' the process stops itself there instead (a stall: the test
 * continues it with SIGCONT) and then goes on; it exits without closing, its LOCK left behind.
 * Prints `acked <id>` for every event acknowledged, and `done` when the operation ends without
 * reaching the kill point.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';

const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
const kill = process.env.KILL === undefined ? undefined : (JSON.parse(process.env.KILL) as { op: 'rename' | 'write'; match: string; nth?: number; when: 'before' | 'after'; signal?: 'SIGKILL' | 'SIGSTOP' });
let armed = false;
let seen = 0;
/** SIGKILL: the end. SIGSTOP: a stall (the test continues it with SIGCONT), then on as if nothing happened. */
const die = (): void => {
  process.kill(process.pid, kill!.signal ?? 'SIGKILL');
  if ((kill!.signal ?? 'SIGKILL') === 'SIGKILL') throw new Error('unreachable');
};
const hit = (op: string, path: string): boolean => armed && kill !== undefined && kill.op === op && path.endsWith(kill.match) && ++seen === (kill.nth ?? 1);

const realRename = fsp.rename;
fsp.rename = (async (from: Parameters<typeof realRename>[0], to: Parameters<typeof realRename>[1]) => {
  if (!hit('rename', String(to))) return realRename(from, to);
  if (kill!.when === 'before') die();
  await realRename(from, to);
  if (kill!.when === 'after') die();
}) as typeof realRename;
const realOpen = fsp.open;
fsp.open = (async (...args: Parameters<typeof realOpen>) => {
  const h = await realOpen(...args);
  const path = String(args[0]);
  return new Proxy(h, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop !== 'write') return (value as (...a: unknown[]) => unknown).bind(target);
      return async (...a: unknown[]) => {
        if (!hit('write', path)) return (value as (...x: unknown[]) => unknown).apply(target, a);
        if (kill!.when === 'before') die();
        const r = await (value as (...x: unknown[]) => Promise<unknown>).apply(target, a);
        if (kill!.when === 'after') die();
        return r;
      };
    },
  });
}) as typeof realOpen;
syncBuiltinESMExports();

const { FileAuditStore } = await import('../../src/audit/file-store.js');
const { AuditLog } = await import('../../src/audit/log.js');
const { fileMigration } = await import('../../src/audit/file-migrate.js');
const { sampleEvent } = await import('./audit-fixtures.js');

const dir = process.env.DIR!;
const signerKey = process.env.SIGNER_KEY!;
const n = (name: string, d = 0) => Number(process.env[name] ?? d);
const say = (s: string) => process.stdout.write(`${s}\n`);
const O = { signerKey, checkpointIntervalMs: 3_600_000, lingerMs: 0, pollMs: 5, roleCheckMs: 20 };

switch (process.env.SCENARIO) {
  case 'step': {
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    let next = n('FIRST');
    for (let i = 0; i < n('SETUP'); i++, next++) {
      await log.append(sampleEvent(next));
      say(`acked evt-${next}`);
    }
    const producer = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O, sequencer: false });
    for (let i = 0; i < n('PRODUCED'); i++, next++) {
      await producer.record(sampleEvent(next));
      say(`acked evt-${next}`);
    }
    armed = true;
    await log.append(sampleEvent(next));
    say(`acked evt-${next}`);
    break;
  }
  case 'prune': {
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    let next = n('FIRST');
    for (let i = 0; i < n('SETUP'); i++, next++) {
      await log.append(sampleEvent(next));
      say(`acked evt-${next}`);
    }
    armed = true;
    await log.pruneCheckpoints(n('KEEP', 1));
    break;
  }
  case 'migrate': {
    fileMigration.chunk = n('CHUNK', 65_536);
    armed = true;
    const log = await AuditLog.open({ store: await FileAuditStore.open(dir), ...O });
    await log.close();
    break;
  }
  default:
    throw new Error(`unknown SCENARIO ${process.env.SCENARIO}`);
}
say('done');
process.exit(0);
