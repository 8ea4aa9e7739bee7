import { api, ApiError } from '../api.js';
import { h, s, replace, routes, fmtTime, fmtDuration, fmtRelative, ms, short, badge, kindBadge, card, facts, announce, emptyState, errorBox } from '../dom.js';
import { renderChainOfThought } from '../content.js';
import { verifyControl } from '../proof.js';
import { evidenceBadge, evidenceCard } from './evidence.js';
import { completenessPanel } from './complete.js';
import { governancePanel } from './governance.js';
import { download, toCSV, credentialRows, CREDENTIAL_COLUMNS, safeFilename } from '../export.js';

const NODE_W = 190;
const NODE_H = 50;
const COL_GAP = 48;
const ROW_GAP = 14;

/**
 * lineageGraph draws the credentials this one was exchanged from (left)
 * and those exchanged from it (right) as an inline SVG whose nodes link
 * to their credential pages.
 */
export function lineageGraph(view, foreignTraces) {
  const id = view.credential.id;
  const nodes = new Map();
  const put = (nid, depth, extra) => {
    if (!nodes.has(nid)) nodes.set(nid, { id: nid, depth, ...extra });
  };
  put(id, 0, { self: true, event: view.issuance?.event });
  for (const p of view.lineage.parents) put(p.id, -p.depth, { event: p.event, parent: p.parent_id });
  for (const c of view.lineage.children) put(c.id, c.depth, { event: c.event, parent: c.parent_id });
  const edges = [];
  if (view.lineage.parents.length) edges.push([view.lineage.parents[0].id, id]);
  for (const p of view.lineage.parents) if (p.parent_id && nodes.has(p.parent_id)) edges.push([p.parent_id, p.id]);
  for (const c of view.lineage.children) if (nodes.has(c.parent_id)) edges.push([c.parent_id, c.id]);

  const cols = new Map();
  for (const n of nodes.values()) {
    if (!cols.has(n.depth)) cols.set(n.depth, []);
    cols.get(n.depth).push(n);
  }
  const depths = [...cols.keys()].sort((a, b) => a - b);
  const maxRows = Math.max(...[...cols.values()].map((c) => c.length));
  const width = depths.length * NODE_W + (depths.length - 1) * COL_GAP + 8;
  const height = maxRows * NODE_H + (maxRows - 1) * ROW_GAP + 8;
  depths.forEach((d, ci) => {
    const col = cols.get(d);
    const colH = col.length * NODE_H + (col.length - 1) * ROW_GAP;
    col.forEach((n, ri) => {
      n.x = 4 + ci * (NODE_W + COL_GAP);
      n.y = 4 + (height - 8 - colH) / 2 + ri * (NODE_H + ROW_GAP);
    });
  });

  const svg = s('svg', {
    class: 'lineage-svg', viewBox: `0 0 ${width} ${height}`, width: '100%', style: { 'max-width': `${width}px` }, role: 'group',
    'aria-label': `Lineage of ${id}: ${view.lineage.parents.length} ancestor(s), ${view.lineage.children.length} descendant(s)`,
  },
  s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: '9', refY: '5', markerWidth: '7', markerHeight: '7', orient: 'auto-start-reverse' },
    s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'lineage-arrow' }))));
  for (const [from, to] of edges) {
    const a = nodes.get(from);
    const b = nodes.get(to);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x - 2;
    const y2 = b.y + NODE_H / 2;
    const mx = (x1 + x2) / 2;
    svg.append(s('path', { class: 'lineage-edge', d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, 'marker-end': 'url(#arrow)' }));
  }
  for (const n of nodes.values()) {
    const foreign = n.event?.trace_id && foreignTraces.has(n.event.trace_id);
    const sub = n.self ? 'this credential'
      : n.depth < 0 ? (n.event ? `${n.event.name.replace(/^credential\./, '')} · ancestor` : 'ancestor')
        : foreign ? 'exchanged in a foreign run' : 'exchanged from it';
    const label = n.id.length > 23 ? `${n.id.slice(0, 22)}…` : n.id;
    const g = s('g', { class: ['lineage-node', n.self && 'self', foreign && 'foreign'] },
      s('rect', { x: n.x, y: n.y, width: NODE_W, height: NODE_H, rx: 8 }),
      s('text', { x: n.x + 12, y: n.y + 21, class: 'lineage-id' }, label),
      s('text', { x: n.x + 12, y: n.y + 38, class: 'lineage-sub' }, sub),
      s('title', null, n.id));
    svg.append(n.self ? g : s('a', { href: routes.credential(n.id), 'aria-label': `Credential ${n.id}, ${sub}` }, g));
  }
  return svg;
}

