/** Starts a key worker process (./key-worker.ts) and talks to it: `call(op, conversation, bytes)`. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface Reply { ok: boolean; hex?: string; code?: string; version?: number }

export async function startKeyWorker(o: { schema: string; masterKeyHex: string; watch?: boolean; cacheMaxAgeMs?: number; branch?: boolean }) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'key-worker.ts')], {
    env: {
      ...process.env, SCHEMA: o.schema, MASTER_KEY: o.masterKeyHex, WATCH: o.watch ? '1' : '0', CACHE_MAX_AGE_MS: String(o.cacheMaxAgeMs ?? 300_000), BRANCH: o.branch ? '1' : '0',
    },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const waiting = new Map<number, (r: Reply) => void>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  lines.on('line', (l) => {
    const msg = JSON.parse(l) as Reply & { id?: number; ready?: boolean };
    if (msg.ready) return ready();
    waiting.get(msg.id!)?.(msg);
    waiting.delete(msg.id!);
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  await Promise.race([isReady, exited.then(() => Promise.reject(new Error(`worker exited: ${stderr}`)))]);
  let next = 0;
  const call = (op: 'encrypt' | 'decrypt', conv: string, bytes: Uint8Array) =>
    new Promise<Reply>((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      child.stdin.write(`${JSON.stringify({ id, op, conv, hex: Buffer.from(bytes).toString('hex') })}\n`);
    });
  return {
    call,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
