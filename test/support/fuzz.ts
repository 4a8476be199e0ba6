/**
 * Shared machinery of the fuzz suites (test/fuzz-*.test.ts, issue #11): run counts, the error
 * contract check, mutation generators that start from VALID samples (so that the fuzzer gets past
 * the first checks of a parser), and a timing check for linear growth.
 *
 * Run counts: each property has a modest default so that `npm test` stays fast. Set
 * `KEYWARDEN_FUZZ_RUNS=N` for a long run: every property then runs N times (the expensive ones,
 * marked `heavy`, N/10 times; never fewer than the default) and tests get no timeout.
 *
 * A failure prints fast-check's seed and path. Replay it with the same environment variables
 * plus `KEYWARDEN_FUZZ_SEED=<seed> KEYWARDEN_FUZZ_PATH=<path>`, selecting the one test with
 * `-t '<its name>'` (the path belongs to one property).
 */
import fc from 'fast-check';
import { expect, vi } from 'vitest';
import { type AnyKeywardenError, isKeywardenError } from '../../src/errors.js';

const ENV_RUNS = Number(process.env.KEYWARDEN_FUZZ_RUNS ?? '');
/** True when KEYWARDEN_FUZZ_RUNS asks for a long run. */
export const LONG_FUZZ = Number.isSafeInteger(ENV_RUNS) && ENV_RUNS > 0;

/** The number of runs of a property: `base` by default, KEYWARDEN_FUZZ_RUNS (or a tenth of it for `heavy` ones) when set. */
export function runs(base: number, opts: { heavy?: boolean } = {}): number {
  if (!LONG_FUZZ) return base;
  return Math.max(base, opts.heavy ? Math.ceil(ENV_RUNS / 10) : ENV_RUNS);
}

// A long run may take hours: lift the test timeout of every test file that imports this one
// (the fast suite keeps vitest.config.ts's).
if (LONG_FUZZ) vi.setConfig({ testTimeout: 24 * 3600_000 });

const SEED = process.env.KEYWARDEN_FUZZ_SEED;
const PATH = process.env.KEYWARDEN_FUZZ_PATH;

/**
 * fast-check parameters for `fc.assert`: the run count, and a seed and path to replay when
 * KEYWARDEN_FUZZ_SEED / KEYWARDEN_FUZZ_PATH are set (fast-check prints both on failure).
 */
