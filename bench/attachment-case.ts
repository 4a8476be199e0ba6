/**
 * One attachment benchmark case, in a process of its own (bench/attachments.ts spawns it), so that
 * its peak RSS is its own: `node --expose-gc --import tsx bench/attachment-case.ts CASE SIZE DIR`.
 * Prints one JSON array: per case measured, bytes, seconds, MB/s and the peak RSS growth of the
 * timed run (VmHWM reset through /proc/self/clear_refs just before it, after a warm-up of the
 * same code over 8 MiB so that first-use compilation is not counted). A fourth argument `quick`
 * makes the paired cases shorter.
 *
 * In memory — 64 KiB views of a buffer already in memory, output discarded: the cipher and the
 * stream machinery, comparable with raw node:crypto on the same buffer.
 *  - raw: AES-256-GCM in one createCipheriv + one update over the whole buffer (raw-enc, raw-dec),
 *    and in one cipher context fed 64 KiB at a time (raw-stream-enc, raw-stream-dec): the ceiling
 *    of any AES-GCM stream in node, with no segment structure;
 *  - node-enc / node-dec: keywarden's Node Transforms in stream.pipeline;
 *  - web-enc / web-dec: keywarden's Web Streams;
 *  - esdk-enc: the AWS Encryption SDK's encryptStream (64 KiB frames).
 * Paired — paired-enc / paired-dec: raw one call and keywarden's Node Transform over the same
 * buffer, back to back, a few times in one process; each pair gives a ratio, and the median ratio
 * is reported. On a shared machine whose load swings several-fold between processes, this is the
 * figure to read for "x raw": both sides of a pair see the same load.
 * Storage to storage — a file on tmpfs to a file on tmpfs, as a service moves media:
 *  - pipe-enc / pipe-dec: fs.createReadStream → keywarden's Transform → fs.createWriteStream;
 *  - file-enc / file-dec: encryptFile / decryptFile;
 *  - copy: fs.createReadStream → fs.createWriteStream, no crypto (node's own baseline).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, type Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AlgorithmSuiteIdentifier, CommitmentPolicy, NodeCachingMaterialsManager, RawAesKeyringNode, RawAesWrappingSuiteIdentifier, buildClient,
  getLocalCryptographicMaterialsCache,
} from '@aws-crypto/client-node';
import { Keywarden, MemoryKeyStore, type KeyRecord, type MasterKeyProvider } from '../src/node.js';
import { createDecryptStream, createEncryptStream, decryptFile, encryptFile } from '../src/stream/node.js';

export const BENCH_CONVERSATION = 'dm:bench';
const CHUNK = 64 * 1024;
/** Bytes of the warm-up runs. */
const WARM = 8 * 1024 * 1024;

/** A Keywarden whose one conversation key is `dataKey` (so that the parent and every child share it). */
export function fixedKeywarden(dataKey: Uint8Array): Keywarden {
  const record = (conversationId: string, version: number): KeyRecord => ({
    conversationId, version, masterKeyId: 'bench', wrappedKey: dataKey, suite: 'AES-256-GCM', state: 'active',
    createdAt: new Date(0), activatedAt: new Date(0), supersededAt: null, sealedReserved: 0,
  });
  const masterKey: MasterKeyProvider = {
    keyId: 'bench',
    generateDataKey: async () => Promise.reject(new Error('not used')),
    unwrapDataKey: async (wrapped) => Uint8Array.from(wrapped),
  };
  const store = new MemoryKeyStore();
  store.getLatest = async (c) => record(c, 1);
  store.getVersion = async (c, v) => record(c, v);
  store.reserveMessages = async (_c, _v, n) => n;
  return new Keywarden({ masterKey, keyStore: store });
}

const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

function* views(b: Uint8Array): Generator<Buffer> {
  for (let at = 0; at < b.length; at += CHUNK) yield Buffer.from(b.buffer, b.byteOffset + at, Math.min(CHUNK, b.length - at));
}
const discard = () => new Writable({ write: (_c, _e, cb) => cb(), writev: (_c, cb) => cb() });
const webOf = (b: Uint8Array) => {
  const it = views(b);
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const n = it.next();
      if (n.done) c.close();
      else c.enqueue(n.value);
    },
  });
};

type Run = () => Promise<unknown> | unknown;

