import { api, session, signOut } from '../api.js';
import { h, replace, routes, card, badge, announce } from '../dom.js';
import { pinnedKey, pinKey, unpinKey, otherKeys, setOtherKeys } from '../settings.js';
import { parseVerifierKey, bytesToHex } from '../verify.js';

async function describe(key) {
  const vk = await parseVerifierKey(key);
  return h('dl', { class: 'facts facts-compact' },
    h('dt', null, 'Log'), h('dd', { class: 'mono' }, vk.name),
    h('dt', null, 'Key hash'), h('dd', { class: 'mono' }, bytesToHex(vk.hash)),
    h('dt', null, 'Algorithm'), h('dd', null, 'Ed25519'));
}

/** settingsView pins the verifier key checkpoints are checked against. */
export async function settingsView({ signal }) {
  document.title = 'Settings · agentledger';
  const current = h('div', { id: 'pinned-key' });
  const serverBox = h('div');
  const err = h('div', { id: 'key-error', class: 'form-error', role: 'alert' });
  const input = h('textarea', { id: 'vkey', class: 'input mono', rows: '2', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'vkey-help key-error' });

  const drawCurrent = async () => {
    const key = pinnedKey();
    if (!key) {
      replace(current, h('p', { class: 'alert alert-warn' }, 'No verifier key is pinned: proofs cannot be verified until you pin the log\'s key.'));
      return;
    }
    let d;
    try {
      d = await describe(key);
    } catch (e) {
      d = h('p', { class: 'form-error' }, e.message);
    }
    replace(current, h('div', { class: 'pinned' },
      h('p', null, badge('pinned', 'ok'), ' ', h('span', { class: 'mono wrap', id: 'pinned-key-value' }, key)), d,
      h('button', { type: 'button', class: 'btn btn-quiet', on: { click: () => { unpinKey(); drawCurrent(); drawServer(); announce('Verifier key removed'); } } }, 'Remove pinned key')));
  };

  const pin = async (key) => {
    replace(err);
    try {
      await parseVerifierKey(key);
    } catch (e) {
      input.setAttribute('aria-invalid', 'true');
      replace(err, e.message);
      input.focus();
      return false;
    }
    input.removeAttribute('aria-invalid');
    pinKey(key);
    input.value = '';
    await drawCurrent();
    drawServer();
    announce('Verifier key pinned');
    return true;
  };

  let serverKey = '';
  const drawServer = () => {
    if (!session.token) {
      replace(serverBox);
      return;
    }
    if (!serverKey) {
      replace(serverBox, h('p', { class: 'muted' }, 'The server does not advertise a verifier key.'));
      return;
    }
    const pinned = pinnedKey();
    const same = pinned && pinned.trim() === serverKey.trim();
    replace(serverBox,
      h('h3', { class: 'subhead' }, 'The key this server advertises'),
      h('p', { class: 'mono wrap' }, serverKey),
      same ? h('p', null, badge('matches your pinned key', 'ok'))
        : h('div', null,
          h('p', { class: 'help' }, pinned ? 'It differs from your pinned key. If the log rotated its key, confirm the new one out of band before pinning it.'
            : 'Compare it with the key you obtained out of band (from the log operator, a witness, or the server\'s startup output) before pinning it: a key taken from the server being checked proves nothing against that server.'),
          h('button', { type: 'button', class: 'btn', on: { click: () => pin(serverKey) } }, 'Pin this key')));
  };

  (async () => {
    if (!session.token) return;
    try {
      serverKey = (await api.log({ signal })).verifier_key || '';
    } catch { /* shown as not advertised */ }
    if (!signal.aborted) drawServer();
  })();
  await drawCurrent();

  const form = h('form', {
    novalidate: true,
    on: { submit: async (e) => { e.preventDefault(); await pin(input.value); } },
  },
  h('label', { for: 'vkey' }, 'Verifier key'),
  input,
  h('p', { id: 'vkey-help', class: 'help' }, 'The log\'s Ed25519 signed-note key: ', h('span', { class: 'mono' }, '<name>+<hash>+<key>'),
    ', as ', h('span', { class: 'mono' }, 'agentledger serve'), ' prints it at start (', h('span', { class: 'mono' }, 'verifier key: …'), '). It is kept in this browser\'s local storage.'),
  err,
  h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Pin key')));

  return h('div', { class: 'settings-page' },
    h('h1', { class: 'page-title' }, 'Settings'),
    card('Verifier key', { id: 'verifier-key' },
      h('p', { class: 'muted' }, 'Every proof is checked in this browser against this key: a checkpoint not signed by it fails verification, whatever the server says.'),
      current, form, serverBox),
    othersCard(),
    card('Session', { id: 'session-card' },
      session.token
        ? [h('p', null, 'Signed in. The token is kept in this tab\'s session storage only and is forgotten when the tab closes.'),
          h('button', { type: 'button', class: 'btn', on: { click: signOut } }, 'Sign out')]
        : h('p', null, 'Not signed in. ', h('a', { href: routes.signin() }, 'Sign in'))));
}

/**
 * othersCard pins the keys of the other logs (shards) whose entries a
 * federated view shows, one per line.
 */
function othersCard() {
  const err = h('div', { id: 'other-keys-error', class: 'form-error', role: 'alert' });
  const input = h('textarea', { id: 'other-keys', class: 'input mono', rows: '3', spellcheck: 'false', autocomplete: 'off' });
  input.value = otherKeys().join('\n');
  const save = async (e) => {
    e.preventDefault();
    replace(err);
    const keys = input.value.split('\n').map((k) => k.trim()).filter(Boolean);
    for (const k of keys) {
      try {
        await parseVerifierKey(k);
      } catch (ex) {
        replace(err, `${k.slice(0, 40)}: ${ex.message}`);
        return;
      }
    }
    setOtherKeys(keys);
    announce(`${keys.length} key(s) of other logs pinned`);
  };
  return card('Keys of other logs', { id: 'other-keys-card' },
    h('p', { class: 'muted' }, 'The verifier keys of the other shards of a sharded deployment, one per line: a federated view verifies each shard\'s entries with the key of its own log.'),
    h('form', { novalidate: true, on: { submit: save } },
      h('label', { for: 'other-keys' }, 'One key per line'), input, err,
      h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'save-other-keys' }, 'Save'))));
}
