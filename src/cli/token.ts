/**
 * `keywarden token …`: the people side of break-glass tokens.
 *
 *   keywarden token keygen --id ID --out-private FILE --out-public FILE
 *   keywarden token request --policy ID --aud AUD --requester WHO --reason CODE --detail TEXT
 *       --conversation ID [--conversation ID]... --from ISO --to ISO --max-messages N
 *       --expires-in SECONDS [--out FILE]
 *   keywarden token approve --token FILE --key PRIVATE_JWK_FILE --id APPROVER_ID [--out FILE]
 *   keywarden token inspect --token FILE --policy POLICY_JSON_FILE [--json]
 *
 * Each approver runs `approve` on their own machine with their own key and passes the file on;
 * approvals can be added in any order, at any time before the request expires.
 * Exit codes: 0 ok, 1 refused / not acceptable, 2 usage, 3 could not complete.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { decodeProtectedHeader } from 'jose';
import { type BreakGlassPolicy, type TokenInspection, inspectToken, validatePolicy } from '../breakglass/policy.js';
import { type Jwk, REASON_CODES, approveRequest, createRequest, decodeToken, encodeToken, generateApproverKey, requestDigest } from '../breakglass/token.js';
import { BreakGlassError, InvalidInputError } from '../errors.js';
import { EXIT, IncompleteError, UsageError } from './audit.js';

const USAGE = `usage:
  keywarden token keygen --id ID --out-private FILE --out-public FILE
  keywarden token request --policy ID --aud AUD --requester WHO --reason CODE --detail TEXT
      --conversation ID [--conversation ID]... --from ISO --to ISO --max-messages N --expires-in SECONDS [--out FILE]
  keywarden token approve --token FILE --key PRIVATE_JWK_FILE --id APPROVER_ID [--out FILE]
  keywarden token inspect --token FILE --policy POLICY_JSON_FILE [--json]
CODE is one of ${REASON_CODES.join(', ')}. Exit: 0 ok, 1 refused or not acceptable, 2 usage, 3 could not complete.
`;

// Per subcommand: flag name -> takes a value (true) or is a switch (false).
const FLAGS: Record<string, Record<string, boolean>> = {
  keygen: { id: true, 'out-private': true, 'out-public': true },
  request: { policy: true, aud: true, requester: true, reason: true, detail: true, conversation: true, from: true, to: true, 'max-messages': true, 'expires-in': true, out: true },
  approve: { token: true, key: true, id: true, out: true },
  inspect: { token: true, policy: true, json: false },
};
const REPEATABLE = new Set(['conversation']);
const OPTIONAL = new Set(['out', 'json']);

type Flags = Map<string, string[]>;

function parse(sub: string, args: string[]): Flags {
  const allowed = FLAGS[sub]!;
  const flags: Flags = new Map();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
    const name = a.slice(2);
    if (!Object.hasOwn(allowed, name)) throw new UsageError(`unknown option ${a} for token ${sub}`);
    const value = allowed[name] ? args[++i] : 'true';
    if (value === undefined) throw new UsageError(`${a} needs a value`);
    const prev = flags.get(name) ?? [];
    if (prev.length > 0 && !REPEATABLE.has(name)) throw new UsageError(`${a} given twice`);
    flags.set(name, [...prev, value]);
  }
  // All required flags up front: a usage error should never come after a file was read or written.
  for (const name of Object.keys(allowed)) if (!OPTIONAL.has(name) && !flags.has(name)) throw new UsageError(`--${name} is required`);
  return flags;
}

function one(f: Flags, name: string): string {
  const v = f.get(name)?.[0];
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

function positiveInt(f: Flags, name: string): number {
  const v = one(f, name);
  if (!/^[1-9][0-9]*$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`--${name}: expected a positive integer`);
  return Number(v);
}

// RFC 3339 with a zone, normalised to the one spelling requests use (UTC, milliseconds).
function time(f: Flags, name: string): string {
  const v = one(f, name);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:\d{2})$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw new UsageError(`--${name}: expected an RFC 3339 time such as 2025-01-01T00:00:00Z`);
  }
  return new Date(v).toISOString();
}

async function read(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new IncompleteError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

async function write(file: string, text: string, options?: { mode?: number; flag?: string }): Promise<void> {
  try {
    await writeFile(file, text, options);
  } catch (e) {
    throw new IncompleteError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  const text = await read(file, what);
  try {
    return JSON.parse(text);
  } catch {
    throw new IncompleteError(`${what} ${file} is not JSON`);
  }
}

/** The command-line flag behind a createRequest / generateApproverKey parameter name. */
function flagOf(param: string): string {
  if (param === 'id') return '--id';
  if (param === 'fields.exp') return '--expires-in';
  if (param.startsWith('fields.scope.conversations')) return '--conversation';
  if (param === 'fields.scope.maxMessages') return '--max-messages';
  return `--${param.replace(/^fields\.(scope\.)?/, '')}`;
}