/** The AWS Encryption SDK's encryptStream (committing suite, 64 KiB frames, a cached data key), as a runner over a buffer. */
function esdkEncrypt(): (b: Uint8Array) => Run {
  const esdk = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyNamespace: 'keywarden-bench', keyName: 'master', unencryptedMasterKey: randomBytes(32),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const cmm = new NodeCachingMaterialsManager({ backingMaterials: keyring, cache: getLocalCryptographicMaterialsCache(10), maxAge: 60_000, maxMessagesEncrypted: 2 ** 32 });
  const opts = { encryptionContext: { conversation: BENCH_CONVERSATION }, suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY, frameLength: CHUNK };
  return (b) => () => pipeline(Readable.from(views(b)), esdk.encryptStream(cmm, opts), discard());
}

/** Times `run` with the RSS peak reset just before it, after `warm` (the same code over a few MiB) ran 3 times. */
async function timed(run: Run, warm?: Run): Promise<{ seconds: number; rssGrowthBytes: number }> {
  if (warm) for (let i = 0; i < 3; i++) await warm();
  gc?.();
  try {
    writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  } catch {
    // not Linux: the growth is then measured from the process's whole life
  }
  const base = process.memoryUsage.rss();
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, rssGrowthBytes: Math.max(0, hwm() - base) };
}

export interface CaseResult {
  case: string;
  bytes: number;
  seconds: number;
  mb_per_sec: number;
  rss_growth_mib: number;
  /** Paired cases: keywarden's throughput / raw one call's, per pair (the aggregate takes the median). */
  ratios?: number[];
  /** paired-enc: keywarden's throughput / the AWS Encryption SDK's encryptStream's, measured in the same turn. */
  esdkRatios?: number[];
}

