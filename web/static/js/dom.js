// Small DOM helpers. Every piece of text from the ledger goes through
// text nodes (never innerHTML): agent content is untrusted.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false || c === true) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'hidden') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

/** h creates an HTML element: h('a', {href: '#/'}, 'text', child, [more]). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** s creates an SVG element. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** replace empties an element and fills it with children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---------------------------------------------------------------------------
// Formatting.

/** fmtTime renders an RFC 3339 time in UTC: "2026-11-27 04:34:13.421 UTC". */
export function fmtTime(iso, { date = true, ms = true } = {}) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = d.toISOString();
  const t = ms ? s.slice(11, 23) : s.slice(11, 19);
  return date ? `${s.slice(0, 10)} ${t} UTC` : t;
}

/** fmtDuration renders milliseconds: "420 ms", "1.73 s", "9 min 2 s". */
export function fmtDuration(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms < 0) return `-${fmtDuration(-ms)}`;
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  if (ms < 3600000) return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  const hrs = Math.floor(ms / 3600000);
  return `${hrs} h ${Math.round((ms % 3600000) / 60000)} min`;
}

/** fmtRelative renders how long ago (or ahead) a time is. */
export function fmtRelative(iso, now = Date.now()) {
  if (!iso) return '';
  const d = new Date(iso).getTime() - now;
  const a = Math.abs(d);
  let v;
  if (a < 60000) v = `${Math.round(a / 1000)} s`;
  else if (a < 3600000) v = `${Math.round(a / 60000)} min`;
  else if (a < 86400000) v = `${Math.round(a / 3600000)} h`;
  else v = `${Math.round(a / 86400000)} d`;
  return d < 0 ? `${v} ago` : `in ${v}`;
}

/** ms returns an RFC 3339 time as milliseconds, or null. */
export function ms(iso) {
  if (!iso) return null;
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? null : t;
}

/** short abbreviates a long hash or ID for display. */
export function short(s, n = 12) {
  if (!s) return '';
  return s.length > n + 1 ? `${s.slice(0, n)}…` : s;
}

/** routes builds hash links; IDs are URI-encoded. */
export const routes = {
  home: () => '#/',
  credential: (id) => `#/credentials/${encodeURIComponent(id)}`,
  federation: (id) => `#/federation/${encodeURIComponent(id)}`,
  run: (trace, entry) => `#/runs/${encodeURIComponent(trace)}${entry != null ? `?entry=${entry}` : ''}`,
  agent: (id) => `#/agents/${encodeURIComponent(id)}`,
  entry: (index) => `#/entries/${index}`,
  settings: () => '#/settings',
  signin: (next) => `#/signin${next ? `?next=${encodeURIComponent(next)}` : ''}`,
};

/** badge renders a small label. */
export function badge(text, kind = 'neutral', props = {}) {
  return h('span', { ...props, class: ['badge', `badge-${kind}`, props.class] }, text);
}

/** kindBadge renders an entry kind. */
export function kindBadge(kind) {
  const labels = { api_call: 'API call', llm: 'LLM', agent: 'agent', tool: 'tool', credential: 'credential',
    approval: 'approval', attestation: 'attestation', erasure: 'erasure', access: 'access', span: 'span' };
  return h('span', { class: ['kind', `kind-${kind}`] }, labels[kind] || kind);
}

/** card renders a titled section. */
export function card(title, props, ...children) {
  const id = props?.id;
  const headingId = id ? `${id}-title` : null;
  return h('section', { class: ['card', props?.class], id, 'aria-labelledby': headingId },
    title ? h('div', { class: 'card-head' }, h('h2', { id: headingId }, title), props?.actions || null) : null,
    ...children);
}

/** facts renders a definition list from [label, value] pairs, skipping empty values. */
export function facts(pairs) {
  const dl = h('dl', { class: 'facts' });
  for (const [k, v] of pairs) {
    if (v == null || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    dl.append(h('dt', null, k), h('dd', null, v));
  }
  return dl;
}

/** announce says something to screen readers through the live region. */
export function announce(msg) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  setTimeout(() => { live.textContent = msg; }, 30);
}

/** empty renders a calm empty-state message. */
export function emptyState(msg) {
  return h('p', { class: 'empty' }, msg);
}

/** errorBox renders an error for people. */
export function errorBox(err, what) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'alert alert-error', role: 'alert' },
    h('strong', null, what ? `${what}: ` : 'Error: '), msg);
}

const ICONS = {
  key: 'M14.5 4a5.5 5.5 0 0 0-5.2 7.3L3 17.6V21h3.4v-2.1h2.1v-2.1h2.1l1.7-1.7A5.5 5.5 0 1 0 14.5 4Zm1.6 5.6a1.6 1.6 0 1 1 0-3.2 1.6 1.6 0 0 1 0 3.2Z',
  shield: 'M12 2.5 4 6v5.5c0 4.6 3.4 8.9 8 10 4.6-1.1 8-5.4 8-10V6l-8-3.5Zm-1.3 13.3-3.5-3.5 1.4-1.4 2.1 2.1 4.9-4.9 1.4 1.4-6.3 6.3Z',
  warn: 'M12 3 1.5 21h21L12 3Zm-1 6h2v6h-2V9Zm0 8h2v2h-2v-2Z',
};

/** icon returns a small decorative inline SVG icon. */
export function icon(name, cls) {
  return s('svg', { class: ['icon', `icon-${name}`, cls], viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' },
    s('path', { d: ICONS[name], fill: 'currentColor' }));
}
