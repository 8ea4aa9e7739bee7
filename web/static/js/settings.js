// The verifier key the user pinned, kept in localStorage: it is public,
// and pinning it once per browser is the point.

const KEY = 'agentledger.verifierKey';

export function pinnedKey() {
  return localStorage.getItem(KEY) || '';
}

export function pinKey(key) {
  localStorage.setItem(KEY, key.trim());
  window.dispatchEvent(new CustomEvent('agentledger:key'));
}

export function unpinKey() {
  localStorage.removeItem(KEY);
  window.dispatchEvent(new CustomEvent('agentledger:key'));
}

/** keyName returns the name part of a verifier key. */
export function keyName(key) {
  return key ? key.split('+')[0] : '';
}