const iso = (s: number) => new Date(s * 1000).toISOString();

function render(r: TokenInspection): string {
  const lines: string[] = [];
  const q = r.request;
  if (q) {
    lines.push(`token ${q.jti} (digest ${r.digest})`);
    lines.push(`requester ${JSON.stringify(q.requester)} asks to ${q.scope.operation} at most ${q.scope.maxMessages} message(s)`);
    lines.push(`  sent ${q.scope.from} .. ${q.scope.to} in ${q.scope.conversations.length} conversation(s): ${q.scope.conversations.map((c) => JSON.stringify(c)).join(', ')}`);
    lines.push(`reason ${q.reason}: ${JSON.stringify(q.detail)}`);
    lines.push(`policy ${JSON.stringify(q.policy)}, audience ${JSON.stringify(q.aud)}, valid ${iso(q.nbf)} .. ${iso(q.exp)} (issued ${iso(q.iat)})`);
  } else {
    lines.push('token: unreadable');
  }
  lines.push(`approvals: ${r.approvals.length}`);
  for (const a of r.approvals) lines.push(`  #${a.index} ${a.approver !== undefined ? JSON.stringify(a.approver) : '(no approver id)'}: ${a.valid ? 'valid' : `INVALID ${a.code}`}`);
  lines.push('factors:');
  for (const f of r.factors) {
    lines.push(`  ${f.name}: ${f.have} of ${f.need}${f.have >= f.need ? ' (met)' : ` — missing ${f.need - f.have} more of: ${f.missing.join(', ') || 'nobody left'}`}`);
  }
  for (const p of r.problems) lines.push(`PROBLEM ${p.code}: ${p.message}`);
  lines.push(r.ok ? 'ACCEPTABLE now' : `NOT ACCEPTABLE: ${r.problems.length} problem(s)`);
  return `${lines.join('\n')}\n`;
}