/** validityTimeline draws the validity window and every use over time, one row per run. */
function usageTimeline(view) {
  const cred = view.credential;
  const runs = view.usages;
  const points = runs.flatMap((u) => u.calls.map((c) => ms(c.entry.start)).filter((x) => x != null));
  const nb = ms(cred.not_before);
  const exp = ms(cred.expires_at);
  const all = [...points, nb, exp].filter((x) => x != null);
  if (!points.length) return null;
  let t0 = Math.min(...all);
  let t1 = Math.max(...all);
  if (t1 - t0 < 1000) {
    t0 -= 500;
    t1 += 500;
  }
  const pad = (t1 - t0) * 0.03;
  t0 -= pad;
  t1 += pad;
  const W = 1150;
  const LABEL = 200;
  const ROW = 30;
  const TOP = 26;
  const H = TOP + runs.length * ROW + 26;
  const x = (t) => LABEL + ((t - t0) / (t1 - t0)) * (W - LABEL - 10);
  const svg = s('svg', { class: 'usage-svg', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `Uses of ${cred.id || 'the credential'} over time: ${points.length} calls in ${runs.length} runs` });
  if (nb != null || exp != null) {
    const a = x(nb ?? t0);
    const b = x(exp ?? t1);
    svg.append(s('rect', { class: 'validity-band', x: a, y: TOP - 6, width: Math.max(b - a, 1), height: runs.length * ROW + 6 }));
    svg.append(s('text', { class: 'axis-text', x: a + 4, y: TOP - 10 }, `valid ${nb != null ? fmtTime(cred.not_before, { date: false, ms: false }) : '…'} → ${exp != null ? fmtTime(cred.expires_at, { date: false, ms: false }) : '…'}`));
  }
  runs.forEach((u, i) => {
    const y = TOP + i * ROW;
    svg.append(s('rect', { class: ['usage-row', u.foreign_run && 'foreign'], x: 0, y, width: W, height: ROW - 4, rx: 4 }));
    const name = u.agent?.name || u.agent?.id || short(u.trace_id, 10);
    svg.append(s('text', { class: ['usage-label', u.foreign_run && 'foreign'], x: 8, y: y + 17 }, `${u.foreign_run ? '⚠ ' : ''}${name.length > 22 ? `${name.slice(0, 21)}…` : name}`));
    for (const c of u.calls) {
      const t = ms(c.entry.start);
      if (t == null) continue;
      svg.append(s('circle', { class: ['usage-dot', u.foreign_run && 'foreign'], cx: x(t), cy: y + 13, r: 6 },
        s('title', null, `${c.target.method} ${c.target.server_address}${c.target.path} · ${fmtTime(c.entry.start)}`)));
    }
  });
  const now = Date.now();
  if (now >= t0 && now <= t1) {
    svg.append(s('line', { class: 'now-line', x1: x(now), x2: x(now), y1: TOP - 6, y2: TOP + runs.length * ROW }));
    svg.append(s('text', { class: 'axis-text', x: x(now) + 4, y: TOP - 10 }, 'now'));
  }
  const axisY = TOP + runs.length * ROW + 14;
  for (const f of [0, 0.5, 1]) {
    const t = t0 + pad + f * (t1 - t0 - 2 * pad);
    svg.append(s('text', { class: 'axis-text', x: x(t), y: axisY, 'text-anchor': f === 0 ? 'start' : f === 1 ? 'end' : 'middle' }, fmtTime(new Date(t).toISOString(), { date: false, ms: false })));
  }
  return h('figure', { class: 'usage-figure' }, svg,
    h('figcaption', { class: 'legend' },
      h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-own' }), 'use in a run that obtained it'),
      h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-foreign' }), 'use from a foreign run'),
      h('span', { class: 'legend-item' }, h('span', { class: 'swatch swatch-valid' }), 'validity window')));
}

function callTarget(t) {
  return h('span', { class: 'call-target' }, h('span', { class: 'method' }, t.method || '—'), ' ',
    h('span', { class: 'mono' }, `${t.server_address || ''}${t.path || ''}`));
}

