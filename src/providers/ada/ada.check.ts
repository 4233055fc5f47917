/**
 * `herald check` for ADA. ADA publishes no read-only endpoint (shared/reference: only the send is
 * known), so the cheapest authenticated call is the send path with a body that names no recipient:
 * it reaches ADA and passes its authentication, and cannot send anything. What it proves depends on
 * the answer, and the detail says what was and was not checked.
 */
import type { HttpOutcome } from '../http.js';

export interface CredentialCheck {
  ok: boolean;
  detail: string;
}

const UNCHECKED = 'sender account and templates not checked (ADA has no read-only API)';

export function adaCheckVerdict(r: HttpOutcome, where: string): CredentialCheck {
  if (r.kind !== 'response') return { ok: false, detail: `${where} unreachable: ${r.detail}` };
  const said = r.text.replace(/\s+/g, ' ').trim().slice(0, 120);
  const answer = `HTTP ${r.status}${said ? ` ${said}` : ''}`;
  // API Gateway (ADA's URL ends in a stage, /prod) answers a route it does not have with 403
  // "Missing Authentication Token" whatever the key: the path is wrong, not the key.
  if (r.status === 403 && /missing authentication token/i.test(r.text)) {
    return { ok: false, detail: `${where}: no such route (${answer}); check providers.ada.base_url and send_path` };
  }
  if (r.status === 401 || r.status === 403) return { ok: false, detail: `${where}: ADA refused the API key (${answer}); check ADA_API_KEY` };
  if (r.status === 404 || r.status === 405) return { ok: false, detail: `${where}: not ADA's send endpoint (${answer}); check providers.ada.base_url and send_path` };
  if (r.status >= 500) return { ok: false, detail: `${where}: ADA is failing (${answer})` };
  if (r.status === 429) return { ok: true, detail: `${where} reachable but rate-limited (${answer}): API key not proven; ${UNCHECKED}` };
  if (r.status >= 300 && r.status < 400) return { ok: false, detail: `${where}: redirected (${answer}); check providers.ada.base_url` };
  // 2xx or a 4xx about the body: past authentication, so the key was accepted.
  return { ok: true, detail: `${where} reachable, API key accepted (an empty send answered ${answer}); ${UNCHECKED}` };
}
