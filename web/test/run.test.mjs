import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attestationGroups, credentialLinks } from '../static/js/views/run.js';

const att = (index, attrs) => ({ index, kind: 'attestation', attributes: attrs });

test('attestationGroups shows identical attestation entries once', () => {
  const what = { 'service.name': 'shadow-runner', 'service.version': '0.0.1', 'oci.manifest.digest': 'sha256:dead' };
  const groups = attestationGroups([
    att(38, { ...what, 'gen_ai.models': 'llama-3.1-8b' }),
    { index: 39, kind: 'llm', attributes: {} },
    att(40, what),
    att(41, { ...what, 'service.version': '0.0.2' }),
    att(42, { ...what, 'gen_ai.models': 'llama-3.1-70b llama-3.1-8b' }),
  ]);
  assert.equal(groups.length, 2);
  assert.deepEqual(groups[0].entries.map((e) => e.index), [38, 40, 42]);
  assert.deepEqual([...groups[0].models].sort(), ['llama-3.1-70b', 'llama-3.1-8b']);
  assert.deepEqual(groups[1].entries.map((e) => e.index), [41]);
});

test('credentialLinks indexes the run\'s credentials by call and ID', () => {
  const { byCall, byId } = credentialLinks({
    credentials: [
      { id: 'a', foreign_run: true, calls: [4, 7] },
      { id: 'b', foreign_run: false, calls: [7] },
      { id: 'c', foreign_run: false, calls: [] },
    ],
  });
  assert.deepEqual(byCall.get(7).map((c) => c.id), ['a', 'b']);
  assert.deepEqual(byCall.get(4).map((c) => c.id), ['a']);
  assert.equal(byCall.has(5), false);
  assert.equal(byId.get('c').id, 'c');
  assert.equal(credentialLinks({}).byCall.size, 0);
});
