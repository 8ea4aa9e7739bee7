// Governance of API calls: the policy decisions that allowed a call, the
// approval that gated it (verified or not, by whom) and the attestation
// check, as the credential view (per call) and the run view (governance)
// give them.
import { h, routes, badge, card, short } from '../dom.js';

const words = (s) => String(s || '').replace(/_/g, ' ');

function entryHref(traceId, index) {
  return traceId ? routes.run(traceId, index) : routes.entry(index);
}

function decisionBadge(traceId, d) {
  const ok = d.decision === 'allow';
  const title = [d.policy_id, d.reason, d.linked_by === 'request' ? 'linked by subject, method, path and time' : 'linked by trace context']
    .filter(Boolean).join(' · ');
  // A decision made without trace context is not in the run: link its entry.
  const href = d.linked_by === 'request' ? routes.entry(d.index) : entryHref(traceId, d.index);
  return h('a', { class: 'policy-decision', href, title, dataset: { decision: d.decision } },
    badge(`${d.engine || 'policy'} ${d.decision}`, ok ? 'ok' : 'danger'));
}

function approvalText(a) {
  if (a.index == null) return 'no approval';
  const who = a.signer || a.approver;
  const by = who ? ` by ${who}` : '';
  if (a.verified && (a.findings || []).includes('approval_expired')) return `approved${by}, signature verified, expired when used`;
  if (a.verified) return `approved${by}, signature verified`;
  if (a.status === 'unsigned') return `approved${by}, unsigned`;
  return `approved${by}, signature not verified (${words(a.status || 'not checked')})`;
}

function approvalBadge(traceId, a) {
  const bad = (a.findings || []).length > 0 || (a.index != null && !a.verified);
  const title = [a.key ? `key ${a.key}` : '', ...(a.mismatches || []).map((m) => `differs: ${m}`)].filter(Boolean).join(' · ');
  const b = badge(approvalText(a), bad ? 'danger' : 'ok', { class: 'approval-check', title, dataset: { status: a.status || (a.index == null ? 'none' : '') } });
  return a.index == null ? b : h('a', { href: entryHref(traceId, a.index) }, b);
}

function attestationBadge(att) {
  const text = att.status === 'mismatch'
    ? `attestation mismatch: ${att.mismatches.map((m) => `${m.fact} ${short(m.value, 24)} not in ${m.against === 'allow_list' ? 'the allow-list' : 'the issuing run'}`).join('; ')}`
    : att.status === 'unattested' ? 'attestation: nothing attested' : 'attestation consistent';
  const title = [att.images.length ? `images ${att.images.join(', ')}` : '', att.models.length ? `models ${att.models.join(', ')}` : '',
    att.issuing_run ? `compared with run ${att.issuing_run}` : '', att.allow_list ? 'and the allow-list' : ''].filter(Boolean).join(' · ');
  return badge(text, att.status === 'mismatch' ? 'danger' : att.status === 'unattested' ? 'neutral' : 'ok',
    { class: 'attestation-check', title, dataset: { status: att.status } });
}

/**
 * governancePanel renders what vouches for one API call: c has policy,
 * approval and attestation, as a credential view's call or a run view's
 * governance item. It returns null when there is nothing to show.
 */
export function governancePanel(traceId, c) {
  const parts = (c.policy || []).map((d) => decisionBadge(traceId, d));
  if (c.approval) {
    parts.push(approvalBadge(traceId, c.approval));
  }
  if (c.attestation) parts.push(attestationBadge(c.attestation));
  const findings = [...(c.approval?.findings || []), ...(c.attestation?.findings || [])];
  for (const f of findings) parts.push(badge(words(f), 'danger', { class: 'gov-finding', dataset: { kind: f } }));
  return parts.length ? h('div', { class: 'governance small' }, parts) : null;
}

/**
 * governanceCard lists the run's API calls (run.governance) with what
 * vouches for each; null when the run made none.
 */
export function governanceCard(run) {
  const items = run.governance || [];
  if (!items.length) return null;
  const byIndex = new Map(run.entries.map((e) => [e.index, e]));
  const A = (e, k) => e?.attributes?.[k] || '';
  const rows = items.map((g) => {
    const e = byIndex.get(g.index);
    const what = e ? `${A(e, 'http.request.method') || A(e, 'rpc.method') || e.name} ${A(e, 'server.address')}${A(e, 'url.path')}` : `entry ${g.index}`;
    return h('li', { class: 'gov-call', dataset: { index: g.index } },
      h('a', { href: routes.run(run.trace_id, g.index), class: 'mono' }, what),
      g.credential_id ? h('span', { class: 'muted small' }, ` with ${g.credential_id}`) : null,
      governancePanel(run.trace_id, g) || h('div', { class: 'muted small' }, 'no policy decision, approval or attestation recorded'));
  });
  return card('Why was it allowed', { id: 'governance', actions: h('span', { class: 'muted small' }, 'Policy decisions, approvals and attestation, per API call') },
    h('ul', { class: 'gov-list' }, rows));
}
