// The completeness panel of a view: checks, in this browser, the answer's
// completeness block (completeness.js) against the pinned verifier key and
// says "complete as of checkpoint N" or names what is missing.

import { h, replace, routes } from '../dom.js';
import { pinnedKey } from '../settings.js';
import { verifyCompleteness, describeCompleteness } from '../completeness.js';

/** shownIndices collects the index of every entry object an answer shows. */
export function shownIndices(doc, out = new Set()) {
  if (Array.isArray(doc)) {
    for (const x of doc) shownIndices(x, out);
  } else if (doc && typeof doc === 'object') {
    if (typeof doc.index === 'number' && typeof doc.leaf_hash === 'string') out.add(doc.index);
    for (const [k, v] of Object.entries(doc)) if (k !== 'completeness') shownIndices(v, out);
  }
  return out;
}

/**
 * completenessPanel checks view.completeness: every key of need must be
 * proved, and the entries of the keys of full (each shown in full by the
 * view) must all be shown. partial says the view holds only its first page.
 */
export function completenessPanel(view, need, full, { partial = false } = {}) {
  const out = h('div', { class: 'proof proof-pending', id: 'completeness', role: 'status', 'aria-live': 'polite', dataset: { state: 'pending' } },
    'Checking that the answer is complete…');
  const shown = shownIndices(view);
  const reported = new Map(full.map((k) => [k, shown]));
  verifyCompleteness(view.completeness, pinnedKey(), need, reported).then((res) => {
    const text = describeCompleteness(res);
    replace(out, h('p', { class: 'proof-title' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, res.complete ? '✓' : '✗'), ` ${text[0].toUpperCase()}${text.slice(1)}.`),
      res.complete ? h('p', { class: 'proof-sub' }, `The signed index proves ${res.keys.map((k) => `${k.count} entr${k.count === 1 ? 'y' : 'ies'} for ${k.key}`).join(', ')}; checked in this browser.`)
        : h('p', { class: 'proof-message' }, partial ? 'Load the rest of the answer and check again; ' : '',
          'missing: ', res.missing.map((m, i) => [i ? ', ' : '', h('a', { href: routes.entry(m.index) }, `entry ${m.index}`)])),
      view.completeness.unindexed?.length ? h('p', { class: 'proof-sub' }, `Entries newer than the index, not yet covered: ${view.completeness.unindexed.join(', ')}.`) : null);
    out.className = `proof ${res.complete ? 'proof-ok' : 'proof-failed'}`;
    out.dataset.state = res.complete ? 'complete' : 'incomplete';
  }, (err) => {
    replace(out, h('p', { class: 'proof-title' }, '✗ Not proved complete'), h('p', { class: 'proof-message' }, err.message));
    out.className = 'proof proof-failed';
    out.dataset.state = 'failed';
  });
  return out;
}
