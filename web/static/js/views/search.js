import { api, ApiError } from '../api.js';
import { h, replace, routes, fmtTime, fmtRelative, short, badge, card, announce, errorBox, emptyState } from '../dom.js';
import { classify } from '../classify.js';
import { pinnedKey } from '../settings.js';
import { base64ToBytes, bytesToHex } from '../verify.js';

function rootHex(b64) {
  try {
    return bytesToHex(base64ToBytes(b64));
  } catch {
    return b64;
  }
}

/** ledgerPanel shows the ledger's size and its recent checkpoints. */
function ledgerPanel(signal) {
  const body = h('div', { class: 'ledger-body' }, h('p', { class: 'loading' }, 'Loading…'));
  (async () => {
    try {
      const [log, recent] = await Promise.all([api.log({ signal }), api.recentCheckpoints(6, { signal })]);
      const pinned = pinnedKey();
      const keyOk = pinned && log.verifier_key && pinned.trim() === log.verifier_key.trim();
      replace(body,
        h('div', { class: 'stat-grid' },
          h('div', { class: 'stat' }, h('span', { class: 'stat-value', id: 'ledger-size' }, log.tree_size.toLocaleString('en-US')), h('span', { class: 'stat-label' }, 'entries')),
          h('div', { class: 'stat' }, h('span', { class: 'stat-value' }, log.checkpoint ? log.checkpoint.size.toLocaleString('en-US') : '—'), h('span', { class: 'stat-label' }, 'in the latest checkpoint'))),
        h('dl', { class: 'facts facts-compact' },
          h('dt', null, 'Log'), h('dd', null, h('span', { class: 'mono' }, log.origin)),
          h('dt', null, 'Signed'), h('dd', null, log.checkpoint?.time ? `${fmtTime(log.checkpoint.time, { ms: false })} (${fmtRelative(log.checkpoint.time)})` : 'not yet'),
          h('dt', null, 'Key'), h('dd', null, !pinned
            ? h('a', { href: routes.settings() }, 'Pin the verifier key to verify proofs')
            : keyOk ? badge('pinned key matches the server’s', 'ok') : badge('pinned key differs from the server’s', 'warn'))),
        h('h3', { class: 'subhead' }, 'Recent checkpoints'),
        recent.checkpoints.length
          ? h('table', { class: 'table table-compact' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Tree size'), h('th', { scope: 'col' }, 'Signed'), h('th', { scope: 'col' }, 'Root'))),
            h('tbody', null, recent.checkpoints.map((cp) => h('tr', null,
              h('td', { class: 'num' }, cp.size.toLocaleString('en-US')),
              h('td', null, cp.time ? fmtTime(cp.time, { date: false, ms: false }) : '—'),
              h('td', null, h('span', { class: 'mono', title: rootHex(cp.root) }, short(rootHex(cp.root), 10)))))))
          : emptyState('No checkpoint signed yet.'));
    } catch (err) {
      if (err.name !== 'AbortError') replace(body, errorBox(err, 'Ledger'));
    }
  })();
  return card('Ledger', { id: 'ledger', class: 'ledger-card' }, body);
}

function lookupResults(res) {
  const n = res.credentials.length;
  return h('div', { class: 'results', id: 'lookup-results' },
    h('div', { class: 'alert alert-info' },
      h('strong', null, 'Raw token looked up. '),
      'It was sent once in a request body and is not kept in this page, its address or its history. ',
      'Fingerprint: ', h('span', { class: 'mono', title: res.fingerprint }, short(res.fingerprint, 28))),
    n === 0
      ? emptyState('No credential in the ledger matches this token: no entry recorded its fingerprint or its JWT ID.')
      : h('ul', { class: 'result-list' }, res.credentials.map((v) => {
        const id = v.credential.id;
        const foreign = v.usages.filter((u) => u.foreign_run).length;
        const calls = v.usages.reduce((a, u) => a + u.calls.length, 0);
        return h('li', { class: 'result' },
          h('div', { class: 'result-main' },
            id ? h('a', { class: 'result-title mono', href: routes.credential(id) }, id) : h('span', { class: 'result-title' }, 'Unnamed credential (matched by fingerprint only)'),
            h('span', { class: 'muted' }, ` matched by ${(v.matched_by || []).join(' and ') || 'fingerprint'}`)),
          h('div', { class: 'result-meta' },
            badge(`${calls} API call${calls === 1 ? '' : 's'} in ${v.usages.length} run${v.usages.length === 1 ? '' : 's'}`),
            foreign ? badge(`${foreign} foreign run${foreign === 1 ? '' : 's'}`, 'danger') : null,
            v.credential.revoked ? badge('revoked', 'danger') : null),
          !id ? h('ul', { class: 'inline-list' }, v.usages.map((u) => h('li', null, h('a', { class: 'mono', href: routes.run(u.trace_id) }, short(u.trace_id, 16))))) : null);
      })));
}

// foreignRuns flags, in a search result, an agent's runs that used
// credentials obtained in another run.
function foreignRuns(runs) {
  const n = runs.filter((r) => r.foreign_uses > 0).length;
  return n ? [' ', badge(`${n} run${n === 1 ? '' : 's'} with foreign credential uses`, 'danger', { class: 'foreign-badge' })] : null;
}

async function find(value, { signal }) {
  const [cred, agent] = await Promise.allSettled([api.probeCredential(value, { signal }), api.agentRuns(value, undefined, { signal })]);
  const ok = (r) => r.status === 'fulfilled';
  const fatal = [cred, agent].find((r) => r.status === 'rejected' && !(r.reason instanceof ApiError && r.reason.status === 404));
  const hasAgent = ok(agent) && agent.value.runs.length > 0;
  if (ok(cred) && !hasAgent) return { go: routes.credential(value) };
  if (!ok(cred) && hasAgent) return { go: routes.agent(value) };
  if (ok(cred) && hasAgent) {
    return {
      node: h('div', { class: 'results' }, h('p', null, `"${value}" names both a credential and an agent:`),
        h('ul', { class: 'result-list' },
          h('li', { class: 'result' }, h('a', { href: routes.credential(value) }, 'Credential ', h('span', { class: 'mono' }, value))),
          h('li', { class: 'result' }, h('a', { href: routes.agent(value) }, 'Agent ', h('span', { class: 'mono' }, value), ` (${agent.value.runs.length} runs)`),
            foreignRuns(agent.value.runs)))),
    };
  }
  if (fatal) throw fatal.reason;
  return { node: emptyState(`Nothing in the ledger names "${value}" as a credential or an agent.`) };
}

/** searchView is the home page: one search box, the ledger beside it. */
export async function searchView({ signal }) {
  document.title = 'Search · agentledger';
  const results = h('div', { id: 'search-results', 'aria-live': 'polite' });
  const hint = h('p', { id: 'search-kind', class: 'help' }, ' ');
  const input = h('input', {
    id: 'q', name: 'q', type: 'text', class: 'input input-search', autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'off', placeholder: 'tok-…, eyJhbGciOi…, 4bf92f35…, agent-…', 'aria-describedby': 'search-help search-kind',
    on: {
      input: () => {
        const c = classify(input.value);
        const forced = secret.checked;
        replace(hint, forced && c.type !== 'empty' ? 'Will be looked up as a raw secret, by fingerprint.'
          : c.type === 'token' ? `Looks like ${c.reason}: it will be looked up by fingerprint and never put in the address bar.`
            : c.type === 'trace' ? 'A trace ID: opens the run.'
              : c.type === 'id' ? 'A credential ID or an agent ID.' : ' ');
      },
    },
  });
  const secret = h('input', { id: 'as-secret', type: 'checkbox', on: { change: () => input.dispatchEvent(new Event('input')) } });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search');
  const form = h('form', {
    class: 'search-form', role: 'search', novalidate: true,
    on: {
      submit: async (e) => {
        e.preventDefault();
        const c = secret.checked && input.value.trim() ? { type: 'token', value: input.value.trim() } : classify(input.value);
        replace(results);
        if (c.type === 'empty') {
          input.focus();
          return;
        }
        button.disabled = true;
        replace(results, h('p', { class: 'loading' }, 'Searching…'));
        try {
          if (c.type === 'token') {
            // Clear the box at once: the secret stays only in this request.
            input.value = '';
            secret.checked = false;
            replace(hint, ' ');
            const res = await api.lookup(c.value, { signal });
            replace(results, lookupResults(res));
            announce(`${res.credentials.length} credential${res.credentials.length === 1 ? '' : 's'} matched the token`);
            if (c.reason === 'a long high-entropy string') {
              // A long random-looking ID is treated as a secret; let the
              // responder choose to search it as an ID (in the URL) instead.
              results.append(h('p', null, h('button', {
                type: 'button', class: 'btn btn-small',
                on: { click: async () => { const r = await find(c.value, { signal }); if (r.go) location.hash = r.go; else replace(results, r.node); } },
              }, 'Not a secret? Search it as a credential or agent ID')));
            }
          } else if (c.type === 'trace') {
            // A trace ID, unless no run has it: then it may be an ID.
            try {
              await api.probeRun(c.value, { signal });
              location.hash = routes.run(c.value);
            } catch (err) {
              if (err.status !== 404) throw err;
              const r = await find(c.value, { signal });
              if (r.go) location.hash = r.go;
              else replace(results, emptyState(`No run, credential or agent in the ledger has the ID ${c.value}.`));
            }
          } else {
            const r = await find(c.value, { signal });
            if (r.go) location.hash = r.go;
            else replace(results, r.node);
          }
        } catch (err) {
          if (err.name !== 'AbortError') replace(results, errorBox(err, 'Search failed'));
        } finally {
          button.disabled = false;
        }
      },
    },
  },
  h('label', { for: 'q', class: 'search-label' }, 'Credential, leaked token, trace or agent'),
  h('div', { class: 'search-row' }, input, button),
  h('div', { class: 'search-options' },
    h('label', { class: 'checkbox' }, secret, ' Treat as a raw secret (look up by fingerprint)')),
  hint,
  h('div', { id: 'search-help', class: 'help search-help' },
    h('p', null, 'Accepted: a credential ID (', h('span', { class: 'mono' }, 'jti'), ', access key ID, serial, accessor), a raw leaked token (JWT, ',
      h('span', { class: 'mono' }, 'ghp_…'), ', ', h('span', { class: 'mono' }, 'sk-…'), ', a bearer header value), a trace ID (32 hex digits) or an agent ID.'),
    h('p', null, 'Raw tokens are sent only in the body of one POST request and are never placed in the address bar, the history or a log.')));

  setTimeout(() => input.focus(), 0);
  return h('div', { class: 'search-page' },
    h('div', { class: 'search-main' },
      h('h1', { class: 'page-title' }, 'Search the ledger'),
      h('p', { class: 'lead' }, 'A credential leaked? Find the agent runs that used it, the chain of thought behind each call, and everything it touched.'),
      card(null, { class: 'search-card' }, form),
      results),
    h('aside', { class: 'search-aside', 'aria-label': 'Ledger status' }, ledgerPanel(signal)));
}