async function runCase(name: string, size: number, dir: string, quick: boolean): Promise<CaseResult[]> {
  const dataKey = new Uint8Array(readFileSync(join(dir, 'key')));
  const kw = fixedKeywarden(dataKey);
  const plainFile = join(dir, `plain-${size}`);
  const attFile = join(dir, `att-${size}`);
  const out = join(dir, `out-${process.pid}`);
  const result = (c: string, t: { seconds: number; rssGrowthBytes: number }): CaseResult => ({
    case: c, bytes: size, seconds: Math.round(t.seconds * 1e4) / 1e4, mb_per_sec: Math.round(size / 1e6 / t.seconds), rss_growth_mib: Math.round((t.rssGrowthBytes / 2 ** 20) * 10) / 10,
  });
  /** Small inputs for warm-up runs: the plaintext's first 8 MiB, and an attachment of them. */
  const warmFiles = async () => {
    const p = join(dir, `warm-plain-${process.pid}`);
    const a = join(dir, `warm-att-${process.pid}`);
    const pt = readFileSync(plainFile).subarray(0, WARM);
    writeFileSync(p, pt);
    writeFileSync(a, await kw.encryptAttachment(BENCH_CONVERSATION, pt));
    return { p, a, pt: new Uint8Array(pt), att: new Uint8Array(readFileSync(a)) };
  };
  const w = await warmFiles();
  try {
    switch (name) {
      case 'raw': {
        const pt = readFileSync(plainFile);
        const key = randomBytes(32);
        const iv = randomBytes(12);
        let ct: Buffer | undefined;
        let tag: Buffer | undefined;
        const oneCall = (b: Uint8Array) => () => {
          const c = createCipheriv('aes-256-gcm', key, iv);
          const o = c.update(b);
          c.final();
          if (b === pt) [ct, tag] = [o, c.getAuthTag()];
        };
        const enc = await timed(oneCall(pt), oneCall(w.pt));
        const dec = await timed(() => {
          const d = createDecipheriv('aes-256-gcm', key, iv);
          d.setAuthTag(tag!);
          d.update(ct!);
          d.final();
        });
        ct = undefined;
        const streamed = (decrypt: boolean) => (b: Uint8Array) => () => {
          const c = decrypt ? createDecipheriv('aes-256-gcm', key, iv) : createCipheriv('aes-256-gcm', key, iv);
          for (const v of views(b)) c.update(v);
          if (!decrypt) c.final(); // (decrypting random bytes: the tag is not checked, the work is the same)
        };
        const senc = await timed(streamed(false)(pt), streamed(false)(w.pt));
        const sdec = await timed(streamed(true)(pt), streamed(true)(w.pt));
        return [result('raw-enc', enc), result('raw-dec', dec), result('raw-stream-enc', senc), result('raw-stream-dec', sdec)];
      }
      case 'node-enc': {
        const pt = readFileSync(plainFile);
        const run = (b: Uint8Array) => () => pipeline(Readable.from(views(b)), createEncryptStream(kw, BENCH_CONVERSATION), discard());
        return [result(name, await timed(run(pt), run(w.pt)))];
      }
      case 'node-dec': {
        const ct = readFileSync(attFile);
        const run = (b: Uint8Array) => () => pipeline(Readable.from(views(b)), createDecryptStream(kw, BENCH_CONVERSATION), discard());
        return [result(name, await timed(run(ct), run(w.att)))];
      }
      case 'web-enc': {
        const pt = readFileSync(plainFile);
        const run = (b: Uint8Array) => () => webOf(b).pipeThrough(kw.encryptAttachmentStream(BENCH_CONVERSATION)).pipeTo(new WritableStream());
        return [result(name, await timed(run(pt), run(w.pt)))];
      }
      case 'web-dec': {
        const ct = readFileSync(attFile);
        const run = (b: Uint8Array) => () => webOf(b).pipeThrough(kw.decryptAttachmentStream(BENCH_CONVERSATION)).pipeTo(new WritableStream());
        return [result(name, await timed(run(ct), run(w.att)))];
      }
      case 'paired-enc':
      case 'paired-dec': {
        const dec = name === 'paired-dec';
        const input = readFileSync(dec ? attFile : plainFile);
        // Raw over the same bytes: encrypt the plaintext, or decrypt the attachment's bytes as one
        // GCM ciphertext (random-looking bytes under a 12-byte IV: the same work, tag unchecked as in raw-stream-dec).
        const key = randomBytes(32);
        const iv = randomBytes(12);
        const raw = (b: Uint8Array) => () => {
          const c = dec ? createDecipheriv('aes-256-gcm', key, iv) : createCipheriv('aes-256-gcm', key, iv);
          c.update(b);
          if (!dec) c.final();
        };
        const ours = (b: Uint8Array) => () => pipeline(Readable.from(views(b)), dec ? createDecryptStream(kw, BENCH_CONVERSATION) : createEncryptStream(kw, BENCH_CONVERSATION), discard());
        const warmInput = dec ? w.att : w.pt;
        const big = size > 64 * 1024 * 1024;
        // --quick (CI's bench run): fewer pairs, and no ESDK at 1 GiB (it alone takes longer than the rest).
        const esdk = dec || (quick && big) ? undefined : esdkEncrypt();
        const pairs = quick ? (big ? 1 : 3) : big ? 3 : 7;
        const ratios: number[] = [];
        const esdkRatios: number[] = [];
        let last = { seconds: 0, rssGrowthBytes: 0 };
        for (let i = 0; i < pairs; i++) {
          // Alternate which side goes first, so that a trend in the load does not favour one side.
          const first = i % 2 === 0;
          const a = first ? await timed(raw(input), raw(warmInput)) : undefined;
          last = await timed(ours(input), ours(warmInput));
          const r = a ?? (await timed(raw(input), raw(warmInput)));
          ratios.push(r.seconds / last.seconds);
          if (esdk) esdkRatios.push((await timed(esdk(input), esdk(warmInput))).seconds / last.seconds);
        }
        const r3 = (x: number) => Math.round(x * 1000) / 1000;
        return [{ ...result(name, last), ratios: ratios.map(r3), ...(esdk ? { esdkRatios: esdkRatios.map(r3) } : {}) }];
      }
      case 'esdk-enc': {
        const pt = readFileSync(plainFile);
        const run = esdkEncrypt();
        return [result(name, await timed(run(pt), run(w.pt)))];
      }
      case 'pipe-enc':
      case 'pipe-dec':
      case 'copy': {
        const through = (): Transform => (name === 'pipe-enc' ? createEncryptStream(kw, BENCH_CONVERSATION) : createDecryptStream(kw, BENCH_CONVERSATION));
        const run = (src: string) => () =>
          name === 'copy'
            ? pipeline(createReadStream(src, { highWaterMark: CHUNK }), createWriteStream(out))
            : pipeline(createReadStream(src, { highWaterMark: CHUNK }), through(), createWriteStream(out));
        const input = name === 'pipe-dec' ? attFile : plainFile;
        return [result(name, await timed(run(input), run(name === 'pipe-dec' ? w.a : w.p)))];
      }
      case 'file-enc':
        return [result(name, await timed(() => encryptFile(kw, BENCH_CONVERSATION, plainFile, out), () => encryptFile(kw, BENCH_CONVERSATION, w.p, out)))];
      case 'file-dec':
        return [result(name, await timed(() => decryptFile(kw, BENCH_CONVERSATION, attFile, out), () => decryptFile(kw, BENCH_CONVERSATION, w.a, out)))];
      default:
        throw new Error(`unknown case ${name}`);
    }
  } finally {
    for (const f of [out, w.p, w.a]) rmSync(f, { force: true });
  }
}

if (process.argv[1]?.endsWith('attachment-case.ts')) {
  const [name, size, dir, mode] = process.argv.slice(2);
  const results = await runCase(name!, Number(size), dir!, mode === 'quick');
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