export function params(base: number, opts: { heavy?: boolean } = {}): fc.Parameters<unknown> {
  return {
    numRuns: runs(base, opts),
    ...(SEED !== undefined && SEED !== '' ? { seed: Number(SEED) } : {}),
    ...(PATH !== undefined && PATH !== '' ? { path: PATH } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// The error contract.

function foreign(e: unknown): Error {
  const name = (e as Error)?.constructor?.name ?? typeof e;
  return new Error(`a non-KeywardenError escaped: ${name}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

/** Runs `f`: its value, or the KeywardenError it threw. Any other exception fails the property. */
export function attempt<T>(f: () => T): { ok: true; value: T } | { ok: false; error: AnyKeywardenError } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (!isKeywardenError(e)) throw foreign(e);
    return { ok: false, error: e };
  }
}

/** {@link attempt} for async functions (and for functions that throw synchronously before returning a promise). */
export async function attemptAsync<T>(f: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: AnyKeywardenError }> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    if (!isKeywardenError(e)) throw foreign(e);
    return { ok: false, error: e };
  }
}

/** Asserts that `f` does not throw at all (for functions documented never to throw on bad data). */
export function neverThrows<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(`threw although documented never to: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`, { cause: e });
  }
}

/**
 * Counts outcomes by label (exit codes, error codes) so that a run can show how deep its inputs
 * reach; printed with KEYWARDEN_FUZZ_VERBOSE=1 when the returned `print` is called.
 */
export function tally(name: string): { add(label: string | number): void; print(): void } {
  const counts = new Map<string, number>();
  return {
    add: (label) => void counts.set(String(label), (counts.get(String(label)) ?? 0) + 1),
    print: () => {
      if (process.env.KEYWARDEN_FUZZ_VERBOSE) console.log(`${name}:\n${[...counts].sort().map(([k, v]) => `  ${v}\t${k}`).join('\n')}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Edge cases.

/** Strings that break naive parsers: unicode edge cases, number spellings, prototype keys, line ends. */
export const EDGE_STRINGS: readonly string[] = [
  '', ' ', '\t', '\n', '\r\n', '\r', '\n\n', '\u0000', '\u001f', '\u007f', '\u0085', '\u00a0', '\u2028', '\u2029', '\ufeff', '\ufffd', '\uffff',
  '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uDC00\uD800', '😀', '\uD83D', '\uDE00', 'e\u0301', '\u202e', '\u200b', '—', '— ', '+', '=', '==', '/', '\\', '"', "'",
  '{', '}', '[', ']', ':', ',', '.', '-', '0', '-0', '00', '01', '1e309', '-1e309', '1e-400', '9007199254740993', '18446744073709551616', '1.0', '0x10', '1_000',
  'NaN', 'Infinity', '-Infinity', 'null', 'true', 'undefined', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'PRIVATE+KEY+', 'AAAA', 'A===',
  '\\u0000', '\\ud800', '\\"', 'x'.repeat(300), 'é'.repeat(200),
];

/** Values of any JSON type (and a few that JSON cannot hold) that break naive validators. */
export const EDGE_VALUES: readonly unknown[] = [
  null, true, false, 0, -0, 1, -1, 0.5, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 253402300799, 253402300800,
  Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, '', [], {}, [[]], [null], { '': null }, ...EDGE_STRINGS.slice(0, 40),
];

/** Keys that reach the prototype chain or look like options. */
export const EDGE_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '', ' ', 'a', 'v', 'x', 'd', 'kid', 'then'];

/** A value that nests `depth` arrays (or objects). */
export function deepText(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
}

const interestingByte = fc.constantFrom(0x00, 0x01, 0x0a, 0x0d, 0x20, 0x22, 0x2b, 0x2f, 0x3d, 0x5c, 0x7b, 0x7d, 0x7f, 0x80, 0xc0, 0xed, 0xef, 0xfe, 0xff);
const anyByte = fc.oneof(interestingByte, fc.integer({ min: 0, max: 255 }));

// ---------------------------------------------------------------------------------------------
// Byte mutations. Every mutation returns a new array: never `Buffer#slice`, which is a view, so
// that the valid samples stay intact for the next run.

type ByteMutation = (b: Uint8Array, donors: readonly Uint8Array[]) => Uint8Array;

const at = (pos: number, len: number) => (len === 0 ? 0 : pos % (len + 1));

function splice(b: Uint8Array, start: number, deleteCount: number, insert: Uint8Array = new Uint8Array(0)): Uint8Array {
  const s = Math.min(start, b.length);
  const e = Math.min(b.length, s + deleteCount);
  const out = new Uint8Array(b.length - (e - s) + insert.length);
  out.set(b.subarray(0, s), 0);
  out.set(insert, s);
  out.set(b.subarray(e), s + insert.length);
  return out;
}

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  // flip one bit
  fc.tuple(fc.nat(), fc.nat({ max: 7 })).map(([p, bit]): ByteMutation => (b) => {
    if (b.length === 0) return b;
    const out = Uint8Array.from(b);
    out[p % b.length]! ^= 1 << bit;
    return out;
  }),
  // set one byte
  fc.tuple(fc.nat(), anyByte).map(([p, v]): ByteMutation => (b) => {
    if (b.length === 0) return Uint8Array.of(v);
    const out = Uint8Array.from(b);
    out[p % b.length] = v;
    return out;
  }),
  // insert bytes
  fc.tuple(fc.nat(), fc.array(anyByte, { minLength: 1, maxLength: 8 })).map(([p, v]): ByteMutation => (b) => splice(b, at(p, b.length), 0, Uint8Array.from(v))),
  // delete a range
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 16 })).map(([p, n]): ByteMutation => (b) => splice(b, at(p, b.length), n)),
  // truncate
  fc.nat().map((p): ByteMutation => (b) => Uint8Array.from(b.subarray(0, at(p, b.length)))),
  // duplicate a range in place
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 64 })).map(([p, n]): ByteMutation => (b) => {
    const s = at(p, b.length);
    return splice(b, s, 0, b.subarray(s, s + n));
  }),
  // append bytes
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((v): ByteMutation => (b) => splice(b, b.length, 0, v)),
  // cross over with another valid sample: our head, its tail
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([d, p, q]): ByteMutation => (b, donors) => {
    const other = donors[d % donors.length] ?? b;
    return splice(b, at(p, b.length), b.length, other.subarray(at(q, other.length)));
  }),
);

