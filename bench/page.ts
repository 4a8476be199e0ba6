/**
 * The decryptMany page pair of `npm run bench`, in its own process: keywarden's `decryptMany` on
 * a page of 50 messages of 200 B against raw AES-GCM opening the same page from stored messages,
 * and the pre-split floor against the same baseline (bench/harness.ts measurePair).
 *
 * Why a process of its own: the pair runs without forced collections (see measurePair), and in
 * the bench's main process the heap the earlier cases left behind (the AWS Encryption SDK's, the
 * 1 MiB messages') was collected inside the pair's 10 ms batches. In the full run of 2026-12-01
 * 01:12 UTC the rounds there spread over 1,218-5,679 pages/s and the ratio of the two medians
 * fell to 0.65 while the paired ratio read 0.94.
 *
 * Run by bench/index.ts: `node --import tsx bench/page.ts ROUNDS BATCH_MS`; prints one JSON line.
 */
import { setupPage } from './contenders.js';
import { measurePair } from './harness.js';

const rounds = Number(process.argv[2] ?? 200);
const batchMs = Number(process.argv[3] ?? 10);
if (!(Number.isInteger(rounds) && rounds > 0 && batchMs > 0)) throw new Error('usage: bench/page.ts ROUNDS BATCH_MS');

const page = await setupPage();
const contender = (name: string) => page.contenders.find((c) => c.name === name)!;
const [kw, stored] = await measurePair(contender('keywarden:AES-256-GCM:decryptMany'), contender('raw-node:AES-256-GCM+one-buffer:decrypt-50'), rounds, batchMs);
const [split, stored2] = await measurePair(contender('raw-node:AES-256-GCM:decrypt-50'), contender('raw-node:AES-256-GCM+one-buffer:decrypt-50'), rounds, batchMs);
process.stdout.write(`${JSON.stringify({ messages: page.messages, kw, stored, split, stored2 })}\n`);
