import { api } from '../api.js';
import { h, replace, routes, fmtTime, fmtDuration, ms, short, badge, kindBadge, card, facts, announce, emptyState, icon } from '../dom.js';
import { renderChainOfThought, renderContent } from '../content.js';
import { verifyControl } from '../proof.js';
import { download, toCSV, runRows, RUN_COLUMNS, safeFilename } from '../export.js';
import { runEvidenceCard } from './evidence.js';
import { completenessPanel } from './complete.js';
import { governanceCard } from './governance.js';

const movedCache = new WeakMap();

/** moved returns the attribute values ingest kept out of e's leaf: its
 * content "attributes" (a JSON object), when the answer holds it. */
function moved(e) {
  if (!movedCache.has(e)) {
    const c = (e.content || []).find((x) => x.name === 'attributes' && typeof x.data === 'string' && x.encoding !== 'base64');
    let m = {};
    try { m = c ? JSON.parse(c.data) : {}; } catch { m = {}; }
    movedCache.set(e, m && typeof m === 'object' ? m : {});
  }
  return movedCache.get(e);
}

/** A returns attribute k of e, from its leaf or else its moved attributes. */
const A = (e, k) => e.attributes?.[k] ?? (typeof moved(e)[k] === 'string' ? moved(e)[k] : '');

/** credentialChip tags an entry with the credential it used or names. */
export function credentialChip(id, { foreign = false } = {}) {
  return h('a', {
    class: ['chip', 'chip-credential', foreign && 'chip-foreign'], href: routes.credential(id),
    title: foreign ? `Credential ${id}, obtained in another run` : `Credential ${id}`,
  }, icon('key'), h('span', { class: 'visually-hidden' }, foreign ? 'foreign credential ' : 'credential '), id);
}

/** runName names a linked run by its agent, else by its trace ID. */
function runName(l) {
  return l.agent?.name || l.agent?.id || (l.trace_id ? `run ${short(l.trace_id, 8)}` : 'calls outside any run');
}

/** runLink links a linked run, at entry when given. */
function runLink(l, entry) {
  if (!l.trace_id) return h('strong', null, runName(l));
  return h('a', { class: 'run-link', href: routes.run(l.trace_id, entry), title: l.trace_id },
    h('strong', null, runName(l)), ' ', h('span', { class: 'mono muted small' }, `(${short(l.trace_id, 8)})`));
}

/**
 * credentialLinks indexes the run's credentials (run.credentials): by the
 * index of each API call made with one, and by ID.
 */
export function credentialLinks(run) {
  const byCall = new Map();
  const byId = new Map();
  for (const c of run.credentials || []) {
    byId.set(c.id, c);
    for (const i of c.calls) {
      if (!byCall.has(i)) byCall.set(i, []);
      byCall.get(i).push(c);
    }
  }
  return { byCall, byId };
}

/**
 * layout orders a run's entries as a tree: spans under their parents,
 * events (credential, approval) under their span, in start order; entries
 * without a span (attestation) apart.
 */
export function layout(entries) {
  const spans = new Map();
  for (const e of entries) if (e.span_id && !e.event_key) spans.set(e.span_id, e);
  const kids = new Map();
  const roots = [];
  const detached = [];
  const add = (parent, e) => {
    if (!kids.has(parent)) kids.set(parent, []);
    kids.get(parent).push(e);
  };
  for (const e of entries) {
    if (!e.span_id) {
      detached.push(e);
    } else if (e.event_key) {
      if (spans.has(e.span_id)) add(e.span_id, e);
      else roots.push(e);
    } else if (e.parent_span_id && spans.has(e.parent_span_id) && e.parent_span_id !== e.span_id) {
      add(e.parent_span_id, e);
    } else {
      roots.push(e);
    }
  }
  const order = (a, b) => (ms(a.start) ?? Infinity) - (ms(b.start) ?? Infinity) || a.index - b.index;
  const rows = [];
  const seen = new Set();
  const walk = (e, depth) => {
    if (seen.has(e.index)) return;
    seen.add(e.index);
    rows.push({ entry: e, depth });
    if (!e.event_key) for (const c of (kids.get(e.span_id) || []).sort(order)) walk(c, depth + 1);
  };
  for (const r of roots.sort(order)) walk(r, 0);
  return { rows, detached };
}