/** One to three mutations of one of `valid` (bytes); the result may equal a valid sample, callers check. */
export function mutatedBytes(valid: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.nat({ max: valid.length - 1 }), fc.array(byteMutation, { minLength: 1, maxLength: 3 }))
    .map(([i, ms]) => ms.reduce<Uint8Array>((b, m) => m(b, valid), Uint8Array.from(valid[i]!)));
}

// ---------------------------------------------------------------------------------------------
// Text mutations.

type TextMutation = (s: string, donors: readonly string[]) => string;

const edgeString = fc.oneof(fc.constantFrom(...EDGE_STRINGS), fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }));

function spliceText(s: string, start: number, deleteCount: number, insert = ''): string {
  return s.slice(0, start) + insert + s.slice(start + deleteCount);
}

function mapLines(s: string, f: (lines: string[]) => string[]): string {
  return f(s.split('\n')).join('\n');
}

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  // insert an edge-case string (which may split a surrogate pair)
  fc.tuple(fc.nat(), edgeString).map(([p, ins]): TextMutation => (s) => spliceText(s, at(p, s.length), 0, ins)),
  // replace one code unit
  fc.tuple(fc.nat(), edgeString).map(([p, ins]): TextMutation => (s) => spliceText(s, at(p, s.length), 1, ins)),
  // delete a range
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 12 })).map(([p, n]): TextMutation => (s) => spliceText(s, at(p, s.length), n)),
  // truncate
  fc.nat().map((p): TextMutation => (s) => s.slice(0, at(p, s.length))),
  // duplicate, delete or swap lines
  fc.nat().map((p): TextMutation => (s) => mapLines(s, (l) => { const i = p % l.length; return [...l.slice(0, i + 1), ...l.slice(i)]; })),
  fc.nat().map((p): TextMutation => (s) => mapLines(s, (l) => l.filter((_, i) => i !== p % l.length))),
  fc.tuple(fc.nat(), fc.nat()).map(([p, q]): TextMutation => (s) => mapLines(s, (l) => {
    const out = [...l];
    const i = p % l.length, j = q % l.length;
    [out[i], out[j]] = [out[j]!, out[i]!];
    return out;
  })),
  // line ends: CRLF everywhere or once, a trailing or missing final newline
  fc.constant<TextMutation>((s) => s.replace(/\n/g, '\r\n')),
  fc.nat().map((p): TextMutation => (s) => { const i = s.indexOf('\n', at(p, s.length)); return i < 0 ? s : spliceText(s, i, 0, '\r'); }),
  fc.constantFrom<TextMutation>((s) => `${s}\n`, (s) => (s.endsWith('\n') ? s.slice(0, -1) : s), (s) => `\ufeff${s}`, (s) => `${s}\ufeff`, (s) => ` ${s}`, (s) => `${s} `),
  // a very long line: one segment repeated
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 100, max: 5000 })).map(([p, n, k]): TextMutation => (s) => {
    const i = at(p, s.length);
    return spliceText(s, i, 0, s.slice(i, i + n).repeat(k));
  }),
  // replace a run of digits by a huge or NaN-like number
  fc.tuple(fc.nat(), fc.constantFrom('9'.repeat(40), '9007199254740993', '-1', '1e3', 'NaN', 'Infinity', '0x1', '00', '١٢٣')).map(([p, num]): TextMutation => (s) => {
    const runs = [...s.matchAll(/[0-9]+/g)];
    const m = runs[p % Math.max(1, runs.length)];
    return m === undefined ? s : spliceText(s, m.index, m[0].length, num);
  }),
  // cross over with another valid sample
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([d, p, q]): TextMutation => (s, donors) => {
    const other = donors[d % donors.length] ?? s;
    return s.slice(0, at(p, s.length)) + other.slice(at(q, other.length));
  }),
);

/** One to three text mutations of one of `valid`; the result may equal a valid sample, callers check. */
export function mutatedText(valid: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat({ max: valid.length - 1 }), fc.array(textMutation, { minLength: 1, maxLength: 3 }))
    .map(([i, ms]) => ms.reduce((s, m) => m(s, valid), valid[i]!));
}

// ---------------------------------------------------------------------------------------------
// JSON mutations: structure first, text after.

type Path = (string | number)[];

