// A credential's uses in every shard of a sharded deployment: the
// federated view (/v1/federation/credentials/{id}) lists each shard's proved
// view, and each entry is verified here against the key of its own log,
// from the leaf, proof and checkpoint the shard sent. The server that
// federates is trusted with nothing: a shard whose log has no pinned key
// cannot be verified, and a shard that did not answer is shown as such.

import { api } from '../api.js';
import { h, replace, routes, badge, card, announce, emptyState } from '../dom.js';
import { trustedKeys } from '../settings.js';
import { verifyEntry } from '../verify.js';
import { renderResult } from '../proof.js';

/** shardEntries lists the API calls a shard's view reports, with their leaves. */
function shardEntries(answer) {
  const leaves = new Map(answer.leaves.map((l) => [l.index, l]));
  const out = [];
  for (const u of answer.view.usages) {
    for (const c of u.calls) out.push({ call: c.entry, target: c.target, proved: leaves.get(c.entry.index) });
  }
  return out;
}

/** verifyShardEntry verifies one entry of a shard's answer with key. */
export async function verifyShardEntry(answer, entry, proved, key) {
  const size = answer.checkpoint.split('\n')[1];
  return verifyEntry({
    entry,
    leaf: proved ? proved.leaf : '',
    proof: proved ? { index: entry.index, tree_size: size, hashes: proved.inclusion } : null,
    checkpoint: answer.checkpoint,
    verifierKey: key,
  });
}

function shardCard(sh, keys) {
  const props = { id: `shard-${sh.name.replace(/[^A-Za-z0-9_-]/g, '-')}`, class: 'shard' };
  if (!sh.answered) {
    return card(`Shard ${sh.name}`, props,
      h('p', { class: 'alert alert-error', dataset: { state: 'not-answered' } }, badge('did not answer', 'danger'), ' ', sh.error || ''),
      sh.url ? h('p', { class: 'muted mono small' }, sh.url) : null);
  }
  const a = sh.answer;
  const key = keys.get(a.origin);
  const rows = shardEntries(a);
  const results = rows.map(() => h('div', { class: 'verify', role: 'status', 'aria-live': 'polite' }));
  const verifyAll = async (btn) => {
    btn.disabled = true;
    let failed = 0;
    for (let i = 0; i < rows.length; i++) {
      const r = await verifyShardEntry(a, rows[i].call, rows[i].proved, key);
      if (!r.ok) failed++;
      replace(results[i], renderResult(r));
    }
    announce(failed ? `Shard ${sh.name}: ${failed} of ${rows.length} entries failed verification` : `Shard ${sh.name}: ${rows.length} entries verified`);
    btn.disabled = false;
  };
  const btn = h('button', { type: 'button', class: 'btn btn-small btn-verify', on: { click: (e) => verifyAll(e.currentTarget) } }, `Verify with ${a.origin}'s key`);
  return card(`Shard ${sh.name}`, { ...props, actions: rows.length ? btn : null },
    h('p', null, badge(sh.local ? 'this server' : 'peer'), ' ', h('span', { class: 'mono' }, `log ${a.origin}`),
      key ? null : h('span', { class: 'form-error', dataset: { state: 'no-key' } }, ` No key pinned for log ${a.origin}: `, h('a', { href: routes.settings() }, 'pin it in Settings'))),
    rows.length === 0 ? emptyState('No use of the credential in this log.')
      : h('table', { class: 'table' },
        h('thead', null, h('tr', null, h('th', null, 'Entry'), h('th', null, 'Call'), h('th', null, 'Trace'), h('th', null, 'Proof'))),
        h('tbody', null, rows.map((r, i) => h('tr', { dataset: { index: String(r.call.index) } },
          h('td', { class: 'mono' }, String(r.call.index)),
          h('td', { class: 'mono small' }, [r.target?.method, r.target?.server_address, r.target?.path].filter(Boolean).join(' ')),
          h('td', { class: 'mono small' }, sh.local ? h('a', { href: routes.run(r.call.trace_id, r.call.index) }, r.call.trace_id) : r.call.trace_id),
          h('td', null, results[i]))))));
}

/** federationView shows a credential's uses in every shard. */
export async function federationView({ segs, signal }) {
  const id = segs[1];
  document.title = `${id} across shards · agentledger`;
  const v = await api.federated(id, { signal });
  const keys = trustedKeys();
  const answered = v.shards.filter((sh) => sh.answered).length;
  return h('div', { class: 'federation-page' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: routes.home() }, 'Search'), h('span', { 'aria-hidden': 'true' }, ' / '),
      h('a', { href: routes.credential(id) }, 'Credential'), h('span', { 'aria-hidden': 'true' }, ' / '), 'Across shards'),
    h('div', { class: 'page-head' }, h('div', null,
      h('p', { class: 'eyebrow' }, 'Credential across shards'),
      h('h1', { class: 'page-title mono' }, id),
      h('div', { class: 'head-badges' }, badge(`${answered} of ${v.shards.length} shards answered`, answered === v.shards.length ? 'ok' : 'danger', { id: 'shards-answered' })))),
    h('p', { class: 'muted' }, 'Each shard is its own log: its entries are verified against the key you pinned for that log, from the leaf, proof and signed checkpoint the shard sent.'),
    v.shards.map((sh) => shardCard(sh, keys)));
}