function rowTags(e, links) {
  const tags = [];
  const cred = A(e, 'credential.id');
  const used = links.byCall.get(e.index) || [];
  for (const c of used) tags.push(credentialChip(c.id, { foreign: c.foreign_run }));
  if (cred && !used.some((c) => c.id === cred)) tags.push(credentialChip(cred));
  if (used.some((c) => c.foreign_run)) tags.push(badge('foreign', 'danger', { class: 'foreign-badge', title: 'Made with a credential obtained in another run' }));
  if (e.kind === 'credential' && links.byId.get(cred)?.used_by?.length) {
    tags.push(badge('used elsewhere', 'danger', { class: 'leak-badge', title: `Used by ${links.byId.get(cred).used_by.map(runName).join(', ')}` }));
  }
  if (e.kind === 'approval') {
    const d = A(e, 'approval.decision') || e.name.replace(/^approval\./, '');
    tags.push(badge(d, /deni|reject/i.test(d) ? 'danger' : 'ok', { title: A(e, 'approval.approver') ? `${d} by ${A(e, 'approval.approver')}` : d }));
  }
  if (A(e, 'otel.status_code') === 'ERROR') tags.push(badge('error', 'danger'));
  if ((e.content || []).some((c) => c.erased)) tags.push(badge('erased content', 'erased'));
  return tags;
}

function kindFacts(e, links) {
  const foreign = (id) => !!links?.byId.get(id)?.foreign_run;
  switch (e.kind) {
    case 'llm':
      return facts([
        ['Model', [A(e, 'gen_ai.request.model'), A(e, 'gen_ai.response.model') && A(e, 'gen_ai.response.model') !== A(e, 'gen_ai.request.model') ? ` → ${A(e, 'gen_ai.response.model')}` : ''].join('')],
        ['Provider', A(e, 'gen_ai.provider.name')],
        ['Tokens', A(e, 'gen_ai.usage.input_tokens') ? `${A(e, 'gen_ai.usage.input_tokens')} in · ${A(e, 'gen_ai.usage.output_tokens') || '?'} out` : ''],
        ['Tool calls decided', A(e, 'gen_ai.tool.call.ids') ? A(e, 'gen_ai.tool.call.ids').split(' ').map((id) => h('span', { class: 'mono chip' }, id)) : ''],
      ]);
    case 'tool':
      return facts([['Tool', h('span', { class: 'mono' }, A(e, 'gen_ai.tool.name'))], ['Tool call ID', h('span', { class: 'mono' }, A(e, 'gen_ai.tool.call.id'))]]);
    case 'api_call':
      return facts([
        ['Request', [A(e, 'http.request.method') || A(e, 'rpc.method') || A(e, 'db.operation.name'), ' ', A(e, 'url.full') || A(e, 'server.address')].join('')],
        ['Target', A(e, 'server.address')],
        ['Status', A(e, 'http.response.status_code') || A(e, 'rpc.grpc.status_code')],
        ['Credential', A(e, 'credential.id') ? credentialChip(A(e, 'credential.id'), { foreign: foreign(A(e, 'credential.id')) }) : ''],
        ['Secret seen', A(e, 'credential.fingerprint') ? h('span', { class: 'mono', title: A(e, 'credential.fingerprint') }, short(A(e, 'credential.fingerprint'), 30)) : ''],
      ]);
    case 'credential':
      return facts([
        ['Operation', A(e, 'credential.operation')],
        ['Credential', A(e, 'credential.id') ? credentialChip(A(e, 'credential.id')) : ''],
        ['Exchanged from', A(e, 'credential.parent_id') ? credentialChip(A(e, 'credential.parent_id')) : ''],
        ['Type', A(e, 'credential.type')], ['Issuer', A(e, 'credential.issuer')], ['Subject', A(e, 'credential.subject')],
        ['Audience', A(e, 'credential.audience')], ['Scope', A(e, 'credential.scope')],
        ['Valid', A(e, 'credential.not_before') || A(e, 'credential.expires_at') ? `${fmtTime(A(e, 'credential.not_before'), { ms: false })} → ${fmtTime(A(e, 'credential.expires_at'), { ms: false })}` : ''],
      ]);
    case 'approval':
      return facts([
        ['Decision', A(e, 'approval.decision') || e.name], ['Approver', A(e, 'approval.approver')],
        ['Action', A(e, 'approval.action')], ['Signature', A(e, 'approval.signature') ? h('span', { class: 'mono' }, A(e, 'approval.signature')) : ''],
      ]);
    case 'agent':
      return facts([['Agent', A(e, 'gen_ai.agent.name')], ['Agent ID', A(e, 'gen_ai.agent.id') ? h('a', { href: routes.agent(A(e, 'gen_ai.agent.id')) }, A(e, 'gen_ai.agent.id')) : ''],
        ['Conversation', A(e, 'gen_ai.conversation.id')]]);
    default:
      return null;
  }
}