/** Every path to a value in `v` (the root included). */
function paths(v: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function clone(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

function getAt(v: unknown, p: Path): unknown {
  return p.reduce<unknown>((x, k) => (x as Record<string | number, unknown>)[k], v);
}

/** Sets an own, enumerable property even for `__proto__` (plain assignment would set the prototype). */
function define(o: object, k: string | number, value: unknown): void {
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
}

const DEEP = '\u0001deep\u0001';

type JsonMutation = (doc: unknown, allPaths: Path[]) => string;

const edgeValue = fc.oneof(
  fc.constantFrom(...EDGE_VALUES.filter((x) => typeof x !== 'number' || Number.isFinite(x))),
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constant(DEEP),
);

function serialize(doc: unknown, style: number): string {
  const deep = JSON.stringify(DEEP);
  const text = style === 0 ? JSON.stringify(doc) : style === 1 ? JSON.stringify(doc, null, 2) : style === 2 ? JSON.stringify(doc, null, '\t').replace(/\n/g, '\r\n') : `\ufeff${JSON.stringify(doc)}`;
  return text.split(deep).join(deepText(500, style % 2 === 0 ? 'array' : 'object'));
}

const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  // replace a value
  fc.tuple(fc.nat(), edgeValue, fc.nat({ max: 3 })).map(([p, value, style]): JsonMutation => (doc, all) => {
    const path = all[p % all.length]!;
    if (path.length === 0) return serialize(value, style);
    const d = clone(doc);
    define(getAt(d, path.slice(0, -1)) as object, path.at(-1)!, value);
    return serialize(d, style);
  }),
  // delete a field or element
  fc.tuple(fc.nat(), fc.nat({ max: 3 })).map(([p, style]): JsonMutation => (doc, all) => {
    const path = all[p % all.length]!;
    if (path.length === 0) return serialize({}, style);
    const d = clone(doc);
    const parent = getAt(d, path.slice(0, -1));
    if (Array.isArray(parent)) parent.splice(path.at(-1) as number, 1);
    else delete (parent as Record<string, unknown>)[path.at(-1)!];
    return serialize(d, style);
  }),
  // add a field (prototype keys included) to an object, or an element to an array
  fc.tuple(fc.nat(), fc.oneof(fc.constantFrom(...EDGE_KEYS), fc.string({ maxLength: 4 })), edgeValue, fc.nat({ max: 3 })).map(([p, key, value, style]): JsonMutation => (doc, all) => {
    const d = clone(doc);
    const target = getAt(d, all[p % all.length]!);
    if (Array.isArray(target)) target.push(value);
    else if (target !== null && typeof target === 'object') define(target, key, value);
    return serialize(d, style);
  }),
  // swap two values (same or different fields)
  fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 3 })).map(([p, q, style]): JsonMutation => (doc, all) => {
    const a = all[p % all.length]!, b = all[q % all.length]!;
    if (a.length === 0 || b.length === 0) return serialize(doc, style);
    const d = clone(doc);
    const va = clone(getAt(doc, a)), vb = clone(getAt(doc, b));
    define(getAt(d, a.slice(0, -1)) as object, a.at(-1)!, vb);
    try {
      define(getAt(d, b.slice(0, -1)) as object, b.at(-1)!, va);
    } catch {
      // b was inside a: the first write already replaced it
    }
    return serialize(d, style);
  }),
  // a duplicate key, in the text (JSON.parse keeps the last one)
  fc.tuple(fc.nat(), edgeValue, fc.boolean()).map(([p, value, before]): JsonMutation => (doc, all) => {
    const keyed = all.filter((x) => typeof x.at(-1) === 'string');
    const text = JSON.stringify(doc);
    const path = keyed[p % Math.max(1, keyed.length)];
    if (path === undefined) return text;
    const needle = `${JSON.stringify(path.at(-1))}:`;
    const i = text.indexOf(needle);
    const dup = `${needle}${JSON.stringify(value)}`;
    return before ? `${text.slice(0, i)}${dup},${text.slice(i)}` : text.replace(/}$/, `,${dup}}`);
  }),
);

/**
 * Mutations of the JSON documents `valid` (values, not text): replaced, deleted, added and
 * swapped fields, `__proto__` keys, duplicate keys, deep nesting, other whitespace, CRLF and BOMs
 * — then, sometimes, text mutations on top. Results are JSON text, not always valid JSON.
 */
