import { api } from '../api.js';
import { h, routes, fmtTime, kindBadge, card, short } from '../dom.js';
import { entryDetail } from './run.js';

/** entryView shows one entry and verifies it: the deep link of a proof. */
export async function entryView({ segs, signal }) {
  const index = segs[1];
  if (!/^\d+$/.test(index)) throw new Error(`"${index}" is not an entry index`);
  const e = await api.entry(index, { signal });
  delete e.leaf;
  document.title = `Entry ${index} · agentledger`;
  return h('div', null,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: routes.home() }, 'Search'), h('span', { 'aria-hidden': 'true' }, ' / '), 'Entry'),
    h('div', { class: 'page-head' }, h('div', null,
      h('p', { class: 'eyebrow' }, `Entry ${e.index}`),
      h('h1', { class: 'page-title' }, kindBadge(e.kind), ' ', e.name || '(unnamed)'),
      h('p', { class: 'page-sub' }, fmtTime(e.start),
        e.trace_id ? [' · run ', h('a', { class: 'mono', href: routes.run(e.trace_id, e.index) }, short(e.trace_id, 16))] : null,
        ' · leaf hash ', h('span', { class: 'mono', title: e.leaf_hash }, short(e.leaf_hash, 16))))),
    card('Entry and proof', { id: 'entry' }, entryDetail(e, { onEntryPage: true })));
}