function usageCard(u, stepsById) {
  const steps = new Map(u.steps.map((st) => [st.index, st]));
  for (const st of u.steps) stepsById.set(st.index, st);
  const rows = u.calls.map((c) => {
    const v = verifyControl(c.entry, { compact: true });
    const cause = c.cause ? steps.get(c.cause.step_index) : null;
    return [
      h('tr', { class: u.foreign_run ? 'foreign' : null, dataset: { index: c.entry.index } },
        h('td', { class: 'nowrap' }, fmtTime(c.entry.start, { date: false })),
        h('td', null, callTarget(c.target), c.tool ? h('div', { class: 'muted small' }, 'via ', c.tool.name) : null, governancePanel(u.trace_id, c)),
        h('td', null, c.target.status_code ? badge(c.target.status_code, Number(c.target.status_code) >= 400 ? 'danger' : 'neutral') : '—'),
        h('td', null, (c.matched_by || []).map((m) => badge(m.replace(/_/g, ' '), 'neutral'))),
        h('td', null, cause ? h('a', { href: routes.run(u.trace_id, cause.index) }, `${cause.name} #${cause.index}`) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'actions' }, v.button)),
      h('tr', { class: 'verify-row' }, h('td', { colspan: '6' }, v.result)),
    ];
  });
  const label = u.agent?.name || u.agent?.id || 'Unknown agent';
  return h('article', { class: ['usage', u.foreign_run && 'usage-foreign'], dataset: { trace: u.trace_id, foreign: String(u.foreign_run) }, 'aria-label': `${u.foreign_run ? 'Foreign run' : 'Run'} ${label}` },
    h('header', { class: 'usage-head' },
      h('div', null,
        h('h3', { class: 'usage-title' }, u.foreign_run ? h('span', { class: 'warn-icon', 'aria-hidden': 'true' }, '⚠ ') : null, label,
          u.foreign_run ? badge('Foreign run', 'danger', { class: 'foreign-badge' }) : badge('Obtained here', 'ok')),
        h('p', { class: 'muted small' },
          h('a', { class: 'mono', href: routes.run(u.trace_id) }, u.trace_id),
          u.agent?.id ? [' · agent ', h('a', { href: routes.agent(u.agent.id) }, u.agent.id)] : null,
          u.attestation?.images?.length ? [' · image ', h('span', { class: 'mono', title: u.attestation.images.join(' ') }, short(u.attestation.images[0], 19))] : null,
          u.attestation?.models?.length ? ` · models ${u.attestation.models.join(', ')}` : null)),
      h('a', { class: 'btn btn-small', href: routes.run(u.trace_id) }, 'Open run')),
    h('table', { class: 'table calls' },
      h('caption', { class: 'visually-hidden' }, `API calls made with the credential in run ${u.trace_id}`),
      h('thead', null, h('tr', null, ['Time (UTC)', 'Call', 'Status', 'Matched by', 'Decided by step', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, rows)),
    u.steps.length ? h('details', { class: 'cot-details' },
      h('summary', null, `Chain of thought before these calls (${u.steps.length} step${u.steps.length === 1 ? '' : 's'})`),
      h('ol', { class: 'cot-steps' }, u.steps.map((st) => h('li', { class: 'cot-step' },
        h('div', { class: 'cot-step-head' }, kindBadge('llm'), ' ', h('strong', null, st.name), h('span', { class: 'muted small' }, ` #${st.index} · ${fmtTime(st.start, { date: false })}`),
          st.causes?.length ? badge(`decided ${st.causes.length} call${st.causes.length === 1 ? '' : 's'}`, 'warn') : null),
        renderChainOfThought(st))))) : null);
}

function blastRadiusCard(blast, id) {
  if (!blast) return null;
  const body = !blast.targets.length ? emptyState('No API call was made with this credential or any credential derived from it.')
    : h('table', { class: 'table blast' },
      h('caption', { class: 'visually-hidden' }, 'API targets touched, grouped by address, method and path'),
      h('thead', null, h('tr', null, ['Target', 'Calls', 'Status', 'Credentials', 'Runs', 'First – last (UTC)'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, blast.targets.map((g) => h('tr', null,
        h('td', null, callTarget(g)),
        h('td', { class: 'num' }, String(g.count)),
        h('td', null, Object.entries(g.status_codes).map(([c, n]) => badge(`${c}${n > 1 ? ` ×${n}` : ''}`, Number(c) >= 400 ? 'danger' : 'neutral'))),
        h('td', null, g.credentials.map((c) => (c === id ? h('span', { class: 'mono' }, c) : h('a', { class: 'mono', href: routes.credential(c) }, c)))
          .flatMap((x, i) => (i ? [', ', x] : [x]))),
        h('td', null, g.runs.map((r) => h('a', { class: 'mono', href: routes.run(r), title: r }, short(r, 8))).flatMap((x, i) => (i ? [', ', x] : [x]))),
        h('td', { class: 'nowrap' }, g.first ? `${fmtTime(g.first, { date: false, ms: false })}${g.last && g.last !== g.first ? ` – ${fmtTime(g.last, { date: false, ms: false })}` : ''}` : '—')))));
  const targets = new Set(blast.targets.map((t) => t.server_address)).size;
  return card('Blast radius', { id: 'blast-radius' },
    h('p', { class: 'muted' }, `${blast.calls} call${blast.calls === 1 ? '' : 's'} to ${targets} address${targets === 1 ? '' : 'es'} (${blast.targets.length} endpoint${blast.targets.length === 1 ? '' : 's'}) with ${blast.credentials.length} credential${blast.credentials.length === 1 ? '' : 's'}: this one and those exchanged from it.`,
      blast.truncated ? ' The list is truncated.' : ''),
    body);
}

function status(cred) {
  const now = Date.now();
  if (cred.revoked) return badge(`revoked${cred.revoked_at ? ` ${fmtRelative(cred.revoked_at)}` : ''}`, 'danger');
  const exp = ms(cred.expires_at);
  const nb = ms(cred.not_before);
  if (exp != null && exp < now) return badge(`expired ${fmtRelative(cred.expires_at)}`, 'neutral');
  if (nb != null && nb > now) return badge('not yet valid', 'neutral');
  if (exp != null) return badge(`valid · expires ${fmtRelative(cred.expires_at)}`, 'ok');
  return null;
}

/** credentialView shows a credential, its lineage, usage and blast radius. */
export async function credentialView({ segs, signal }) {
  const id = segs[1];
  document.title = `${id} · credential · agentledger`;
  let view;
  try {
    view = await api.credential(id, undefined, { signal });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return h('div', null, h('h1', { class: 'page-title' }, 'Credential not found'),
        h('p', null, 'No entry in the ledger names credential ', h('span', { class: 'mono' }, id), '.'),
        h('p', null, h('a', { href: routes.home() }, 'Back to search')));
    }
    throw err;
  }
  const blastP = api.blastRadius(id, { signal }).catch((err) => ({ error: err }));
  const cred = view.credential;
  const foreignTraces = new Set(view.usages.filter((u) => u.foreign_run).map((u) => u.trace_id));

  const usagesBox = h('div', { class: 'usages' });
  const more = h('div', { class: 'more' });
  const timelineBox = h('div');
  const stepsById = new Map();
  const drawUsages = () => {
    replace(timelineBox, usageTimeline(view));
    replace(usagesBox, view.usages.length ? view.usages.map((u) => usageCard(u, stepsById)) : emptyState('No API call in the ledger used this credential.'));
    replace(more, view.usages_truncated ? h('button', {
      type: 'button', class: 'btn',
      on: {
        click: async (ev) => {
          ev.target.disabled = true;
          const page = await api.credential(id, view.next_cursor, { signal });
          // A run may continue on the next page: merge by trace.
          const byTrace = new Map(view.usages.map((u) => [u.trace_id, u]));
          for (const u of page.usages) {
            const have = byTrace.get(u.trace_id);
            if (have) {
              have.calls = have.calls.concat(u.calls);
              const seen = new Set(have.steps.map((x) => x.index));
              have.steps = have.steps.concat(u.steps.filter((x) => !seen.has(x.index)));
            } else {
              view.usages.push(u);
            }
          }
          view.usages_truncated = page.usages_truncated;
          view.next_cursor = page.next_cursor;
          drawUsages();
          announce('More usages loaded');
        },
      },
    }, 'Load more usages') : null);
  };
  drawUsages();

  const blastBox = h('div', null, card('Blast radius', { id: 'blast-radius' }, h('p', { class: 'loading' }, 'Loading…')));
  let blast = null;
  blastP.then((b) => {
    if (signal.aborted) return;
    if (b.error) replace(blastBox, card('Blast radius', { id: 'blast-radius' }, errorBox(b.error, 'Blast radius')));
    else {
      blast = b;
      replace(blastBox, blastRadiusCard(b, id));
    }
  });

  const calls = view.usages.reduce((a, u) => a + u.calls.length, 0);
  const foreign = foreignTraces.size;
  const exportJSON = () => download(`credential-${safeFilename(id)}.json`, 'application/json',
    JSON.stringify({ credential_view: view, blast_radius: blast }, null, 2));
  const exportCSV = () => download(`credential-${safeFilename(id)}.csv`, 'text/csv', toCSV(CREDENTIAL_COLUMNS, credentialRows(view, blast)));

  const is = view.issuance;
  const nb = ms(cred.not_before);
  const exp = ms(cred.expires_at);

  return h('div', { class: 'credential-page' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: routes.home() }, 'Search'), h('span', { 'aria-hidden': 'true' }, ' / '), 'Credential'),
    h('div', { class: 'page-head' },
      h('div', null,
        h('p', { class: 'eyebrow' }, cred.type ? `Credential · ${cred.type.replace(/_/g, ' ')}` : 'Credential'),
        h('h1', { class: 'page-title mono' }, id),
        h('div', { class: 'head-badges' }, status(cred), evidenceBadge(view),
          badge(`${calls} API call${calls === 1 ? '' : 's'} in ${view.usages.length} run${view.usages.length === 1 ? '' : 's'}${view.usages_truncated ? '+' : ''}`),
          foreign ? badge(`Used from ${foreign} foreign run${foreign === 1 ? '' : 's'}`, 'danger', { id: 'foreign-alert' }) : null,
          view.matched_by?.length ? badge(`matched by ${view.matched_by.join(', ')}`) : null)),
      h('div', { class: 'page-actions' },
        h('a', { class: 'btn', id: 'across-shards', href: routes.federation(id) }, 'Across shards'),
        h('button', { type: 'button', class: 'btn', on: { click: exportJSON } }, 'Export JSON'),
        h('button', { type: 'button', class: 'btn', on: { click: exportCSV } }, 'Export CSV'))),

    h('div', { class: 'cred-grid' },
      card('Facts', { id: 'facts' },
        facts([
          ['Type', cred.type],
          ['Issuer', cred.issuer],
          ['Subject', cred.subject ? h('span', { class: 'mono wrap' }, cred.subject) : ''],
          ['Audience', cred.audience],
          ['Scope', cred.scope ? cred.scope.split(/\s+/).map((sc) => h('span', { class: 'chip' }, sc)) : ''],
          ['Valid from', cred.not_before ? fmtTime(cred.not_before, { ms: false }) : ''],
          ['Expires', cred.expires_at ? `${fmtTime(cred.expires_at, { ms: false })}${nb != null && exp != null ? ` (lifetime ${fmtDuration(exp - nb)})` : ''}` : ''],
          ['Revoked', cred.revoked ? fmtTime(cred.revoked_at) : ''],
          ['Exchanged from', cred.parent_id ? h('a', { class: 'mono', href: routes.credential(cred.parent_id) }, cred.parent_id) : ''],
          ['Fingerprints', (cred.fingerprints || []).map((f) => h('div', { class: 'mono small wrap' }, f))],
        ]),
        cred.events.length ? h('div', { class: 'events' },
          h('h3', { class: 'subhead' }, `Credential events (${cred.events.length})`),
          h('ul', { class: 'event-list' }, cred.events.map((e) => {
            const v = verifyControl(e, { compact: true });
            return h('li', null,
              h('div', { class: 'event-line' }, h('span', null, badge(e.attributes['credential.operation'] || e.name, 'warn'), ' ', fmtTime(e.start, { ms: false }), ' · run ',
                h('a', { class: 'mono', href: routes.run(e.trace_id, e.index) }, short(e.trace_id, 8)), ` · entry ${e.index}`), v.button),
              v.result);
          }))) : null),
      card('Lineage', { id: 'lineage' },
        h('p', { class: 'muted' }, 'Token exchanges (RFC 8693): what this credential came from, and what was derived from it.'),
        h('div', { class: 'lineage-scroll' }, lineageGraph(view, foreignTraces)),
        view.lineage.truncated ? h('p', { class: 'muted' }, 'The lineage is truncated.') : null,
        is ? h('div', { class: 'issuance' },
          h('h3', { class: 'subhead' }, 'How it was obtained'),
          h('p', null,
            `${is.operation === 'exchange' ? 'Exchanged' : is.operation === 'issue' ? 'Issued' : is.operation} ${fmtTime(is.event.start, { ms: false })} in run `,
            h('a', { class: 'mono', href: routes.run(is.trace_id, is.event.index) }, short(is.trace_id, 12)),
            is.agent ? [' by ', h('strong', null, is.agent.name || is.agent.id)] : null,
            is.tool ? [', in tool ', h('span', { class: 'mono' }, is.tool.attributes?.['gen_ai.tool.name'] || is.tool.name)] : null,
            is.step ? [', decided by step ', h('a', { href: routes.run(is.trace_id, is.step.index) }, `${is.step.name} #${is.step.index}`)] : null,
            '.')) : null)),

    evidenceCard(view),
    card('Usage across runs', { id: 'usage' },
      h('p', { class: 'muted' }, `Every API call made with this credential, by run.${foreign ? ' A foreign run is one in which the credential was not obtained: what a leaked credential looks like.' : ''}`),
      completenessPanel(view, [`credential:${id}`], [`credential:${id}`], { partial: view.usages_truncated }),
      timelineBox, usagesBox, more),
    blastBox);
}
