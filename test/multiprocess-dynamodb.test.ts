/**
 * Many service instances on one DynamoDB table (issue #15): 4 worker processes create keys for
 * the same 200 new conversations concurrently and rotate every fifth one; one worker is killed
 * mid-run. Afterwards every conversation has versions 1..n with only the highest active (at least one
 * rotation, at most one per worker), and every ciphertext any worker acknowledged decrypts.
 * The server is dynalite on 127.0.0.1 in this process; the workers reach it over HTTP.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keywarden, LocalMasterKey } from '../src/node.js';
import { DynamoDbKeyStore } from '../src/store/dynamodb/store.js';
import { type TestDynamo, testDynamo } from './support/dynamodb.js';

const CONVERSATIONS = 200;
const WORKERS = 4;
let dyn: TestDynamo;
let dir: string;

beforeAll(async () => {
  dyn = await testDynamo();
  dir = mkdtempSync(join(tmpdir(), 'kw-mp-dynamo-'));
});
afterAll(async () => {
  await dyn?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('multi-process (DynamoDB-compatible server)', () => {
  it('4 workers, 200 new conversations, rotations racing, one worker killed: versions 1..n with one active, every acknowledged ciphertext decrypts', async () => {
    const masterKey = LocalMasterKey.generateKey();
    const env = { ...process.env, ENDPOINT: dyn.endpoint, TABLE: dyn.table, CONVERSATIONS: String(CONVERSATIONS), MASTER_KEY: Buffer.from(masterKey).toString('hex') };
    const workers = Array.from({ length: WORKERS }, (_, w) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'support/dynamo-worker.ts')], {
        env: { ...env, WORKER: String(w), ACK_FILE: join(dir, `acks-${w}`) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      return { child, done: new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((r) => child.on('exit', (code, signal) => r({ code, signal, stderr }))) };
    });
    const victim = WORKERS - 1;
    for (let i = 0; i < 1200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      let acked = 0;
      try {
        acked = readFileSync(join(dir, `acks-${victim}`), 'utf8').split('\n').length - 1;
      } catch {
        // not written yet
      }
      if (acked >= 40) break;
    }
    workers[victim]!.child.kill('SIGKILL');
    const exits = await Promise.all(workers.map((w) => w.done));
    exits.forEach((e, w) => {
      if (w === victim) expect(e.signal, `the victim exited on its own (code ${e.code}): ${e.stderr}`).toBe('SIGKILL');
      else expect(e.code, e.stderr).toBe(0);
    });

    const store = new DynamoDbKeyStore(dyn.client, { table: dyn.table });
    for (let c = 0; c < CONVERSATIONS; c++) {
      const versions = await store.listVersions(`mp-${c}`);
      expect(versions.map((r) => r.version)).toEqual(versions.map((_r, i) => i + 1));
      expect(versions.filter((r) => r.state === 'active').map((r) => r.version)).toEqual([versions.length]);
      if (c % 5 === 0) {
        // Rotated at least once; concurrent rotations from the same version collapse into one.
        expect(versions.length).toBeGreaterThanOrEqual(2);
        expect(versions.length).toBeLessThanOrEqual(WORKERS + 1);
      } else {
        expect(versions).toHaveLength(1);
      }
    }

    const reader = new Keywarden({ masterKey: new LocalMasterKey(masterKey), keyStore: store });
    let acked = 0;
    for (let w = 0; w < WORKERS; w++) {
      let lines: string[] = [];
      try {
        lines = readFileSync(join(dir, `acks-${w}`), 'utf8').split('\n').filter((l) => l.split(' ').length === 3);
      } catch {
        // not written yet
      }
      for (const line of lines) {
        const [c, ct, text] = line.split(' ') as [string, string, string];
        const pt = await reader.decrypt(`mp-${c}`, Buffer.from(ct, 'hex'));
        expect(Buffer.from(pt).toString('hex')).toBe(text);
        acked++;
      }
    }
    expect(acked).toBeGreaterThanOrEqual((WORKERS - 1) * CONVERSATIONS + 40);
    reader.close();
  }, 240_000);
});
