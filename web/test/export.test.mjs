import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvCell, toCSV, credentialRows, CREDENTIAL_COLUMNS, runRows, RUN_COLUMNS } from '../static/js/export.js';

test('csvCell quotes and defuses formulas', () => {
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('line\nbreak'), '"line\nbreak"');
  assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvCell('+1'), "'+1");
  assert.equal(csvCell(null), '');
  assert.equal(csvCell(7), '7');
  assert.equal(csvCell(true), 'true');
  assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
});

test('toCSV of a credential view', () => {
  const view = {
    credential: { id: 'tok-1' },
    usages: [{
      trace_id: 't1', foreign_run: true, agent: { id: 'a', name: 'A' },
      calls: [{ entry: { index: 4, leaf_hash: 'ab', start: '2026-11-27T09:30:00Z' }, credential_id: 'tok-1', matched_by: ['credential_id'],
        target: { server_address: 'api.example.com', method: 'GET', path: '/x', status_code: '200' }, cause: { step_index: 2 }, tool: { name: 'execute_tool x' } }],
    }],
  };
  const blast = { targets: [{ server_address: 'api.example.com', method: 'GET', path: '/x', calls: [{ index: 4 }, { index: 9, trace_id: 't2', credential_id: 'tok-2' }] }] };
  const rows = credentialRows(view, blast);
  assert.equal(rows.length, 2);
  const csv = toCSV(CREDENTIAL_COLUMNS, rows);
  const lines = csv.trimEnd().split('\r\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[0], CREDENTIAL_COLUMNS.join(','));
  assert.match(lines[1], /^tok-1,t1,true,a,A,4,ab,2026-11-27T09:30:00Z,tok-1,credential_id,api\.example\.com,GET,\/x,200,2,execute_tool x$/);
  assert.match(lines[2], /,9,.*blast_radius/);
});

test('runRows', () => {
  const rows = runRows({ entries: [{ index: 1, kind: 'llm', name: 'chat', attributes: { 'credential.id': 'c' }, content: [{ name: 'reasoning', erased: true }] }] });
  assert.equal(rows[0].credential_id, 'c');
  assert.equal(rows[0].content, 'reasoning (erased)');
  assert.equal(toCSV(RUN_COLUMNS, rows).split('\r\n').length, 3);
});

test('runRows names the foreign credentials of each call', () => {
  const rows = runRows({
    entries: [{ index: 4, kind: 'api_call', name: 'GET', attributes: {} }, { index: 5, kind: 'api_call', name: 'POST', attributes: { 'credential.id': 'own' } }],
    credentials: [
      { id: 'leaked', foreign_run: true, calls: [4] },
      { id: 'own', foreign_run: false, calls: [5] },
    ],
  });
  assert.deepEqual(rows.map((r) => r.foreign_credential), ['leaked', '']);
  assert.match(toCSV(RUN_COLUMNS, rows).split('\r\n')[0], /,credential_id,foreign_credential,/);
});
