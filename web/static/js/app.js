// agentledger UI: hash routing, the page frame and the views.
//
// Routes (deep links):
//   #/                         search, ledger size, recent checkpoints
//   #/signin?next=…            sign in with a bearer token
//   #/credentials/<id>         a credential: facts, lineage, usage, blast radius
//   #/federation/<id>          a credential's uses in every shard, each verified with its log's key
//   #/runs/<trace id>?entry=n  a run's waterfall, entry n expanded
//   #/agents/<id>              an agent's runs
//   #/entries/<index>          one entry and its proof
//   #/settings                 the pinned verifier key, sign out

import { session, setUnauthorizedHandler, signOut } from './api.js';
import { h, replace, routes, errorBox, icon } from './dom.js';
import { pinnedKey, keyName } from './settings.js';
import { signinView } from './views/signin.js';
import { searchView } from './views/search.js';
import { credentialView } from './views/credential.js';
import { federationView } from './views/federation.js';
import { runView } from './views/run.js';
import { agentView } from './views/agent.js';
import { entryView } from './views/entry.js';
import { settingsView } from './views/settings.js';

const main = document.getElementById('main');

/** parseHash splits "#/runs/abc?entry=3" into path segments and params. */
function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const segs = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { segs, params: new URLSearchParams(query), raw };
}

const table = [
  { match: (s) => s.length === 0, view: searchView, nav: 'search' },
  { match: (s) => s[0] === 'signin' && s.length === 1, view: signinView, open: true },
  { match: (s) => s[0] === 'settings' && s.length === 1, view: settingsView, nav: 'settings', open: true },
  { match: (s) => s[0] === 'credentials' && s.length === 2, view: credentialView, nav: 'search' },
  { match: (s) => s[0] === 'federation' && s.length === 2, view: federationView, nav: 'search' },
  { match: (s) => s[0] === 'runs' && s.length === 2, view: runView, nav: 'search' },
  { match: (s) => s[0] === 'agents' && s.length === 2, view: agentView, nav: 'search' },
  { match: (s) => s[0] === 'entries' && s.length === 2, view: entryView, nav: 'search' },
];

let current = null; // AbortController of the view being shown

function renderHeader() {
  const signedIn = !!session.token;
  const key = pinnedKey();
  const nav = document.getElementById('nav');
  replace(nav,
    h('a', { href: routes.home(), dataset: { nav: 'search' } }, 'Search'),
    h('a', { href: routes.settings(), dataset: { nav: 'settings' } }, 'Settings'));
  const status = document.getElementById('session');
  replace(status,
    key
      ? h('a', { class: 'key-chip key-pinned', href: routes.settings(), title: key }, icon('shield'), 'Key pinned: ', keyName(key))
      : h('a', { class: 'key-chip key-missing', href: routes.settings() }, 'No verifier key pinned'),
    signedIn
      ? h('button', { type: 'button', class: 'btn btn-quiet', on: { click: signOut } }, 'Sign out')
      : null);
}

function markNav(name) {
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  const { signal } = current;
  const { segs, params, raw } = parseHash();
  renderHeader();
  const r = table.find((t) => t.match(segs));
  if (!r) {
    markNav(null);
    document.title = 'Not found · agentledger';
    replace(main, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', null, h('a', { href: routes.home() }, 'Back to search')));
    focusHeading();
    return;
  }
  if (!r.open && !session.token) {
    location.replace(routes.signin(`#${raw}`));
    return;
  }
  markNav(r.nav || null);
  main.setAttribute('aria-busy', 'true');
  replace(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    const node = await r.view({ segs, params, signal });
    if (signal.aborted) return;
    replace(main, node);
    focusHeading(params.has('entry'));
  } catch (err) {
    if (signal.aborted || err.name === 'AbortError') return;
    if (err.status === 401) return; // redirected to sign in
    replace(main, h('h1', { tabindex: '-1' }, 'Something went wrong'), errorBox(err),
      h('p', null, h('a', { href: routes.home() }, 'Back to search')));
    focusHeading();
  } finally {
    if (!signal.aborted) main.removeAttribute('aria-busy');
  }
}

// focusHeading moves focus to the page's heading after navigation, so
// that screen readers announce the new page; a view that focuses an entry
// itself asks to be left alone.
function focusHeading(skip) {
  if (skip) return;
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

setUnauthorizedHandler(() => {
  session.clear();
  const { raw } = parseHash();
  if (!raw.startsWith('/signin')) location.replace(routes.signin(`#${raw}`));
});

window.addEventListener('hashchange', route);
window.addEventListener('agentledger:key', renderHeader);
window.addEventListener('storage', renderHeader);
route();

// The skip link moves focus without touching the route.
document.querySelector('.skip-link')?.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
