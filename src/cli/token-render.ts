/**
 * Human-readable text for `keywarden token …`: what a token allows, who approved it, what is
 * missing. The same facts are in the JSON output.
 * @module
 */
import type { TokenInspection } from '../breakglass/policy.js';
import type { BreakGlassRequest } from '../breakglass/token.js';

/** Seconds since the epoch as an RFC 3339 UTC time. */
export const iso = (s: number): string => new Date(s * 1000).toISOString();

/** One line saying what a request allows, as an approver signs it. */
export function describeRequest(req: BreakGlassRequest): string {
  return (
    `${JSON.stringify(req.requester)} may ${req.scope.operation} at most ${req.scope.maxMessages} message(s) ` +
    `of ${req.scope.conversations.length} conversation(s) sent ${req.scope.from} .. ${req.scope.to}, reason ${req.reason} ${JSON.stringify(req.detail)}, ` +
    `until ${iso(req.exp)}`
  );
}

/** The report of `token inspect`. */
export function renderInspection(r: TokenInspection): string {
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
