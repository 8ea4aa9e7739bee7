// Export of a view as JSON or CSV, built in the browser from the answers
// the view shows.

/**
 * csvCell quotes a value for CSV (RFC 4180) and defuses spreadsheet
 * formulas: a cell that starts with =, +, -, @, tab or carriage return is
 * prefixed with a single quote, since agent content is untrusted.
 */
export function csvCell(v) {
  let s = v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  if (/[",\r\n]/.test(s) || s !== s.trim()) s = `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** toCSV renders rows (arrays of objects) with the given columns. */
export function toCSV(columns, rows) {
  const lines = [columns.map(csvCell).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** credentialRows flattens a credential view's usages into one row per API call. */
export function credentialRows(view, blast) {
  const rows = [];
  for (const u of view.usages || []) {
    for (const c of u.calls || []) {
      rows.push({
        credential_id: view.credential?.id ?? '',
        trace_id: u.trace_id,
        foreign_run: u.foreign_run,
        agent_id: u.agent?.id ?? '',
        agent_name: u.agent?.name ?? '',
        index: c.entry.index,
        leaf_hash: c.entry.leaf_hash,
        start: c.entry.start ?? '',
        call_credential_id: c.credential_id ?? '',
        matched_by: (c.matched_by || []).join(' '),
        server_address: c.target?.server_address ?? '',
        method: c.target?.method ?? '',
        path: c.target?.path ?? '',
        status_code: c.target?.status_code ?? '',
        cause_step_index: c.cause?.step_index ?? '',
        tool: c.tool?.name ?? '',
      });
    }
  }
  if (blast) {
    for (const g of blast.targets || []) {
      for (const c of g.calls || []) {
        if (rows.some((r) => r.index === c.index)) continue;
        rows.push({
          credential_id: view.credential?.id ?? '',
          trace_id: c.trace_id ?? '',
          foreign_run: '',
          agent_id: '',
          agent_name: '',
          index: c.index,
          leaf_hash: c.leaf_hash,
          start: c.start ?? '',
          call_credential_id: c.credential_id ?? '',
          matched_by: 'blast_radius',
          server_address: g.server_address,
          method: g.method,
          path: g.path,
          status_code: c.status_code ?? '',
          cause_step_index: '',
          tool: '',
        });
      }
    }
  }
  return rows;
}

export const CREDENTIAL_COLUMNS = [
  'credential_id', 'trace_id', 'foreign_run', 'agent_id', 'agent_name', 'index', 'leaf_hash', 'start',
  'call_credential_id', 'matched_by', 'server_address', 'method', 'path', 'status_code', 'cause_step_index', 'tool',
];

/**
 * runRows flattens a run view into one row per entry; foreign_credential
 * names the credentials an API call used that another run obtained.
 */
export function runRows(run) {
  const foreign = new Map();
  for (const c of run.credentials || []) {
    if (!c.foreign_run) continue;
    for (const i of c.calls) foreign.set(i, [...(foreign.get(i) || []), c.id]);
  }
  return (run.entries || []).map((e) => ({
    index: e.index,
    leaf_hash: e.leaf_hash,
    kind: e.kind,
    name: e.name,
    span_id: e.span_id ?? '',
    parent_span_id: e.parent_span_id ?? '',
    event_key: e.event_key ?? '',
    start: e.start ?? '',
    end: e.end ?? '',
    credential_id: e.attributes?.['credential.id'] ?? '',
    foreign_credential: (foreign.get(e.index) || []).join(' '),
    server_address: e.attributes?.['server.address'] ?? '',
    status: e.attributes?.['otel.status_code'] ?? '',
    caused_by: e.caused_by ?? '',
    content: (e.content || []).map((c) => `${c.name}${c.erased ? ' (erased)' : ''}`).join(' '),
    attributes: e.attributes || {},
  }));
}

export const RUN_COLUMNS = [
  'index', 'leaf_hash', 'kind', 'name', 'span_id', 'parent_span_id', 'event_key', 'start', 'end',
  'credential_id', 'foreign_credential', 'server_address', 'status', 'caused_by', 'content', 'attributes',
];

/** download offers text as a file. */
export function download(filename, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** safeFilename turns an ID into a file name part. */
export function safeFilename(s) {
  return String(s).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'export';
}
