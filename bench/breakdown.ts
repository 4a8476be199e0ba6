/**
 * `npm run bench:breakdown` — where the hot path's time goes, relative to the raw cipher, at
 * the two points where `npm run bench` reports keywarden below its targets:
 *
 * - decrypt 1 KiB: raw node:crypto (sync) → the same wrapped in a resolved promise and awaited
 *   (the cost of an async API) → keywarden's AEAD layer alone (sync) → keywarden `decrypt`;
 * - encrypt 1 MiB: raw node:crypto (ciphertext and tag as separate buffers) → the same assembled
 *   into one buffer (what any self-contained wire format must return) → keywarden `encrypt`.
 *
 * Contenders alternate in small batches for many rounds, so drift hits all alike.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { AadBuilder } from '../src/format/wire.js';
import { Keywarden, LocalMasterKey, MemoryKeyStore } from '../src/node.js';
import { nodeAead } from '../src/aead/node.js';

const conv = 'dm:01HZX3K4M5N6P7Q8R9S0T1U2V3';
const opts = { aad: 'msg:01HZX3KA000000000000000000' };
type Case = [name: string, op: () => unknown, isAsync: boolean];

async function run(title: string, cases: Case[], batch: number, rounds: number): Promise<void> {
  const total = new Map(cases.map(([n]) => [n, 0]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, op, isAsync] of cases) {
      const t0 = performance.now();
      if (isAsync) for (let i = 0; i < batch; i++) await op();
      else for (let i = 0; i < batch; i++) op();
      if (r >= rounds / 10) total.set(name, total.get(name)! + performance.now() - t0);
    }
  }
  const per = (n: string) => (total.get(n)! / ((rounds - Math.ceil(rounds / 10)) * batch)) * 1000;
  const base = per(cases[0]![0]);
  console.log(`\n${title}`);
  for (const [name] of cases) console.log(`  ${name.padEnd(44)} ${per(name).toFixed(2).padStart(9)} µs/op  ${(base / per(name)).toFixed(3)} x raw`);
}

const kw = new Keywarden({ masterKey: new LocalMasterKey(LocalMasterKey.generateKey()), keyStore: new MemoryKeyStore() });

{
  const pt = randomBytes(1024);
  const ct = await kw.encrypt(conv, pt, opts);
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const aad = Buffer.from(opts.aad);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const body = c.update(pt);
  c.final();
  const tag = c.getAuthTag();
  const raw = () => {
    const d = createDecipheriv('aes-256-gcm', key, iv);
    d.setAAD(aad);
    d.setAuthTag(tag);
    const out = d.update(body);
    d.final();
    return out;
  };
  const ad = new AadBuilder(1024).build(1, 1, conv, opts.aad).slice();
  const k2 = randomBytes(32);
  const n2 = randomBytes(12);
  const wire = Buffer.concat([Buffer.alloc(18), nodeAead.seal(1, k2, n2, pt, ad)]);
  await run('decrypt, 1 KiB', [
    ['raw node:crypto, sync', raw, false],
    ['raw node:crypto, as an awaited promise', () => Promise.resolve(raw()), true],
    ['keywarden AEAD layer only, sync', () => nodeAead.open(1, k2, n2, wire, ad, 18), false],
    ['keywarden decrypt (awaited)', () => kw.decrypt(conv, ct, opts), true],
  ], 2000, 150);
}

{
  const pt = randomBytes(1 << 20);
  const key = randomBytes(32);
  const prefix = Buffer.alloc(18);
  const raw = () => {
    const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
    const body = c.update(pt);
    c.final();
    return [body, c.getAuthTag()];
  };
  const oneBuffer = () => {
    const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
    const body = c.update(pt);
    c.final();
    return Buffer.concat([prefix, body, c.getAuthTag()]);
  };
  await kw.encrypt(conv, pt);
  await run('encrypt, 1 MiB', [
    ['raw node:crypto, separate buffers', raw, false],
    ['raw node:crypto, assembled into one buffer', oneBuffer, false],
    ['keywarden encrypt (awaited)', () => kw.encrypt(conv, pt), true],
  ], 8, 100);
}
