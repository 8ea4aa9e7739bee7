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

const OTHERS = 'agentledger.otherKeys';

/** otherKeys returns the pinned verifier keys of other logs (shards). */
export function otherKeys() {
  return (localStorage.getItem(OTHERS) || '').split('\n').map((k) => k.trim()).filter(Boolean);
}

/** setOtherKeys pins the verifier keys of other logs, one per line. */
export function setOtherKeys(keys) {
  localStorage.setItem(OTHERS, keys.join('\n'));
  window.dispatchEvent(new CustomEvent('agentledger:key'));
}

/** trustedKeys maps each pinned log's name (its origin) to its key. */
export function trustedKeys() {
  const out = new Map();
  for (const k of [pinnedKey(), ...otherKeys()]) if (k) out.set(keyName(k), k);
  return out;
}
