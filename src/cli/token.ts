/**
 * `keywarden token …`: the people side of break-glass tokens. Each approver runs `approve` on
 * their own machine with their own key and passes the file on; approvals can be added in any
 * order, at any time before the request expires.
 * @module
 */
import { stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { type BreakGlassPolicy, inspectToken, validatePolicy } from '../breakglass/policy.js';
import { type Jwk, REASON_CODES, approveRequest, createRequest, decodeToken, encodeToken, generateApproverKey, nameSkeleton, requestDigest, signRequest } from '../breakglass/token.js';
import { BreakGlassError, InvalidInputError } from '../errors.js';
import { parseRfc3339 } from '../util/time.js';
import { type CommandSpec, EXIT, type GroupSpec, IncompleteError, RefusedError, UsageError, integerArg } from './common.js';
import { MAX_KEY_FILE, readJson, readText, writeNewFiles } from './files.js';
import { exposedFileWarning } from './key-files.js';
import { jsonOption } from './options.js';
import { oneLine } from './text.js';
import { describeRequest, iso, renderInspection, terminalJson } from './token-render.js';

const tokenFile = (description: string) => ({ name: 'token', type: 'string', value: 'FILE', required: true, description }) as const;
const outOption = { name: 'out', type: 'string', value: 'FILE', description: 'write the token to FILE instead of stdout' } as const;

// Any RFC 3339 time, normalised to the one spelling requests use (UTC, milliseconds): the same
// strict parser as the library's (util/time.ts), so 2026-02-30 is refused, not rolled over.
function timeArg(value: string, label: string): string {
  const t = parseRfc3339(value);
  if (t === undefined) throw new UsageError(`${label}: expected an RFC 3339 time such as 2025-01-01T00:00:00Z`);
  return new Date(t).toISOString();
}

/** Writes a token file (not a key: tokens are passed from person to person and may be replaced). */
async function writeToken(file: string, text: string): Promise<void> {
  try {
    await writeFile(file, text);
  } catch (e) {
    throw new IncompleteError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/**
 * Refuses `--out` naming the `--key` file, by path or as another name of the same file (a link):
 * the token written there would replace the private key (outside review 6). Checked before
 * anything is read or written.
 */
async function refuseOutOverKey(out: string | undefined, keyFile: string): Promise<void> {
  if (out === undefined) return;
  let same = resolve(out) === resolve(keyFile);
  if (!same) {
    const [a, b] = await Promise.all([stat(out).catch(() => undefined), stat(keyFile).catch(() => undefined)]);
    same = a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
  }
  if (same) throw new UsageError(`--out ${JSON.stringify(out)} is the key file given as --key: the token would replace the private key`);
}

/** A policy file, validated (a bad one: exit 3 naming the file and the field). */
async function readPolicy(policyFile: string): Promise<BreakGlassPolicy> {
  const policy = await readJson(policyFile, 'policy');
  try {
    validatePolicy(policy);
  } catch (e) {
    if (e instanceof InvalidInputError) throw new IncompleteError(`policy ${policyFile}: ${e.message}`);
    throw e;
  }
  return policy;
}

/**
 * A private JWK file of `id` (its kid, when it has one, must be `id`, given as `flag`). Nothing
 * read from a private key file is ever printed: the file may hold its secret under any name
 * (fields swapped by hand), so the kid is named, not quoted.
 */
async function readPrivateJwk(keyFile: string, id: string, flag: string): Promise<Jwk> {
  const jwk = await readJson(keyFile, 'key', MAX_KEY_FILE);
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new IncompleteError(`key ${keyFile} is not a JWK object`);
  const kid = (jwk as { kid?: unknown }).kid;
  if (kid !== undefined && kid !== id) throw new UsageError(`${flag} ${JSON.stringify(id)} does not match the kid in the key file ${keyFile}`);
  return jwk as Jwk;
}

/** Runs `sign`; a key the signer refuses is named by its file, never quoted (`role`: the signer's parameter). */
async function signWithKey(keyFile: string, sign: () => Promise<string>, role: 'approver' | 'requester'): Promise<string> {
  try {
    return await sign();
  } catch (e) {
    // Never the key's content in a message: only that the file is not a usable private key.
    if (e instanceof InvalidInputError && e.param.startsWith(`${role}.privateJwk`)) throw new IncompleteError(`key ${keyFile}: ${e.message.slice(e.param.length + 2)}`);
    throw e;
  }
}

/** readPrivateJwk, then signWithKey. */
async function signWithKeyFile(keyFile: string, id: string, sign: (jwk: Jwk) => Promise<string>, role: 'approver' | 'requester'): Promise<string> {
  const jwk = await readPrivateJwk(keyFile, id, role === 'requester' ? '--requester' : '--id');
  return signWithKey(keyFile, () => sign(jwk), role);
}

const keygen: CommandSpec = {
  name: 'keygen',
  summary: "make an approver's (or requester's) Ed25519 key pair as JWK files (the private one new, mode 0600)",
  description: 'Prints the policy entry {"id", "publicJwk"} to paste into a factor\'s approvers (or the policy\'s requesters). Existing files are never overwritten.',
  options: [
    { name: 'id', type: 'string', value: 'ID', required: true, description: "the approver's id (the key's kid)" },
    { name: 'out-private', type: 'string', value: 'FILE', required: true, description: 'new file for the private JWK, created with mode 0600' },
    { name: 'out-public', type: 'string', value: 'FILE', required: true, description: 'new file for the public JWK' },
    jsonOption,
  ],
  async run(args, ctx) {
    const id = args.required('id');
    const priv = args.required('out-private');
    const pub = args.required('out-public');
    const k = await generateApproverKey(id);
    await writeNewFiles([
      { path: priv, text: `${JSON.stringify(k.privateJwk)}\n`, secret: true },
      { path: pub, text: `${JSON.stringify(k.publicJwk)}\n` },
    ]);
    ctx.note(`approver key ${JSON.stringify(id)}: private JWK in ${priv} (mode 0600), public JWK in ${pub}\n`);
    const entry = { id, publicJwk: k.publicJwk };
    ctx.emit({ approver: entry, privateKeyFile: priv, publicKeyFile: pub }, `${JSON.stringify(entry)}\n`);
    return EXIT.OK;
  },
};

const request: CommandSpec = {
  name: 'request',
  summary: 'create a break-glass request token, with no approvals yet',
  description: `CODE is one of ${REASON_CODES.join(', ')}. Times are RFC 3339 (2026-05-01T00:00:00Z).\nWith --key the requester signs the request (required by a policy that lists requesters).`,
  options: [
    { name: 'policy', type: 'string', value: 'ID', required: true, description: 'id of the policy the token is for' },
    { name: 'aud', type: 'string', value: 'AUD', required: true, description: 'the deployment (the policy\'s audience)' },
    { name: 'requester', type: 'string', value: 'WHO', required: true, description: 'who asks for access' },
    { name: 'reason', type: 'string', value: 'CODE', required: true, description: 'reason code' },
    { name: 'detail', type: 'string', value: 'TEXT', required: true, description: 'case reference or explanation' },
    { name: 'conversation', type: 'string', value: 'ID', multiple: true, required: true, description: 'a conversation in scope' },
    { name: 'from', type: 'string', value: 'TIME', required: true, description: 'earliest message time in scope' },
    { name: 'to', type: 'string', value: 'TIME', required: true, description: 'latest message time in scope' },
    { name: 'max-messages', type: 'string', value: 'N', required: true, description: 'most messages the token may open' },
    { name: 'expires-in', type: 'string', value: 'SECONDS', required: true, description: 'how long approvals may be collected and the token used' },
    { name: 'key', type: 'string', value: 'FILE', description: "the requester's private JWK file (from token keygen): sign the request as --requester" },
    outOption,
    jsonOption,
  ],
  // createRequest names fields as written ('scope.to', 'exp'); the user wrote flags.
  params(param) {
    if (param === 'exp') return 'expires-in';
    if (param.startsWith('scope.conversations')) return 'conversation';
    if (param === 'scope.maxMessages') return 'max-messages';
    if (param === 'requester.id') return 'requester';
    return param.replace(/^scope\./, '');
  },
  async run(args, ctx) {
    const expiresIn = integerArg(args.required('expires-in'), '--expires-in', 1);
    const iat = Math.floor(Date.now() / 1000);
    const req = createRequest({
      policy: args.required('policy'),
      aud: args.required('aud'),
      requester: args.required('requester'),
      reason: args.required('reason'),
      detail: args.required('detail'),
      scope: {
        conversations: args.list('conversation'),
        from: timeArg(args.required('from'), '--from'),
        to: timeArg(args.required('to'), '--to'),
        maxMessages: integerArg(args.required('max-messages'), '--max-messages', 1),
        operation: 'decrypt',
      },
      iat,
      exp: iat + expiresIn,
    });
    const keyFile = args.string('key');
    if (keyFile !== undefined) await refuseOutOverKey(args.string('out'), keyFile);
    const requesterSignature = keyFile === undefined ? undefined : await signWithKeyFile(keyFile, req.requester, (jwk) => signRequest(req, { id: req.requester, privateJwk: jwk }), 'requester');
    const encoded = encodeToken({ request: req, approvals: [], ...(requesterSignature === undefined ? {} : { requesterSignature }) });
    if (keyFile !== undefined) {
      const exposed = await exposedFileWarning(keyFile, '--key');
      if (exposed !== undefined) ctx.io.err(exposed);
    }
    const text = `${encoded}\n`;
    const out = args.string('out');
    const digest = requestDigest(req);
    if (out !== undefined) {
      await writeToken(out, text);
      ctx.note(`request ${req.jti} written to ${out}; approvers sign digest ${digest}\n`);
    }
    ctx.emit({ jti: req.jti, digest, expires: iso(req.exp), signed: requesterSignature !== undefined, ...(out !== undefined ? { file: out } : { token: encoded }) }, out !== undefined ? '' : `${terminalJson(encoded)}\n`);
    return EXIT.OK;
  },
};

const approve: CommandSpec = {
  name: 'approve',
  summary: 'add your approval to a request token, signed with your private JWK',
  description: 'Shows what is being approved. Refuses (exit 1) the requester, a second approval by the same approver and an expired request.',
  options: [
    tokenFile('the token file'),
    { name: 'key', type: 'string', value: 'FILE', required: true, description: 'your private JWK file (from token keygen)' },
    { name: 'id', type: 'string', value: 'ID', required: true, description: 'your approver id (the key\'s kid)' },
    { name: 'policy', type: 'string', value: 'FILE', description: "the break-glass policy as JSON: check the requester's signature first (refused when the policy lists requesters and it does not verify)" },
    outOption,
    jsonOption,
  ],
  params: (param) => (param === 'approver.id' ? 'id' : undefined),
  async run(args, ctx) {
    const file = args.required('token');
    const id = args.required('id');
    const keyFile = args.required('key');
    await refuseOutOverKey(args.string('out'), keyFile);
    let token;
    try {
      token = decodeToken(await readText(file, 'token'));
    } catch (e) {
      // The message quotes the requester's file (an unknown field's name, verbatim): escaped, so
      // its control sequences cannot redraw what the approver reads (outside review 5, 2026-12-02).
      if (e instanceof BreakGlassError) throw new IncompleteError(`token ${file}: ${oneLine(e.message)}`);
      throw e;
    }
    const jwk = await readPrivateJwk(keyFile, id, '--id');
    const req = token.request;
    // Who asked: verified against the policy when one is given (the approver signs nothing for a
    // request its requester did not sign, under a policy that lists requesters).
    let asked: string;
    const policyFile = args.string('policy');
    if (policyFile !== undefined) {
      const policy = await readPolicy(policyFile);
      const r = await inspectToken(token, policy);
      if (policy.requesters !== undefined && !r.requesterVerified) {
        const why = r.problems.find((p) => /requester's signature|requesterSignature|not a requester/.test(p.message));
        throw new RefusedError('ERR_BG_REQUESTER_UNVERIFIED', `policy ${policyFile} requires the requester's signature, and ${JSON.stringify(req.requester)} did not sign this request${why === undefined ? '' : `: ${oneLine(why.message)}`}`);
      }
      asked = r.requesterVerified ? ' (signature verified)' : ' (not verified: the policy lists no requesters)';
    } else {
      asked = token.requesterSignature === undefined ? ' (not signed)' : ' (signed; give --policy to verify)';
    }
    // Refuse here what verification would refuse anyway, so the approver learns it now.
    if (nameSkeleton(id) === nameSkeleton(req.requester)) throw new RefusedError('ERR_BG_REQUESTER_APPROVED', `${JSON.stringify(id)} is the requester and cannot approve their own request`);
    const already = token.approvals.some((a) => {
      try {
        return decodeProtectedHeader(a).kid === id;
      } catch {
        return false;
      }
    });
    if (already) throw new RefusedError('ERR_BG_DUPLICATE_APPROVER', `${JSON.stringify(id)} has already approved this token`);
    if (Math.floor(Date.now() / 1000) >= req.exp) throw new RefusedError('ERR_BG_EXPIRED', `the request expired at ${iso(req.exp)}`);
    const jwt = await signWithKey(keyFile, () => approveRequest(req, { id, privateJwk: jwk }), 'approver');
    // Once the key was used, as the keys commands do (an error exit says only its one line).
    const exposed = await exposedFileWarning(keyFile, '--key');
    if (exposed !== undefined) ctx.io.err(exposed);
    const digest = requestDigest(req);
    // Say what is being approved: the approver signs the digest of exactly this.
    ctx.note(`approved as ${JSON.stringify(id)}: ${describeRequest(req, asked)} (digest ${digest})\n`);
    const encoded = encodeToken({ ...token, approvals: [...token.approvals, jwt] }); // the requester's signature stays
    const text = `${encoded}\n`;
    const out = args.string('out');
    if (out !== undefined) await writeToken(out, text);
    const result = { approver: id, jti: req.jti, digest, approved: describeRequest(req), approvals: token.approvals.length + 1 };
    // On stdout (a terminal, unless redirected) with requester-controlled text escaped: terminalJson.
    ctx.emit({ ...result, ...(out !== undefined ? { file: out } : { token: encoded }) }, out !== undefined ? '' : `${terminalJson(encoded)}\n`);
    return EXIT.OK;
  },
};

const inspect: CommandSpec = {
  name: 'inspect',
  summary: 'say what a token allows, who approved it and what is missing under a policy',
  description: 'Exit status 1 when the token is not acceptable now (each problem is listed).',
  options: [
    tokenFile('the token file'),
    { name: 'policy', type: 'string', value: 'FILE', required: true, description: 'the break-glass policy as JSON' },
    jsonOption,
  ],
  async run(args, ctx) {
    const text = await readText(args.required('token'), 'token');
    const policy = await readPolicy(args.required('policy'));
    const r = await inspectToken(text, policy);
    ctx.emit(r, renderInspection(r));
    return r.ok ? EXIT.OK : EXIT.FOUND;
  },
};

/** The `keywarden token` group. */
export const tokenGroup: GroupSpec = {
  name: 'token',
  summary: 'break-glass tokens: approver keys, requests, approvals, inspection',
  commands: [keygen, request, approve, inspect],
};
