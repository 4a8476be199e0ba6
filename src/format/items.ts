/**
 * Validation of what callers pass to open messages: caller aad and the items of a page
 * (`decryptMany`, break-glass). One place, so every entry point enforces the same limits — the
 * associated-data buffer is sized for MAX_AAD_BYTES.
 */
import { InvalidInputError, type KeywardenError } from '../errors.js';
import { utf8 } from '../util/bytes.js';
import { MAX_AAD_BYTES, assertBytes, assertOptions, copyBytes, isBytes, own, plainBytes, resizableBytes } from '../util/validate.js';

/** The empty aad. */
export const EMPTY = new Uint8Array(0);

/** Per-item outcome of opening a page (`decryptMany`, break-glass). */
export type DecryptResult = { ok: true; plaintext: Uint8Array } | { ok: false; error: KeywardenError };

/** One item of a page of messages: the ciphertext, or the ciphertext with its aad. */
export type DecryptItem = Uint8Array | { ciphertext: Uint8Array; aad?: Uint8Array | string };

/**
 * Validates a caller aad. Strings stay strings (the AAD builder encodes them in place); a string
 * of at most MAX_AAD_BYTES / 3 code units fits whatever its content, longer ones are measured.
 * A string must be well-formed Unicode: a lone surrogate encodes to U+FFFD, so `'id-\uD800'`,
 * `'id-\uDC00'` and `'id-\uFFFD'` would bind the same bytes and open each other's messages.
 */
export function validAad(param: string, aad: unknown, view: (b: Uint8Array) => Uint8Array = plainBytes): Uint8Array | string {
  if (aad === undefined) return EMPTY;
  if (typeof aad === 'string') {
    if (!aad.isWellFormed()) throw new InvalidInputError(param, 'expected well-formed Unicode (lone surrogate)');
    if (aad.length > MAX_AAD_BYTES / 3 && utf8(aad).length > MAX_AAD_BYTES) throw new InvalidInputError(param, `expected at most ${MAX_AAD_BYTES} UTF-8 bytes`);
    return aad;
  }
  if (!isBytes(aad)) throw new InvalidInputError(param, `expected Uint8Array or string, got ${aad === null ? 'null' : typeof aad}`);
  // Read through the engine, not the caller's object (util/validate.ts): ownBytes for what is
  // sealed, plainBytes (no allocation for a Uint8Array or Buffer) for what is opened.
  const own = view(aad);
  if (own.length > MAX_AAD_BYTES) throw new InvalidInputError(param, `expected at most ${MAX_AAD_BYTES} bytes, got ${own.length}`);
  // Over a buffer that can change size, a view may grow past the limit just checked (or shrink)
  // while the key loads: the associated-data builder then threw a raw RangeError (outside review 7,
  // test/review7-format-aad-resizable-buffer.test.ts). Such an aad is copied: what is used is what was checked.
  return resizableBytes(own) ? copyBytes(own) : own;
}

/** A validated page: ciphertexts and aads, index for index. */
export interface ParsedItems {
  cts: Uint8Array[];
  aads: (Uint8Array | string)[];
}

/**
 * Validates every item of a page before any key is touched; parameter names are built only on
 * error. Two arrays rather than an object per item: decryptMany's hot loop allocates nothing
 * per message beyond its result.
 */
export function parseDecryptItems(items: unknown): ParsedItems {
  if (!Array.isArray(items)) throw new InvalidInputError('items', 'expected an array');
  const cts = new Array<Uint8Array>(items.length);
  const aads = new Array<Uint8Array | string>(items.length);
  for (let i = 0; i < items.length; i++) {
    const item: unknown = items[i];
    if (isBytes(item)) {
      cts[i] = plainBytes(item);
      aads[i] = EMPTY;
      continue;
    }
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new InvalidInputError(`items[${i}]`, 'expected Uint8Array or { ciphertext, aad? }');
    for (const key in item) if (key !== 'ciphertext' && key !== 'aad') assertOptions(`items[${i}]`, item, ['ciphertext', 'aad']);
    // Own properties only: a polluted Object.prototype never supplies an item's aad.
    const ciphertext = own(item, 'ciphertext');
    const aad = own(item, 'aad');
    if (!isBytes(ciphertext)) assertBytes(`items[${i}].ciphertext`, ciphertext);
    cts[i] = plainBytes(ciphertext);
    aads[i] = aad === undefined ? EMPTY : validAad(`items[${i}].aad`, aad);
  }
  return { cts, aads };
}

/**
 * The page with every ciphertext and byte aad copied (strings are immutable). For a caller that
 * checks a message, waits (key store, KMS) and then opens it: the caller keeps its buffers and
 * may rewrite them meanwhile, so what was checked must be what is opened (break-glass).
 * `copyBytes` copies through the view's internal slots, whatever its class says.
 */
export function copyItems(page: ParsedItems): ParsedItems {
  return { cts: page.cts.map(copyBytes), aads: page.aads.map((a) => (typeof a === 'string' ? a : copyBytes(a))) };
}
