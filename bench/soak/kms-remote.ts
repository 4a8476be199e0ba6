/** The parent's handle on the soak's KMS child process (kms-process.ts). */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KMSClient } from '@aws-sdk/client-kms';

export interface KmsStats {
  /** Requests the endpoint received, by operation (SDK retries included). */
  calls: Record<string, number>;
  /** Fault episodes started, by kind. */
  faults: Record<string, number>;
  memory: NodeJS.MemoryUsage;
}

export interface RemoteKms {
  keyArn: string;
  /** A real KMSClient for the endpoint (the SDK's default retry strategy: 3 attempts). */
  client(): KMSClient;
  stats(): Promise<KmsStats>;
  close(): Promise<void>;
}

export async function startRemoteKms(config: { latencyMs: number; faultEveryMs: number; kmsTimeoutMs: number; seed: number }): Promise<RemoteKms> {
  const script = fileURLToPath(new URL('./kms-process.ts', import.meta.url));
  const child: ChildProcess = fork(script, [JSON.stringify(config)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, (s: KmsStats) => void>();
  let nextId = 1;
  const ready = await new Promise<{ endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; keyArn: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`KMS process exited (${code}) before it was ready`)));
    child.on('message', (m: { type: string; id?: number } & Record<string, unknown>) => {
      if (m.type === 'ready') resolve(m as never);
      else if (m.type === 'stats') {
        pending.get(m.id!)?.(m as unknown as KmsStats);
        pending.delete(m.id!);
      }
    });
  });
  child.removeAllListeners('exit');
  child.removeAllListeners('error');
  child.on('exit', (code) => {
    if (!closing) {
      process.stderr.write(`soak: the KMS process exited unexpectedly (${code})\n`);
      process.exit(1);
    }
  });
  let closing = false;
  return {
    keyArn: ready.keyArn,
    client: () =>
      new KMSClient({
        endpoint: ready.endpoint,
        region: ready.region,
        credentials: { accessKeyId: ready.accessKeyId, secretAccessKey: ready.secretAccessKey },
      }),
    stats: () =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        child.send({ type: 'stats', id });
      }),
    close: async () => {
      closing = true;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      await exited;
    },
  };
}