/** attributesTable renders every attribute of an entry. */
export function attributesTable(e) {
  const keys = Object.keys(e.attributes || {}).sort();
  return h('details', { class: 'attrs' },
    h('summary', null, `All attributes (${keys.length})`),
    h('table', { class: 'table table-compact table-attrs' },
      h('tbody', null, keys.map((k) => h('tr', null, h('th', { scope: 'row', class: 'mono' }, k), h('td', { class: 'mono wrap' }, e.attributes[k]))))));
}

/**
 * crossRunFacts says, in an entry's detail, which other runs obtained the
 * credentials an API call used, or used the credential an event obtained.
 */
function crossRunFacts(e, links) {
  if (!links) return null;
  const foreign = (links.byCall.get(e.index) || []).filter((c) => c.foreign_run);
  const leaked = e.kind === 'credential' ? links.byId.get(A(e, 'credential.id'))?.used_by || [] : [];
  if (!foreign.length && !leaked.length) return null;
  return h('div', { class: 'alert alert-error cross-facts' },
    foreign.map((c) => h('p', null, h('strong', null, 'Foreign credential: '), credentialChip(c.id, { foreign: true }),
      c.obtained_in.length ? [' obtained in ', c.obtained_in.map((l) => runLink(l, l.event?.index)).flatMap((x, i) => (i ? [', ', x] : [x])), ', not in this run.']
        : ' obtained in another run.')),
    leaked.length ? h('p', null, h('strong', null, 'Used elsewhere: '), 'this credential was used by ',
      leaked.map((l) => runLink(l, l.calls?.[0]?.index)).flatMap((x, i) => (i ? [', ', x] : [x])), '.') : null);
}

