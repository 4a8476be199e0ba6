/**
 * The cold path: the first message of a new conversation, with the real @aws-sdk/client-kms
 * talking HTTP to the KMS-compatible test endpoint on 127.0.0.1 with a configurable delay.
 * Reports latency per new conversation and KMS calls per new conversation, sequentially and
 * under a burst of concurrent encrypts spread over many new conversations.
 */
import { AwsKmsMasterKey } from '../src/kms/aws.js';
import { Keywarden, MemoryKeyStore } from '../src/node.js';
import { kmsClientFor, startKmsServer } from '../test/support/kms-server.js';
import { median } from './harness.js';

export interface ColdResult {
  kms_delay_ms: number;
  sequential: { conversations: number; median_ms: number; p99_ms: number; kms_calls_per_conversation: number };
  burst: { encrypts: number; conversations: number; kms_generate_calls: number; kms_calls_per_conversation: number; elapsed_ms: number; every_ciphertext_decrypts: boolean };
  hot_path: { encrypts: number; kms_calls: number };
}

export async function measureCold(opts: { delayMs: number; sequential: number; burstEncrypts: number; burstConversations: number }): Promise<ColdResult> {
  const server = await startKmsServer({ latencyMs: opts.delayMs });
  try {
    const key = server.createKey({ alias: 'alias/keywarden-bench' });
    const masterKey = new AwsKmsMasterKey({ client: kmsClientFor(server), keyId: key.arn });
    const pt = new Uint8Array(200);

    // Sequential: one new conversation at a time.
    const seq = new Keywarden({ masterKey, keyStore: new MemoryKeyStore() });
    await seq.encrypt('warm-up', pt); // load the SDK's code paths and open a connection
    server.resetCounters();
    const lat: number[] = [];
    for (let i = 0; i < opts.sequential; i++) {
      const t0 = performance.now();
      await seq.encrypt(`seq-${i}`, pt);
      lat.push(performance.now() - t0);
    }
    const seqCalls = (server.calls.GenerateDataKey ?? 0) + (server.calls.Decrypt ?? 0);
    lat.sort((a, b) => a - b);

    // Hot path: the same conversations again — no KMS call at all.
    server.resetCounters();
    for (let i = 0; i < 10_000; i++) await seq.encrypt(`seq-${i % opts.sequential}`, pt);
    const hotCalls = Object.values(server.calls).reduce((a, b) => a + b, 0);

    // Burst: N concurrent encrypts spread over M new conversations, all in flight at once.
    const burst = new Keywarden({ masterKey, keyStore: new MemoryKeyStore(), cache: { maxEntries: opts.burstConversations * 2 } });
    await burst.encrypt('warm-up', pt);
    server.resetCounters();
    const t0 = performance.now();
    const convs = Array.from({ length: opts.burstEncrypts }, (_, i) => `burst-${i % opts.burstConversations}`);
    const cts = await Promise.all(convs.map((c) => burst.encrypt(c, pt)));
    const elapsed = performance.now() - t0;
    const burstCalls = server.calls.GenerateDataKey ?? 0;
    let ok = true;
    for (let i = 0; i < cts.length; i++) ok &&= (await burst.decrypt(convs[i]!, cts[i]!)).length === pt.length;

    return {
      kms_delay_ms: opts.delayMs,
      sequential: {
        conversations: opts.sequential,
        median_ms: round(median(lat)),
        p99_ms: round(lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]!),
        kms_calls_per_conversation: seqCalls / opts.sequential,
      },
      burst: {
        encrypts: opts.burstEncrypts,
        conversations: opts.burstConversations,
        kms_generate_calls: burstCalls,
        kms_calls_per_conversation: burstCalls / opts.burstConversations,
        elapsed_ms: round(elapsed),
        every_ciphertext_decrypts: ok,
      },
      hot_path: { encrypts: 10_000, kms_calls: hotCalls },
    };
  } finally {
    await server.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