export function mutatedJson(valid: readonly unknown[]): fc.Arbitrary<string> {
  const all = valid.map((v) => paths(v));
  const structural = fc.tuple(fc.nat({ max: valid.length - 1 }), fc.array(jsonMutation, { minLength: 1, maxLength: 2 })).map(([i, ms]) => {
    // Two structural mutations compose on text only through the first: keep it simple.
    let text = ms[0]!(valid[i], all[i]!);
    if (ms[1] !== undefined) {
      try {
        const doc = JSON.parse(text.replace(/^\ufeff/, ''));
        text = ms[1](doc, paths(doc));
      } catch {
        // not JSON any more (deep, duplicate, BOM): one mutation is enough
      }
    }
    return text;
  });
  return fc.oneof({ weight: 3, arbitrary: structural }, { weight: 1, arbitrary: structural.chain((t) => mutatedText([t])) });
}

/** `JSON.parse(text)` (after a BOM, which JSON.parse refuses), or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.replace(/^\ufeff/, '')) as unknown;
  } catch {
    return undefined;
  }
}

/** {@link mutatedJson}, parsed back to values (objects with `__proto__` keys, duplicates resolved as JSON.parse does). */
export function mutatedValues(valid: readonly unknown[]): fc.Arbitrary<unknown> {
  return mutatedJson(valid).map(parseJson).filter((v) => v !== undefined);
}

// ---------------------------------------------------------------------------------------------
// Arbitrary inputs of the wrong type.

/** Values a JavaScript caller could pass instead of bytes or text. */
export const notBytes: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.constantFrom<unknown>(
    undefined, null, new ArrayBuffer(8), new DataView(new ArrayBuffer(8)), new Uint16Array(4), new Int8Array(4), new Uint8ClampedArray(4), new Float64Array(1), [1, 2, 3],
    { length: 40, 0: 1 }, 'AQID', new Date(0), Symbol('x'), 10n, () => 1,
  ),
);

// ---------------------------------------------------------------------------------------------
// Linear time.

/** Milliseconds `times` calls of `f` take. */
function timeLoop(f: () => unknown, times: number): number {
  const t = performance.now();
  for (let i = 0; i < times; i++) f();
  return performance.now() - t;
}

/**
 * Asserts that `run` on an input 8 times larger takes less than `factor` times as long: linear
 * work gives about 8, quadratic about 64. Inputs are built before timing. The small input is
 * repeated until one measurement takes at least `minMs`, so that timer resolution and the
 * constant part of a call do not hide growth; each side is then the fastest of `reps` such
 * measurements, taken in turns (noise only adds time). Other test files share the machine: the generous factor
 * and up to three attempts absorb that — a super-linear parser fails every time, a busy machine
 * does not.
 */
export function expectLinear<T>(name: string, make: (n: number) => T, run: (input: T) => unknown, n: number, opts: { factor?: number; minMs?: number; reps?: number } = {}): void {
  const { factor = 40, minMs = 2, reps = 5 } = opts;
  const small = make(n);
  const large = make(8 * n);
  for (let i = 0; i < 3; i++) {
    run(small); // warm-up (and JIT) on both shapes before calibrating
    run(large);
  }
  let times = 1;
  while (Math.min(timeLoop(() => run(small), times), timeLoop(() => run(small), times)) < minMs && times < 1 << 16) times *= 2;
  let last = { small: 0, large: 0 };
  for (let attempt = 0; attempt < 3; ) {
    // Interleaved, so that a busy spell of the machine slows both sides, not just one.
    last = { small: Infinity, large: Infinity };
    for (let i = 0; i < reps; i++) {
      last.small = Math.min(last.small, timeLoop(() => run(small), times));
      last.large = Math.min(last.large, timeLoop(() => run(large), times));
    }
    if (process.env.KEYWARDEN_FUZZ_VERBOSE) console.log(`${name}: x${(last.large / last.small).toFixed(1)} (${last.small.toFixed(2)} ms, ${times} calls)`);
    // Calibrated on a slow moment (JIT, a busy machine): measure longer, this attempt again.
    if (last.small < minMs / 2 && times < 1 << 16) {
      times *= 2;
      continue;
    }
    if (last.large < factor * last.small) return;
    attempt++;
  }
  expect.fail(`${name}: ${last.large.toFixed(2)} ms for size 8n against ${last.small.toFixed(2)} ms for n (n = ${n}, ${times} calls each): more than ${factor}x, not linear`);
}