/** entryDetail renders everything about one entry of a run. */
export function entryDetail(e, { byIndex, onCause, onEntryPage = false, links } = {}) {
  const start = ms(e.start);
  const end = ms(e.end);
  const cause = e.caused_by != null ? byIndex?.get(e.caused_by) : null;
  const v = verifyControl(e);
  return h('div', { class: 'entry-detail' },
    h('div', { class: 'entry-meta' },
      h('span', null, `Entry ${e.index}`),
      e.start ? h('span', null, fmtTime(e.start)) : null,
      start != null && end != null && e.start !== e.end ? h('span', null, fmtDuration(end - start)) : null,
      e.span_id ? h('span', { class: 'mono', title: 'span ID' }, `span ${e.span_id}`) : null,
      h('span', { class: e.submitter ? 'mono' : 'muted', title: 'who submitted this entry, as the ledger authenticated it' },
        e.submitter ? `submitted by ${e.submitter}` : 'unauthenticated submitter'),
      A(e, 'agentledger.binding') === 'unbound_submitter' ? badge('submitter not bound to this agent', 'danger') : null,
      cause ? h('span', null, 'Caused by ',
        h('a', { href: routes.run(e.trace_id, cause.index), on: { click: (ev) => { if (onCause) { ev.preventDefault(); onCause(cause.index); } } } },
          `${cause.name} (#${cause.index})`), e.caused_via ? h('span', { class: 'muted' }, ` via ${e.caused_via.replace(/_/g, ' ')}`) : null) : null),
    crossRunFacts(e, links),
    kindFacts(e, links),
    e.kind === 'llm' ? renderChainOfThought(e) : (e.content || []).map(renderContent),
    attributesTable(e),
    h('div', { class: 'entry-actions' }, v.button,
      e.trace_id ? h('a', { class: 'btn btn-small btn-quiet', href: routes.run(e.trace_id, e.index) }, onEntryPage ? 'Show in run' : 'Permalink') : null,
      onEntryPage ? null : h('a', { class: 'btn btn-small btn-quiet', href: routes.entry(e.index) }, 'Entry page')),
    v.result);
}

// trackLabel places a row's duration (and status) beside its bar: after
// it when there is room, else before it, else inside its end.
function trackLabel(e, dur, left, end) {
  const extra = e.kind === 'api_call' ? A(e, 'http.response.status_code') || A(e, 'rpc.grpc.status_code')
    : e.kind === 'approval' ? A(e, 'approval.approver')
      : e.kind === 'credential' ? A(e, 'credential.id') : '';
  const text = extra ? `${dur} · ${extra}` : dur;
  if (end <= 70) return h('span', { class: 'wf-dur', style: { left: `${end + 0.6}%` } }, text);
  if (left >= 30) return h('span', { class: 'wf-dur', style: { right: `${100 - left + 0.8}%` } }, text);
  return h('span', { class: 'wf-dur inside', style: { right: `${100 - end + 0.6}%` } }, text);
}

function axis(total) {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return h('div', { class: 'wf-axis', 'aria-hidden': 'true' },
    h('div', { class: 'wf-axis-label' }, 'Span'),
    h('div', { class: 'wf-axis-track' }, ticks.map((t) => h('span', { class: 'wf-tick', style: { left: `${t * 100}%` } }, t === 0 ? '0' : fmtDuration(t * total)))));
}

