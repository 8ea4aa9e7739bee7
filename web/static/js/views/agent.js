import { api } from '../api.js';
import { h, replace, routes, fmtTime, fmtDuration, ms, badge, card, emptyState, announce } from '../dom.js';
import { completenessPanel } from './complete.js';

/**
 * foreignMarker flags a run that used credentials obtained in another run
 * (foreign uses), as the run page does.
 */
export function foreignMarker(r) {
  if (r.foreign_uses > 0) {
    const creds = r.foreign_credentials || [];
    return h('a', { class: 'badge-link', href: routes.run(r.trace_id), title: `Obtained in another run: ${creds.join(', ')}` },
      badge(`⚠ ${r.foreign_uses} foreign use${r.foreign_uses === 1 ? '' : 's'}`, 'danger', { class: 'foreign-badge' }));
  }
  return h('span', { class: 'muted' }, r.credentials_truncated ? 'not all checked' : 'own only');
}

/** agentView lists the runs of an agent. */
export async function agentView({ segs, signal }) {
  const id = segs[1];
  document.title = `${id} · agent · agentledger`;
  let page = await api.agentRuns(id, undefined, { signal });
  const first = page;
  const runs = [...page.runs];
  const body = h('tbody');
  const more = h('div', { class: 'more' });
  const completeBox = h('div');
  const draw = () => {
    // The list holds the agent's every entry; the page shows its runs, so
    // the panel checks the proof and count, not that each entry is shown.
    replace(completeBox, completenessPanel(first, [`agent:${id}`], []));
    replace(body, runs.map((r) => {
      const d = ms(r.end) != null && ms(r.start) != null ? fmtDuration(ms(r.end) - ms(r.start)) : '—';
      return h('tr', { class: r.foreign_uses > 0 ? 'foreign' : null, dataset: { trace: r.trace_id, foreign: String(r.foreign_uses > 0) } },
        h('td', null, h('a', { class: 'mono', href: routes.run(r.trace_id) }, r.trace_id)),
        h('td', null, r.agent_name || '—'),
        h('td', { class: 'nowrap' }, fmtTime(r.start, { ms: false })),
        h('td', { class: 'num' }, d),
        h('td', null, r.conversation_id ? h('span', { class: 'mono' }, r.conversation_id) : '—'),
        h('td', null, r.status && r.status !== 'UNSET' ? badge(r.status.toLowerCase(), r.status === 'ERROR' ? 'danger' : 'ok') : '—'),
        h('td', { class: 'foreign-cell' }, foreignMarker(r)));
    }));
    replace(more, page.next_cursor ? h('button', {
      type: 'button', class: 'btn', on: {
        click: async () => {
          page = await api.agentRuns(id, page.next_cursor, { signal });
          runs.push(...page.runs);
          draw();
          announce(`${page.runs.length} more runs loaded`);
        },
      },
    }, 'Load more runs') : null);
  };
  draw();
  const name = runs.find((r) => r.agent_name)?.agent_name;
  return h('div', null,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: routes.home() }, 'Search'), h('span', { 'aria-hidden': 'true' }, ' / '), 'Agent'),
    h('div', { class: 'page-head' }, h('div', null,
      h('p', { class: 'eyebrow' }, 'Agent'),
      h('h1', { class: 'page-title' }, name || id),
      h('p', { class: 'page-sub mono' }, id))),
    card(`Runs (${runs.length}${page.next_cursor ? '+' : ''})`, { id: 'runs' },
      runs.length ? h('table', { class: 'table runs-table' },
        h('thead', null, h('tr', null, ['Trace', 'Agent name', 'Started (UTC)', 'Duration', 'Conversation', 'Status', 'Credentials'].map((t) => h('th', { scope: 'col' }, t)))),
        body) : emptyState('No run of this agent is in the ledger.'),
      more),
    card('Completeness', { id: 'agent-completeness' }, completeBox));
}
