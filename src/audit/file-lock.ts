/**
 * The file audit store's sequencer lock: a file `LOCK` holding `<pid> <instance>`, created
 * atomically with its contents, and taken over when its holder is dead — by one contender only.
 *
 * Taking over is the delicate part: reading a dead holder, removing the file and creating one's
 * own are three steps, and a contender that read the same dead holder a moment earlier would
 * remove the winner's new lock (outside review, 2026-12-01: two sequencers, one acknowledged
 * entry lost, two checkpoints of one size). So a stale lock is removed only by the contender that
 * creates its reap token `LOCK.reap-<holder>` (exclusive create: one wins), and only if the lock
 * still names that holder; the token is taken the same way when its own holder died.
 *
 * A holder is alive when its process runs; for this process's own pid, when its instance is
 * open here (a container restarts its service with the same pid: the lock a crashed run left
 * names this pid and an instance that no longer exists — outside review, 2026-12-01).
 * @module
 */
import { link, open, readFile, rm } from 'node:fs/promises';
import { isAlive } from './file-outbox.js';
import { randomBytes } from '../util/random.js';

/**
 * Instances of the file audit store open in this process — across every copy of this module
 * loaded in it (the ESM and CJS builds, two installed versions): one registry on `globalThis`
 * (outside review, 2026-12-01: a second copy saw the first one's live lock as dead).
 */
const openHere: Set<string> = ((globalThis as Record<symbol, unknown>)[Symbol.for('keywarden.audit.file-lock.open')] ??= new Set<string>()) as Set<string>;

/** Registers an instance id as open in this process (until {@link closedHere}). */
export function openedHere(instance: string): void {
  openHere.add(instance);
}

/** Unregisters an instance id. */
export function closedHere(instance: string): void {
  openHere.delete(instance);
}

/** The contents a lock of this process's `instance` holds. */
export function lockText(instance: string): string {
  return `${process.pid} ${instance}`;
}

/** Whether the holder a lock names (`<pid> <instance>`) is alive; malformed contents are not. */
export function holderAlive(text: string): boolean {
  const m = /^([1-9][0-9]{0,9}) ([0-9a-f]{1,64})$/.exec(text);
  if (m === null) return false;
  const pid = Number(m[1]);
  return pid === process.pid ? openHere.has(m[2]!) : isAlive(pid);
}

async function readText(path: string): Promise<string | undefined> {
  return (await readFile(path, 'utf8').catch(() => undefined))?.trim();
}

/** Creates `path` holding `text`, atomically (never seen empty); false when it exists. */
async function createWith(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.new-${Buffer.from(randomBytes(6)).toString('hex')}`;
  const h = await open(tmp, 'wx', 0o600);
  try {
    await h.writeFile(text);
  } finally {
    await h.close();
  }
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Reap tokens nested (a reaper that died while reaping) before giving up. */
const MAX_DEPTH = 4;

/**
 * Takes the lock file `path` for `text` (see the module comment): true when this caller holds it.
 * False while a live holder has it.
 */
export async function takeLock(path: string, text: string, depth = 0): Promise<boolean> {
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createWith(path, text)) return true;
    const holder = await readText(path);
    if (holder === undefined) continue; // released meanwhile: create again
    if (holder === text) return true; // ours already
    if (holderAlive(holder) || depth >= MAX_DEPTH) return false;
    const token = `${path}.reap-${Buffer.from(holder).toString('hex').slice(0, 96)}`;
    if (!(await takeLock(token, text, depth + 1))) return false;
    try {
      // The lock cannot change while it names a dead holder and we hold its token: only a
      // token holder removes it, and nobody creates it while it exists.
      if ((await readText(path)) === holder) await rm(path, { force: true });
    } finally {
      await rm(token, { force: true });
    }
  }
  return false;
}