/** waterfall renders a run's spans as bars positioned by start and end. */
export function waterfall(run, { focus } = {}) {
  const { rows, detached } = layout(run.entries);
  const links = credentialLinks(run);
  const byIndex = new Map(run.entries.map((e) => [e.index, e]));
  const starts = rows.map((r) => ms(r.entry.start)).filter((x) => x != null);
  const ends = rows.map((r) => ms(r.entry.end) ?? ms(r.entry.start)).filter((x) => x != null);
  const t0 = starts.length ? Math.min(...starts) : 0;
  const t1 = ends.length ? Math.max(...ends) : t0;
  const total = Math.max(1, t1 - t0);
  const toggles = [];
  const rowEls = new Map();

  const expand = (index, { scroll = true, focusRow = true } = {}) => {
    const r = rowEls.get(index);
    if (!r) return;
    r.open(true);
    if (scroll) r.li.scrollIntoView({ block: 'start' });
    if (focusRow) r.button.focus({ preventScroll: true });
  };

  const list = h('ol', { class: 'wf', 'aria-label': 'Spans of the run, in time order' });
  for (const { entry: e, depth } of rows) {
    const s = ms(e.start);
    const en = ms(e.end) ?? s;
    const left = s == null ? 0 : ((s - t0) / total) * 100;
    const width = s == null ? 0 : Math.max(((en - s) / total) * 100, 0.4);
    const point = !!e.event_key || s === en;
    const detailId = `entry-${e.index}-detail`;
    let detail = null;
    const detailBox = h('div', { class: 'wf-detail', id: detailId, hidden: true, role: 'region', 'aria-label': `${e.name}, entry ${e.index}` });
    const button = h('button', {
      type: 'button', class: 'wf-toggle', id: `entry-${e.index}`, 'aria-expanded': 'false', 'aria-controls': detailId,
      dataset: { index: e.index },
    }, h('span', { class: 'caret', 'aria-hidden': 'true' }), kindBadge(e.kind), h('span', { class: 'wf-name' }, e.name || '(unnamed)'),
    h('span', { class: 'visually-hidden' }, s == null ? '' : point ? `, at ${fmtDuration(s - t0)}` : `, ${fmtDuration(en - s)}, from ${fmtDuration(s - t0)}`));
    const open = (want) => {
      const isOpen = button.getAttribute('aria-expanded') === 'true';
      const next = want ?? !isOpen;
      if (next && !detail) {
        detail = entryDetail(e, { byIndex, onCause: (i) => expand(i), links });
        detailBox.append(detail);
      }
      button.setAttribute('aria-expanded', String(next));
      detailBox.hidden = !next;
      li.classList.toggle('open', next);
    };
    button.addEventListener('click', () => open());
    const bar = point
      ? h('span', { class: 'wf-point', style: { left: `${left}%` } })
      : h('span', { class: 'wf-bar', style: { left: `${left}%`, width: `${width}%` } });
    const dur = s != null && !point ? fmtDuration(en - s) : s != null ? `+${fmtDuration(s - t0)}` : '';
    const label = trackLabel(e, dur, left, point ? left : left + width);
    const li = h('li', { class: ['wf-row', `row-${e.kind}`], dataset: { index: e.index, kind: e.kind } },
      h('div', { class: 'wf-label', style: { '--depth': String(depth) } }, button, h('span', { class: 'wf-tags' }, rowTags(e, links))),
      h('div', { class: 'wf-track', 'aria-hidden': 'true' }, bar, label),
      detailBox);
    toggles.push(button);
    rowEls.set(e.index, { li, button, open });
    list.append(li);
  }
  // Arrow keys move between rows; Home and End jump.
  list.addEventListener('keydown', (ev) => {
    const i = toggles.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    if (ev.key === 'ArrowDown') j = Math.min(i + 1, toggles.length - 1);
    else if (ev.key === 'ArrowUp') j = Math.max(i - 1, 0);
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = toggles.length - 1;
    if (j != null) {
      ev.preventDefault();
      toggles[j].focus();
    }
  });
  if (focus != null && rowEls.has(focus)) setTimeout(() => expand(focus), 0);
  return {
    element: h('div', { class: 'waterfall' }, axis(total), list),
    detached, t0, t1, expand,
  };
}

// attestationFacts are the facts an attestation card shows of an entry;
// entries with the same facts are shown once.
function attestationFacts(e) {
  return [
    ['Service', [A(e, 'service.name'), A(e, 'service.version') ? ` ${A(e, 'service.version')}` : ''].join('')],
    ['Image', A(e, 'container.image.name') ? [A(e, 'container.image.name'), A(e, 'container.image.tags') ? `:${A(e, 'container.image.tags')}` : ''].join('') : ''],
    ['Image digest', A(e, 'oci.manifest.digest') || A(e, 'container.image.id')],
    ['Host', A(e, 'host.name')],
  ];
}

/**
 * attestationGroups groups a run's attestation entries by what they say
 * ran (service, image, digest, host), in order of first appearance; the
 * models of a group are those of all its entries.
 */
export function attestationGroups(entries) {
  const groups = new Map();
  for (const e of entries) {
    if (e.kind !== 'attestation') continue;
    const key = JSON.stringify(attestationFacts(e));
    if (!groups.has(key)) groups.set(key, { facts: attestationFacts(e), models: new Set(), entries: [] });
    const g = groups.get(key);
    g.entries.push(e);
    for (const m of A(e, 'gen_ai.models').split(' ')) if (m) g.models.add(m);
  }
  return [...groups.values()];
}

