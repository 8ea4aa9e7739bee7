// Rendering of entry content: chat messages (GenAI semantic conventions),
// reasoning, tool arguments and results, and erased content.

import { h, short } from './dom.js';

const LABELS = {
  'input.messages': 'Input messages',
  'output.messages': 'Output',
  system_instructions: 'System instructions',
  reasoning: 'Reasoning',
  'tool.arguments': 'Arguments',
  'tool.result': 'Result',
  'tool.definitions': 'Tool definitions',
  input: 'Input',
  output: 'Output',
  'db.query': 'Query',
  events: 'Events',
};

function contentLabel(name) {
  return LABELS[name] || name;
}

function parseJSON(s) {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function pretty(v) {
  if (typeof v === 'string') {
    const p = parseJSON(v);
    if (p !== undefined && typeof p === 'object') return JSON.stringify(p, null, 2);
    return v;
  }
  return JSON.stringify(v, null, 2);
}

function pre(text, cls) {
  return h('pre', { class: ['content-pre', cls], tabindex: '0' }, text);
}

function isMessages(v) {
  return Array.isArray(v) && v.length > 0 && v.every((m) => m && typeof m === 'object' && ('role' in m || 'parts' in m));
}

function renderPart(p) {
  if (!p || typeof p !== 'object') return pre(String(p));
  switch (p.type) {
    case 'text':
      return h('div', { class: 'part part-text' }, String(p.content ?? ''));
    case 'reasoning':
    case 'thinking':
      return h('div', { class: 'part part-reasoning' }, h('span', { class: 'part-label' }, 'Reasoning'),
        h('div', null, String(p.content ?? p.text ?? p.thinking ?? '')));
    case 'tool_call':
    case 'function_call':
    case 'tool_use':
      return h('div', { class: 'part part-tool-call' },
        h('span', { class: 'part-label' }, 'Tool call'), ' ',
        h('strong', { class: 'mono' }, p.name ?? '?'), p.id ? h('span', { class: 'muted mono' }, ` (${p.id})`) : null,
        p.arguments !== undefined ? pre(pretty(p.arguments), 'compact') : null);
    case 'tool_call_response':
      return h('div', { class: 'part part-tool-result' },
        h('span', { class: 'part-label' }, 'Tool result'), p.id ? h('span', { class: 'muted mono' }, ` (${p.id})`) : null,
        pre(pretty(p.response ?? p.result ?? ''), 'compact'));
    default:
      return h('div', { class: 'part' }, pre(pretty(p), 'compact'));
  }
}

/** renderMessages renders a GenAI message list. */
export function renderMessages(msgs, { skipReasoning = false } = {}) {
  return h('ol', { class: 'messages' }, msgs.map((m) => {
    const parts = Array.isArray(m.parts) ? m.parts : m.content !== undefined ? [{ type: 'text', content: typeof m.content === 'string' ? m.content : pretty(m.content) }] : [];
    const shown = skipReasoning ? parts.filter((p) => p?.type !== 'reasoning' && p?.type !== 'thinking') : parts;
    const role = String(m.role ?? 'message');
    return h('li', { class: ['message', `role-${role.replace(/[^a-z_]/gi, '')}`] },
      h('div', { class: 'message-head' }, h('span', { class: 'role' }, role),
        m.finish_reason ? h('span', { class: 'muted' }, ` · finish: ${m.finish_reason}`) : null),
      shown.map(renderPart));
  }));
}

/** hasReasoningParts reports whether a messages content holds reasoning parts. */
export function hasReasoningParts(c) {
  if (!c || c.data == null) return false;
  const v = parseJSON(c.data);
  return isMessages(v) && v.some((m) => Array.isArray(m.parts) && m.parts.some((p) => p?.type === 'reasoning' || p?.type === 'thinking'));
}

function binaryPreview(b64) {
  let bin;
  try {
    bin = atob(b64);
  } catch {
    return 'binary';
  }
  let hex = '';
  for (let i = 0; i < Math.min(bin.length, 32); i++) hex += bin.charCodeAt(i).toString(16).padStart(2, '0') + ' ';
  return `${bin.length} bytes of binary content: ${hex.trim()}${bin.length > 32 ? ' …' : ''}`;
}

/** renderContentBody renders one content item's data. */
export function renderContentBody(c) {
  if (c.erased) {
    return h('div', { class: 'erased', dataset: { erased: 'true' } },
      h('span', { class: 'badge badge-erased' }, 'Erased'),
      h('span', null, ' Content erased. Its commitment '), h('span', { class: 'mono', title: c.commitment }, short(c.commitment, 16)),
      h('span', null, ' stays in the leaf, so proofs remain valid.'));
  }
  if (c.data == null) {
    return h('p', { class: 'muted' }, 'Content not returned to this token. Commitment ',
      h('span', { class: 'mono', title: c.commitment }, short(c.commitment, 16)));
  }
  if (c.encoding === 'base64') return h('p', { class: 'muted mono' }, binaryPreview(c.data));
  const v = parseJSON(c.data);
  if (isMessages(v)) return renderMessages(v);
  if (c.name === 'reasoning') return h('div', { class: 'part part-reasoning' }, h('div', null, c.data));
  if (v !== undefined && typeof v === 'object') return pre(JSON.stringify(v, null, 2));
  return pre(c.data);
}

/** renderContent renders a titled content item. */
export function renderContent(c) {
  return h('div', { class: 'content-item', dataset: { content: c.name } },
    h('h4', { class: 'content-title' }, contentLabel(c.name), c.erased ? h('span', { class: 'visually-hidden' }, ' (erased)') : null),
    renderContentBody(c));
}

/**
 * renderChainOfThought renders an LLM step's content in reading order:
 * system instructions and input (collapsed), then reasoning and output.
 */
export function renderChainOfThought(entry, { openInput = false } = {}) {
  const byName = new Map((entry.content || []).map((c) => [c.name, c]));
  const out = h('div', { class: 'cot' });
  const input = ['system_instructions', 'input.messages', 'input'].map((n) => byName.get(n)).filter(Boolean);
  if (input.length) {
    const count = (() => {
      const im = byName.get('input.messages');
      const v = im && im.data != null ? parseJSON(im.data) : undefined;
      return Array.isArray(v) ? `${v.length} message${v.length === 1 ? '' : 's'}` : '';
    })();
    out.append(h('details', { class: 'cot-input', open: openInput || null },
      h('summary', null, 'Input', count ? h('span', { class: 'muted' }, ` · ${count}`) : null),
      input.map(renderContent)));
  }
  const output = byName.get('output.messages') || byName.get('output');
  const reasoning = byName.get('reasoning');
  if (reasoning && (reasoning.erased || !(output && hasReasoningParts(output)))) out.append(renderContent(reasoning));
  if (output) out.append(renderContent(output));
  for (const c of entry.content || []) {
    if (['system_instructions', 'input.messages', 'input', 'output.messages', 'output', 'reasoning'].includes(c.name)) continue;
    out.append(renderContent(c));
  }
  return out;
}
