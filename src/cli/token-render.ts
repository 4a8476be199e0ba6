/**
 * Human-readable text for `keywarden token …`: what a token allows, who approved it, what is
 * missing. The same facts are in the JSON output.
 * @module
 */
import type { TokenInspection } from '../breakglass/policy.js';
import type { BreakGlassRequest } from '../breakglass/token.js';
import { oneLine, quoted } from './text.js';

/**
 * Token JSON as printed on a terminal: DEL, C1 controls, Unicode format characters (bidi,
 * zero-width) and the line/paragraph separators written as `\uXXXX` escapes (per UTF-16 code
 * unit). JSON.stringify leaves them raw, and a conversation id may hold any of them; they occur
 * only inside strings, so the text is the same JSON value — it decodes to the signed request
 * (outside review 5, 2026-12-02: `token approve` printed them raw to the approver's terminal).
 */
export function terminalJson(json: string): string {
  const unit = (c: string, i: number) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return json.replace(/[\u007f-\u009f\u2028\u2029\p{Cf}]/gu, (c) => Array.from({ length: c.length }, (_, i) => unit(c, i)).join(''));
}

/** Seconds since the epoch as an RFC 3339 UTC time. */
export const iso = (s: number): string => new Date(s * 1000).toISOString();

/**
 * What a request allows, as an approver signs it: everything the signed digest covers that
 * decides what can be read — who, which conversations, when, how many, why, for which
 * deployment under which policy, and the request's validity.
 */
export function describeRequest(req: BreakGlassRequest, requesterNote = ''): string {
  return (
    `${quoted(req.requester)}${requesterNote} may ${req.scope.operation} at most ${req.scope.maxMessages} message(s) ` +
    `of ${req.scope.conversations.length} conversation(s) [${req.scope.conversations.map(quoted).join(', ')}] sent ${req.scope.from} .. ${req.scope.to}, ` +
    `reason ${req.reason} ${quoted(req.detail)}, audience ${quoted(req.aud)}, policy ${quoted(req.policy)}, ` +
    `valid ${iso(req.nbf)} .. ${iso(req.exp)}`
  );
}

/** The report of `token inspect`. */
export function renderInspection(r: TokenInspection): string {
  const lines: string[] = [];
  const q = r.request;
  if (q) {
    lines.push(`token ${q.jti} (digest ${r.digest})`);
    lines.push(`requester ${quoted(q.requester)}${r.requesterVerified ? ' (signature verified)' : ''} asks to ${q.scope.operation} at most ${q.scope.maxMessages} message(s)`);
    lines.push(`  sent ${q.scope.from} .. ${q.scope.to} in ${q.scope.conversations.length} conversation(s): ${q.scope.conversations.map((c) => quoted(c)).join(', ')}`);
    lines.push(`reason ${q.reason}: ${quoted(q.detail)}`);
    lines.push(`policy ${quoted(q.policy)}, audience ${quoted(q.aud)}, valid ${iso(q.nbf)} .. ${iso(q.exp)} (issued ${iso(q.iat)})`);
  } else {
    lines.push('token: unreadable');
  }
  lines.push(`approvals: ${r.approvals.length}`);
  for (const a of r.approvals) lines.push(`  #${a.index} ${a.approver !== undefined ? quoted(a.approver) : '(no approver id)'}: ${a.valid ? 'valid' : `INVALID ${a.code}`}`);
  lines.push('factors:');
  for (const f of r.factors) {
    lines.push(`  ${f.name}: ${f.have} of ${f.need}${f.have >= f.need ? ' (met)' : ` — missing ${f.need - f.have} more of: ${f.missing.join(', ') || 'nobody left'}`}`);
  }
  for (const p of r.problems) lines.push(`PROBLEM ${p.code}: ${oneLine(p.message)}`);
  lines.push(r.ok ? 'ACCEPTABLE now' : `NOT ACCEPTABLE: ${r.problems.length} problem(s)`);
  return `${lines.join('\n')}\n`;
}