function attestationCard(run) {
  const groups = attestationGroups(run.entries);
  if (!groups.length) return null;
  return card('Attestation', { id: 'attestation' },
    h('p', { class: 'muted' }, 'What ran, as its resource attributes recorded it.'),
    groups.map((g) => h('div', { class: 'attest', dataset: { entries: String(g.entries.length) } },
      facts([
        ...g.facts.map(([k, v]) => [k, v && k === 'Image digest' ? h('span', { class: 'mono wrap' }, v) : v]),
        ['Models', [...g.models].sort().join(', ')],
      ]),
      g.entries.length === 1
        ? verifyControl(g.entries[0], { compact: true }).element
        : h('details', { class: 'attest-entries' },
          h('summary', null, badge(`${g.entries.length} entries`, 'neutral', { class: 'attest-count' }), h('span', { class: 'muted small' }, ' record this')),
          h('ul', { class: 'attest-list' }, g.entries.map((e) => {
            const v = verifyControl(e, { compact: true });
            return h('li', { dataset: { index: e.index } },
              h('div', { class: 'attest-entry' },
                h('a', { href: routes.entry(e.index) }, `Entry ${e.index}`),
                e.start ? h('span', { class: 'muted small' }, ` ${fmtTime(e.start, { date: false })}`) : null,
                A(e, 'gen_ai.models') ? h('span', { class: 'muted small' }, ` · ${A(e, 'gen_ai.models')}`) : null,
                v.button),
              v.result);
          }))))));
}

function summaryCard(run) {
  const issued = [];
  const approvals = [];
  for (const e of run.entries) {
    if (e.kind === 'credential') issued.push(e);
    if (e.kind === 'approval') approvals.push(e);
  }
  const used = (run.credentials || []).filter((c) => c.calls.length);
  const steps = run.entries.filter((e) => e.kind === 'llm').length;
  const calls = run.entries.filter((e) => e.kind === 'api_call').length;
  const n = run.foreign_uses || 0;
  return card('Summary', { id: 'summary' },
    facts([
      ['Submitted by', [...new Set(run.entries.map((e) => e.submitter || 'unauthenticated'))].join(', ')],
      ['Binding', run.entries.some((e) => A(e, 'agentledger.binding') === 'unbound_submitter') ? badge('entries from a submitter not bound to this agent', 'danger') : ''],
      ['LLM steps', String(steps)],
      ['API calls', String(calls)],
      ['Credentials used', used.map((c) => h('span', { class: 'chip-wrap' }, credentialChip(c.id, { foreign: c.foreign_run }),
        h('span', { class: 'muted' }, ` ${c.calls.length} call${c.calls.length === 1 ? '' : 's'}${c.foreign_run ? ', obtained in another run' : ''}`)))],
      ['Foreign uses', n ? h('span', { class: 'chip-wrap' }, badge(`${n} call${n === 1 ? '' : 's'}`, 'danger', { id: 'foreign-uses' }),
        h('span', { class: 'muted' }, ' with a credential obtained in another run'))
        : h('span', { id: 'foreign-uses' }, run.credentials_truncated ? 'none found (not every call was checked)' : 'none')],
      ['Credential events', issued.map((e) => h('span', { class: 'chip-wrap' }, credentialChip(A(e, 'credential.id') || '?'),
        h('span', { class: 'muted' }, ` ${A(e, 'credential.operation') || e.name}${A(e, 'credential.parent_id') ? ` from ${A(e, 'credential.parent_id')}` : ''}`)))],
      ['Approvals', approvals.map((e) => h('span', { class: 'chip-wrap' }, badge(`${A(e, 'approval.decision') || e.name} by ${A(e, 'approval.approver') || '?'}`, 'ok'),
        A(e, 'approval.action') ? h('span', { class: 'muted' }, ` ${A(e, 'approval.action')}`) : null))],
    ]));
}