async function run(sub: string, f: Flags, io: { out(s: string): void; err(s: string): void }): Promise<number> {
  switch (sub) {
    case 'keygen': {
      const id = one(f, 'id');
      const priv = one(f, 'out-private');
      const pub = one(f, 'out-public');
      const k = await generateApproverKey(id);
      // 'wx': never overwrite an existing key file (losing a key, or swapping one under a
      // policy that still trusts the old one, is worse than an error). The private key file is
      // created 0600 from the start, never widened afterwards.
      await write(pub, `${JSON.stringify(k.publicJwk)}\n`, { flag: 'wx' });
      try {
        await write(priv, `${JSON.stringify(k.privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        await unlink(pub).catch(() => undefined);
        throw e;
      }
      io.err(`approver key ${JSON.stringify(id)}: private JWK in ${priv} (mode 0600), public JWK in ${pub}\n`);
      // The policy entry, ready to paste into a factor's approvers.
      io.out(`${JSON.stringify({ id, publicJwk: k.publicJwk })}\n`);
      return EXIT.OK;
    }
    case 'request': {
      const expiresIn = positiveInt(f, 'expires-in');
      const iat = Math.floor(Date.now() / 1000);
      const request = createRequest({
        policy: one(f, 'policy'),
        aud: one(f, 'aud'),
        requester: one(f, 'requester'),
        reason: one(f, 'reason'),
        detail: one(f, 'detail'),
        scope: { conversations: f.get('conversation') ?? [], from: time(f, 'from'), to: time(f, 'to'), maxMessages: positiveInt(f, 'max-messages'), operation: 'decrypt' },
        iat,
        exp: iat + expiresIn,
      });
      const text = `${encodeToken({ request, approvals: [] })}\n`;
      const out = f.get('out')?.[0];
      if (out !== undefined) {
        await write(out, text);
        io.err(`request ${request.jti} written to ${out}; approvers sign digest ${requestDigest(request)}\n`);
      } else io.out(text);
      return EXIT.OK;
    }
    case 'approve': {
      const file = one(f, 'token');
      const id = one(f, 'id');
      const keyFile = one(f, 'key');
      let token;
      try {
        token = decodeToken(await read(file, 'token'));
      } catch (e) {
        if (e instanceof BreakGlassError) throw new IncompleteError(`token ${file}: ${e.message}`);
        throw e;
      }
      const jwk = await readJson(keyFile, 'key');
      if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new IncompleteError(`key ${keyFile} is not a JWK object`);
      const kid = (jwk as { kid?: unknown }).kid;
      if (kid !== undefined && kid !== id) throw new UsageError(`--id ${JSON.stringify(id)} does not match the key's kid ${JSON.stringify(kid)}`);
      const req = token.request;
      // Refuse here what verification would refuse anyway, so the approver learns it now.
      if (id === req.requester) {
        io.err(`keywarden: refused (ERR_BG_REQUESTER_APPROVED): ${JSON.stringify(id)} is the requester and cannot approve their own request\n`);
        return EXIT.FOUND;
      }
      const already = token.approvals.some((a) => {
        try {
          return decodeProtectedHeader(a).kid === id;
        } catch {
          return false;
        }
      });
      if (already) {
        io.err(`keywarden: refused (ERR_BG_DUPLICATE_APPROVER): ${JSON.stringify(id)} has already approved this token\n`);
        return EXIT.FOUND;
      }
      if (Math.floor(Date.now() / 1000) >= req.exp) {
        io.err(`keywarden: refused (ERR_BG_EXPIRED): the request expired at ${iso(req.exp)}\n`);
        return EXIT.FOUND;
      }
      let jwt: string;
      try {
        jwt = await approveRequest(req, { id, privateJwk: jwk as Jwk });
      } catch (e) {
        if (e instanceof InvalidInputError && e.param.startsWith('approver.privateJwk')) throw new IncompleteError(`key ${keyFile}: ${e.message.replace(/^[^:]*: /, '')}`);
        throw e;
      }
      // Say what is being approved: the approver signs the digest of exactly this.
      io.err(
        `approved as ${JSON.stringify(id)}: ${JSON.stringify(req.requester)} may ${req.scope.operation} at most ${req.scope.maxMessages} message(s) ` +
          `of ${req.scope.conversations.length} conversation(s) sent ${req.scope.from} .. ${req.scope.to}, reason ${req.reason} ${JSON.stringify(req.detail)}, ` +
          `until ${iso(req.exp)} (digest ${requestDigest(req)})\n`,
      );
      const text = `${encodeToken({ request: req, approvals: [...token.approvals, jwt] })}\n`;
      const out = f.get('out')?.[0];
      if (out !== undefined) await write(out, text);
      else io.out(text);
      return EXIT.OK;
    }
    case 'inspect': {
      const text = await read(one(f, 'token'), 'token');
      const policyFile = one(f, 'policy');
      const policy = await readJson(policyFile, 'policy');
      try {
        validatePolicy(policy);
      } catch (e) {
        if (e instanceof InvalidInputError) throw new IncompleteError(`policy ${policyFile}: ${e.message}`);
        throw e;
      }
      const r = await inspectToken(text, policy as BreakGlassPolicy);
      io.out(f.has('json') ? `${JSON.stringify(r, null, 2)}\n` : render(r));
      return r.ok ? EXIT.OK : EXIT.FOUND;
    }
    default:
      throw new UsageError(sub ? `unknown command token ${sub}` : 'no token command');
  }
}

/**
 * Runs `keywarden token <args>` and returns the exit code: 0 ok, 1 refused or not acceptable,
 * 2 usage, 3 could not complete. Errors are reported on `io.err`, never thrown.
 *
 * @example
 * ```ts
 * const code = await tokenCommand(['inspect', '--token', 'token.json', '--policy', 'policy.json'],
 *   { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
 * process.exitCode = code;
 * ```
 */
export async function tokenCommand(args: string[], io: { out(s: string): void; err(s: string): void }): Promise<number> {
  try {
    const [sub = '', ...rest] = args;
    if (!Object.hasOwn(FLAGS, sub)) throw new UsageError(sub ? `unknown command token ${sub}` : 'no token command');
    return await run(sub, parse(sub, rest), io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidInputError) {
      // InvalidInputError here comes from a flag value (e.g. an unknown reason code): name the flag.
      const message = err instanceof InvalidInputError ? `${flagOf(err.param)}: ${err.message.replace(/^[^:]*: /, '')}` : err.message;
      io.err(`keywarden: ${message}\n${USAGE}`);
      return EXIT.USAGE;
    }
    io.err(`keywarden: could not complete: ${(err as Error).message}\n`);
    return EXIT.INCOMPLETE;
  }
}
