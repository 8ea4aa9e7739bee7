import { h, routes, fmtTime, badge, card, emptyState } from '../dom.js';

const STATUS = {
  issuer_confirmed: ['issuer-confirmed', 'ok', 'The issuer\u2019s own audit log records this issuance.'],
  agent_reported_only: ['agent-reported only', 'warn', 'Only the agents report this issuance; no issuer audit log in the ledger confirms it.'],
  no_issuance_record: ['no issuance record', 'neutral', 'Neither side recorded how this credential was issued.'],
};

const KIND = {
  unaccounted_use: ['Unaccounted use', 'danger'],
  use_outside_validity: ['Use outside validity', 'danger'],
  subject_mismatch: ['Subject mismatch', 'danger'],
  unreported_issuance: ['Issuance no agent reported', 'warn'],
  issuer_disagreement: ['Issuer and agent disagree', 'warn'],
  issued_never_used: ['Issued, never used', 'neutral'],
};

/**
 * evidenceBadge is the credential's issuance status, for the page head (id
 * evidence-status) or, with opts.id null, beside a credential elsewhere.
 */
export function evidenceBadge(view, opts = {}) {
  const ev = view.evidence;
  if (!ev) return null;
  const [label, kind, title] = STATUS[ev.status] || [ev.status, 'neutral', ''];
  const id = opts.id === undefined ? 'evidence-status' : opts.id;
  return badge(label, kind, id ? { title, id } : { title, class: 'evidence-status' });
}

/** findingList lists evidence findings, each with the entries it rests on. */
function findingList(findings) {
  return h('ul', { class: 'finding-list' }, findings.map((f) => {
    const [label, kind] = KIND[f.kind] || [f.kind, 'neutral'];
    return h('li', { class: 'finding', dataset: { kind: f.kind } },
      h('div', null, badge(label, kind), ' ', f.at ? h('span', { class: 'muted small' }, fmtTime(f.at, { ms: false }), ' · ') : null,
        f.source ? h('span', { class: 'chip' }, f.source) : null),
      h('p', null, f.summary,
        f.client_address ? [' Source IP ', h('span', { class: 'mono' }, f.client_address)] : null,
        f.user_agent ? [', user agent ', h('span', { class: 'mono small' }, f.user_agent)] : null, '.'),
      h('p', { class: 'muted small' }, 'Rests on entries ', f.cites.map((i) => h('a', { class: 'mono', href: routes.entry(i) }, String(i))).flatMap((x, i) => (i ? [', ', x] : [x])), '.'));
  }));
}

/**
 * runEvidenceCard shows, on a run page, the issuer and provider evidence of
 * each credential the run used or obtained that has any: its status and
 * its findings, in the credential page's language.
 */
export function runEvidenceCard(run) {
  const creds = (run.credentials || []).filter((c) => c.evidence && (c.evidence.findings.length || c.evidence.status !== 'no_issuance_record'));
  if (!creds.length) return null;
  return card('Issuer and provider evidence', { id: 'run-evidence' },
    creds.map((c) => h('article', { class: 'run-evidence', dataset: { credential: c.id } },
      h('h3', null, h('a', { class: 'mono', href: routes.credential(c.id) }, c.id), ' ', evidenceBadge(c, { id: null })),
      c.evidence.findings.length ? findingList(c.evidence.findings)
        : h('p', { class: 'muted' }, 'No finding: the audit logs in the ledger and the agents\u2019 account agree.'))));
}

/**
 * evidenceCard reconciles the credential's two sides: the issuer's and
 * the provider's audit logs against the agents' account, with each
 * finding and the ledger entries it rests on.
 */
export function evidenceCard(view) {
  const ev = view.evidence;
  if (!ev) return null;
  const disagree = ev.agreement.filter((f) => !f.agree);
  return card('Issuer and provider evidence', { id: 'evidence' },
    h('p', { class: 'muted' },
      `${ev.provider_uses} use${ev.provider_uses === 1 ? '' : 's'} seen by the provider, ${ev.agent_uses} reported by agents; `,
      `${ev.issuer_events.length} issuer record${ev.issuer_events.length === 1 ? '' : 's'}, ${ev.agent_events.length} agent-reported credential event${ev.agent_events.length === 1 ? '' : 's'}.`,
      ev.agreement.length ? (disagree.length ? ` The two sides disagree on ${disagree.map((f) => f.fact.replace('credential.', '')).join(', ')}.` : ' Both sides agree on the issuance.') : '',
      ev.truncated ? ' Not every entry was reconciled.' : ''),
    ev.findings.length ? findingList(ev.findings) : emptyState('No finding: the audit logs in the ledger and the agents\u2019 account agree.'));
}
