/**
 * JSON with one spelling per value, for everything keywarden hashes or signs: audit entries and
 * break-glass requests (RFC 8785, JSON Canonicalization Scheme, for the values they hold), and the
 * duplicate-key scan their strict parsers run (JSON.parse keeps the last of two equal keys, other
 * parsers the first: a document with both must be refused, not interpreted).
 * @module
 */

/**
 * RFC 8785 (JCS) for the values keywarden's documents hold: strings, safe integers, null, arrays
 * and objects (keys sorted by UTF-16 code units, JCS §3.2.3, which is Array.prototype.sort's order).
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v === 'string' || typeof v === 'number') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/**
 * The first object key that appears twice in the same object of (already valid) JSON text, or
 * undefined. JSON.parse silently keeps the last one; other parsers keep the first, so a token
 * with duplicate keys could show an auditor's script a different request than the one verified.
 */
export function duplicateKey(json: string): string | undefined {
  const stack: { keys?: Set<string>; expectKey: boolean }[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '{') stack.push({ keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      const top = stack.at(-1);
      if (top?.keys) top.expectKey = true;
    } else if (c === '"') {
      const start = i;
      for (i++; json[i] !== '"'; i++) if (json[i] === '\\') i++;
      const top = stack.at(-1);
      // In valid JSON the first string after '{' or ',' inside an object is a key.
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(json.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return key;
        top.keys.add(key);
        top.expectKey = false;
      }
    }
  }
  return undefined;
}