/**
 * crossRunCard shows the credentials that link this run to others: those
 * it used but another run obtained (foreign), and those it obtained that
 * other runs used (where they leaked to), in the credential page's terms.
 */
function crossRunCard(run) {
  const foreign = (run.credentials || []).filter((c) => c.foreign_run);
  const leaked = (run.credentials || []).filter((c) => c.used_by.length);
  if (!foreign.length && !leaked.length) return null;
  const calls = (c) => `${c.calls.length} call${c.calls.length === 1 ? '' : 's'}`;
  return card('Credentials shared with other runs', { id: 'cross-run' },
    foreign.map((c) => h('article', { class: ['usage', 'usage-foreign', 'cross'], dataset: { credential: c.id, link: 'foreign' }, 'aria-label': `Foreign credential ${c.id}` },
      h('h3', { class: 'usage-title' }, h('span', { class: 'warn-icon', 'aria-hidden': 'true' }, '⚠ '),
        h('a', { class: 'mono', href: routes.credential(c.id) }, c.id), badge('Foreign credential', 'danger', { class: 'foreign-badge' })),
      h('p', null, `This run used it in ${calls(c)} (matched by ${c.matched_by.join(' and ').replace(/_/g, ' ')}) but did not obtain it. `,
        c.obtained_in.length ? ['Obtained in ', c.obtained_in.map((l) => h('span', { class: 'obtained-in' }, runLink(l, l.event?.index),
          l.event ? h('span', { class: 'muted' }, ` by ${l.event.name.replace(/^credential\./, '')}, entry ${l.event.index}`) : null))
          .flatMap((x, i) => (i ? ['; ', x] : [x])), '.'] : null))),
    leaked.map((c) => h('article', { class: ['usage', 'usage-foreign', 'cross'], dataset: { credential: c.id, link: 'leaked' }, 'aria-label': `Credential ${c.id} used by other runs` },
      h('h3', { class: 'usage-title' }, h('span', { class: 'warn-icon', 'aria-hidden': 'true' }, '⚠ '),
        h('a', { class: 'mono', href: routes.credential(c.id) }, c.id), badge('Obtained here', 'ok'), badge('Used elsewhere', 'danger', { class: 'leak-badge' })),
      h('p', null, 'This run’s credential leaked to ', c.used_by.map((l) => h('span', { class: 'used-by' }, runLink(l, l.calls?.[0]?.index),
        h('span', { class: 'muted' }, ` ${l.calls.length}${c.used_by_truncated ? '+' : ''} call${l.calls.length === 1 ? '' : 's'}${l.calls.some((k) => Number(k.status_code) >= 400) ? ', some refused' : ''}`)))
        .flatMap((x, i) => (i ? ['; ', x] : [x])), c.used_by_truncated ? ' and more: see the credential page.' : '.'))));
}

// headBadges flag, under the run's title, the credentials it shares with
// other runs.
function headBadges(run) {
  const foreign = (run.credentials || []).filter((c) => c.foreign_run).length;
  const leaked = new Set((run.credentials || []).flatMap((c) => c.used_by.map((l) => l.trace_id))).size;
  if (!foreign && !leaked) return null;
  return h('div', { class: 'head-badges' },
    foreign ? h('a', { href: '#cross-run', class: 'badge-link', on: { click: jump } }, badge(`Used ${foreign} credential${foreign === 1 ? '' : 's'} obtained in another run`, 'danger', { id: 'foreign-alert' })) : null,
    leaked ? h('a', { href: '#cross-run', class: 'badge-link', on: { click: jump } }, badge(`Credentials obtained here were used by ${leaked} other run${leaked === 1 ? '' : 's'}`, 'danger', { id: 'leak-alert' })) : null);
}

