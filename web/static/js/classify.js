// Classification of what a responder types into the search box. A raw
// secret must never reach a URL, the history or a log: it is recognised
// here so that the UI sends it only in the body of POST
// /v1/credentials/lookup.

import { SECRET_PREFIXES } from './prefixes.js';

// SECRET_PREFIXES (generated from ingest's table, never kept by hand here) are the
// prefixes of well-known secret formats. AWS access key IDs (AKIA…, ASIA…) are not
// among them: they are credential IDs.

const TRACE_ID = /^[0-9a-fA-F]{32}$/;
const JWT = /^eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*$/;

/** shannonEntropy returns the entropy of s in bits per character. */
export function shannonEntropy(s) {
  if (!s) return 0;
  const counts = new Map();
  for (const ch of s) counts.set(ch, (counts.get(ch) || 0) + 1);
  let h = 0;
  const n = [...s].length;
  for (const c of counts.values()) {
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * classify says what a search input is:
 *  - {type: 'token', value, reason}: a raw secret (JWT, a known secret
 *    prefix, a Bearer header value, or a long high-entropy string); look it
 *    up by POST, never put it in a URL;
 *  - {type: 'trace', value}: a trace ID (32 hex digits), lowercased;
 *  - {type: 'id', value}: a credential ID or an agent ID;
 *  - {type: 'empty'}.
 */
export function classify(input) {
  let s = (input ?? '').trim();
  if (s === '') return { type: 'empty' };
  const bearer = /^(?:authorization:\s*)?bearer\s+(\S+)$/i.exec(s);
  if (bearer) return { type: 'token', value: bearer[1], reason: 'a bearer header value' };
  if (/^(?:authorization:\s*)?basic\s+\S+$/i.test(s)) return { type: 'token', value: s, reason: 'a basic header value' };
  // Pasted text of several lines (a PEM key, headers, an env file): the lookup runs
  // ingest's extraction on it and searches every secret it finds.
  if (/[\r\n]/.test(s)) return { type: 'token', value: s, reason: 'pasted text' };
  if (/\s/.test(s)) return { type: 'id', value: s };
  if (TRACE_ID.test(s)) return { type: 'trace', value: s.toLowerCase() };
  if (JWT.test(s)) return { type: 'token', value: s, reason: 'a JSON Web Token' };
  for (const p of SECRET_PREFIXES) {
    if (s.startsWith(p.prefix) && s.length >= p.prefix.length + p.min) {
      return { type: 'token', value: s, reason: `a secret with the prefix ${p.prefix}` };
    }
  }
  if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(s)) return { type: 'token', value: s, reason: 'a private key' };
  // A long random-looking string: 32 or more characters of a token
  // alphabet with high entropy. IDs such as UUIDs and ARNs have structure
  // (dashes in fixed places, colons) and lower entropy.
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (s.length >= 32 && !uuid.test(s) && /^[A-Za-z0-9+/=_\-.~]+$/.test(s) && shannonEntropy(s) >= 4.0) {
    const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(s)).length;
    if (classes >= 2) return { type: 'token', value: s, reason: 'a long high-entropy string' };
  }
  return { type: 'id', value: s };
}
