// The "Verify" control of an entry: fetches the signed checkpoint, the
// entry's leaf and its inclusion proof, and verifies them here with
// verify.js against the pinned verifier key.

import { api } from './api.js';
import { h, replace, announce, routes, icon } from './dom.js';
import { pinnedKey } from './settings.js';
import { verifyEntry, splitNote, parseCheckpoint, FAIL_NOT_INCLUDED } from './verify.js';

const STEP_LABELS = {
  signature: 'Checkpoint signature',
  leaf_hash: 'Leaf hash',
  entry: 'Entry matches leaf',
  inclusion: 'Inclusion proof',
  content: 'Content commitments',
};

/**
 * fetchAndVerify verifies the entry an answer showed. shown is the entry
 * as the view has it (api.Entry, or a call reference with index and
 * leaf_hash only).
 */
export async function fetchAndVerify(shown, { attempts = 4 } = {}) {
  const verifierKey = pinnedKey();
  for (let attempt = 1; ; attempt++) {
    const checkpoint = await api.checkpointNote();
    // The size is read here only to ask for the matching proof; it is
    // trusted only once verifyEntry has checked the signature.
    let size = null;
    try {
      size = parseCheckpoint(splitNote(checkpoint).text).size;
    } catch { /* verifyEntry names the problem */ }
    const fetched = await api.leaf(shown.index);
    let proof = null;
    if (size != null && BigInt(shown.index) < size) {
      proof = await api.inclusion(shown.index, size.toString());
    } else if (size != null) {
      proof = { index: shown.index, tree_size: Number(size), hashes: [] };
    }
    const entry = shown.kind ? { ...shown } : { ...fetched, leaf_hash: shown.leaf_hash ?? fetched.leaf_hash };
    delete entry.leaf;
    if (entry.content === undefined && fetched.content) entry.content = fetched.content;
    const result = await verifyEntry({ entry, leaf: fetched.leaf, proof, checkpoint, verifierKey });
    if (!result.ok && result.failure.code === FAIL_NOT_INCLUDED && attempt < attempts) {
      await new Promise((r) => setTimeout(r, 1200));
      continue;
    }
    return result;
  }
}

/** renderResult renders a verification result. */
export function renderResult(result) {
  const steps = h('ol', { class: 'proof-steps' },
    result.steps.map((s) => h('li', { class: 'ok' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '✓'),
      h('span', { class: 'step-label' }, STEP_LABELS[s.id] || s.id), h('span', { class: 'step-detail' }, s.detail))));
  if (result.ok) {
    return h('div', { class: 'proof proof-ok', dataset: { state: 'verified' } },
      h('p', { class: 'proof-title' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '✓'), ' Verified'),
      h('p', { class: 'proof-sub' }, `Included in the signed checkpoint of tree size ${result.checkpoint.size}; checked in this browser.`),
      steps);
  }
  const f = result.failure;
  return h('div', { class: 'proof proof-failed', dataset: { state: 'failed', failure: f.code } },
    h('p', { class: 'proof-title' }, h('span', { class: 'mark', 'aria-hidden': 'true' }, '✗'), ` Verification failed: ${f.label}`),
    h('p', { class: 'proof-message' }, f.message),
    f.code === 'key_invalid' ? h('p', null, h('a', { href: routes.settings() }, 'Pin the log\'s verifier key in Settings')) : null,
    result.steps.length ? h('div', null, h('p', { class: 'proof-sub' }, 'Checked before the failure:'), steps) : null);
}

/**
 * verifyControl returns a "Verify" button and the region its result
 * appears in.
 */
export function verifyControl(shown, { label = 'Verify', compact = false } = {}) {
  const out = h('div', { class: ['verify', compact && 'verify-compact'], role: 'status', 'aria-live': 'polite' });
  const btn = h('button', {
    type: 'button', class: 'btn btn-small btn-verify',
    'aria-label': `${label} entry ${shown.index}`,
    on: {
      click: async () => {
        btn.disabled = true;
        replace(out, h('p', { class: 'proof proof-pending' }, `Verifying entry ${shown.index}…`));
        try {
          const r = await fetchAndVerify(shown);
          replace(out, renderResult(r));
          announce(r.ok ? `Entry ${shown.index} verified` : `Entry ${shown.index} failed verification: ${r.failure.label}`);
        } catch (err) {
          replace(out, h('div', { class: 'proof proof-failed', dataset: { state: 'error' } },
            h('p', { class: 'proof-title' }, '✗ Could not verify'), h('p', { class: 'proof-message' }, err.message)));
        } finally {
          btn.disabled = false;
        }
      },
    },
  }, icon('shield'), label);
  return { button: btn, result: out, element: h('div', { class: 'verify-wrap' }, btn, out) };
}