// jump scrolls to the cross-run card without changing the route.
function jump(ev) {
  ev.preventDefault();
  document.getElementById('cross-run')?.scrollIntoView({ block: 'start' });
}

/** runView shows one run as a waterfall with its chain of thought. */
export async function runView({ segs, params, signal }) {
  const traceId = segs[1].toLowerCase();
  let run = await api.run(traceId, undefined, { signal });
  const focus = params.has('entry') ? Number(params.get('entry')) : null;
  const agentName = run.agent?.name || run.agent?.id || 'Run';
  document.title = `${agentName} · run ${short(traceId, 8)} · agentledger`;

  const wfBox = h('div', { id: 'waterfall-box' });
  const more = h('div', { class: 'more' });
  const summaryBox = h('div');
  const attBox = h('div');
  const crossBox = h('div');
  const evidenceBox = h('div');
  const completeBox = h('div');
  const govBox = h('div');
  const t0 = ms(run.start);
  const t1 = ms(run.end);

  const draw = () => {
    const wf = waterfall(run, { focus });
    replace(wfBox, run.entries.length ? wf.element : emptyState('No entries.'));
    replace(summaryBox, summaryCard(run));
    replace(attBox, attestationCard(run));
    replace(crossBox, crossRunCard(run));
    replace(evidenceBox, runEvidenceCard(run));
    replace(completeBox, card('Completeness', { id: 'run-completeness' },
      h('p', { class: 'muted' }, 'Whether this page shows every entry the signed index lists for this run.'),
      completenessPanel(run, [`trace:${traceId}`], [`trace:${traceId}`], { partial: run.truncated })));
    replace(govBox, governanceCard(run));
    replace(more, run.truncated ? h('button', {
      type: 'button', class: 'btn',
      on: {
        click: async (ev) => {
          ev.target.disabled = true;
          const page = await api.run(traceId, run.next_cursor, { signal });
          run = { ...run, entries: run.entries.concat(page.entries), truncated: page.truncated, next_cursor: page.next_cursor, end: page.end || run.end };
          draw();
          announce(`${page.entries.length} more entries loaded`);
        },
      },
    }, 'Load more entries') : null);
  };
  draw();

  const exportJSON = () => download(`run-${safeFilename(traceId)}.json`, 'application/json', JSON.stringify(run, null, 2));
  const exportCSV = () => download(`run-${safeFilename(traceId)}.csv`, 'text/csv', toCSV(RUN_COLUMNS, runRows(run)));

  return h('div', { class: 'run-page' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: routes.home() }, 'Search'), h('span', { 'aria-hidden': 'true' }, ' / '), 'Run'),
    h('div', { class: 'page-head' },
      h('div', null,
        h('p', { class: 'eyebrow' }, 'Agent run'),
        h('h1', { class: 'page-title' }, agentName),
        h('p', { class: 'page-sub' },
          h('span', { class: 'mono' }, traceId),
          run.agent?.id ? [' · agent ', h('a', { href: routes.agent(run.agent.id) }, run.agent.id)] : null,
          run.agent?.conversation_id ? [' · conversation ', h('span', { class: 'mono' }, run.agent.conversation_id)] : null),
        h('p', { class: 'page-sub' }, fmtTime(run.start), t0 != null && t1 != null ? ` · ${fmtDuration(t1 - t0)}` : '',
          ` · ${run.entries.length} entries${run.truncated ? '+' : ''}`),
        headBadges(run)),
      h('div', { class: 'page-actions' },
        h('button', { type: 'button', class: 'btn', on: { click: exportJSON } }, 'Export JSON'),
        h('button', { type: 'button', class: 'btn', on: { click: exportCSV } }, 'Export CSV'))),
    h('div', { class: 'run-top' }, summaryBox, attBox),
    crossBox,
    evidenceBox,
    completeBox,
    govBox,
    card('Timeline', { id: 'timeline', actions: h('span', { class: 'muted small' }, 'Select a row to see its chain of thought, content and proof.') }, wfBox, more));
}
