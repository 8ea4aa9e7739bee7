// Unit tests of the browser's completeness check against vectors made by
// the index package (testdata/index_vectors.json, TestIndexVectors) and
// the list and map vectors of ledger/FORMAT.md (ledger/testdata/index.json).
// Run: node --test web/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { base64ToBytes, bytesToBase64, bytesToHex } from '../static/js/verify.js';
import {
  listRoot, mapValue, verifyCompleteness, describeCompleteness, FAIL_INDEX, FAIL_INCOMPLETE,
} from '../static/js/completeness.js';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const V = JSON.parse(readFileSync(here('../testdata/index_vectors.json'), 'utf8'));
const SPEC = JSON.parse(readFileSync(here('../../ledger/testdata/index.json'), 'utf8'));

async function rejectsWith(p, code, re) {
  await assert.rejects(p, (err) => {
    assert.equal(err.code, code, `error ${err.code}: ${err.message}`);
    if (re) assert.match(err.message, re);
    return true;
  });
}

test('list roots and map values of the specification vectors', async () => {
  for (const k of SPEC.keys) {
    const root = await listRoot(k.indices);
    assert.equal(bytesToHex(root), k.list_root_hex, k.key);
    assert.equal(bytesToHex(await mapValue(k.indices.length, root)), k.value_hex, k.key);
  }
});

test('a block made by the index package verifies, present and absent keys', async () => {
  const reported = new Map(V.block.keys.map((p) => [p.key, new Set(p.indices)]));
  const res = await verifyCompleteness(V.block, V.verifier_key, V.block.keys.map((p) => p.key), reported);
  assert.equal(res.complete, true);
  assert.equal(res.size, V.block.size);
  assert.equal(describeCompleteness(res), `complete as of checkpoint ${V.block.size}`);
  assert.ok(V.block.keys.some((p) => p.count === 0) && V.block.keys.some((p) => p.count > 1));
});

test('an answer that omits an entry its proof lists is named', async () => {
  const p = V.block.keys.find((k) => k.count > 1);
  const shown = new Set(p.indices.slice(1));
  const res = await verifyCompleteness(V.block, V.verifier_key, [p.key], new Map([[p.key, shown]]));
  assert.equal(res.complete, false);
  assert.deepEqual(res.missing, [{ key: p.key, index: p.indices[0] }]);
  assert.equal(describeCompleteness(res), `incomplete as of checkpoint ${V.block.size}: the answer omits ${p.key}: entries ${p.indices[0]}`);
});

test('tampered blocks are caught', async () => {
  const present = V.block.keys.findIndex((k) => k.count > 1);
  const absent = V.block.keys.findIndex((k) => k.count === 0);
  const cases = [
    ['a list that skips one entry', (b) => { b.keys[present].indices.splice(1, 1); }, FAIL_INCOMPLETE, /1 missing/],
    ['a shorter list claimed', (b) => { b.keys[present].indices.splice(1, 1); b.keys[present].count--; }, FAIL_INDEX, /signed map does not hold/],
    ['an absent key claimed present', (b) => { b.keys[absent].count = 1; b.keys[absent].indices = [0]; b.keys[absent].list_root = bytesToBase64(new Uint8Array(32)); }, FAIL_INDEX],
    ['a present key claimed absent', (b) => { Object.assign(b.keys[present], { count: 0, indices: [], list_root: undefined }); }, FAIL_INDEX],
    ['a map proof node altered', (b) => { const h = base64ToBytes(b.keys[present].map_proof[0].hash); h[0] ^= 1; b.keys[present].map_proof[0].hash = bytesToBase64(h); }, FAIL_INDEX],
    ['an index note altered', (b) => { b.keys[present].note = b.keys[present].note.replace('agentledger-index/v2\n', 'agentledger-index/v2 \n'); }, 'signature'],
    ['the checkpoint of another size', (b) => { b.size -= 1; }, FAIL_INDEX],
    ['a key left out', (b) => { b.keys.splice(present, 1); }, FAIL_INCOMPLETE, /does not prove it complete/],
    ['no block', () => null, FAIL_INDEX],
  ];
  for (const [name, tamper, code, re] of cases) {
    const b = structuredClone(V.block);
    const out = tamper(b) === null ? null : b;
    await rejectsWith(verifyCompleteness(out, V.verifier_key, [V.block.keys[present].key]), code, re).catch((err) => {
      throw new Error(`${name}: ${err.message}`);
    });
  }
});

test('entries the references lost are named when they complete the signed list, and only then', async () => {
  const at = V.block.keys.findIndex((k) => k.count > 1);
  const p = V.block.keys[at];
  const lost = p.indices[1];
  const tampered = () => {
    const b = structuredClone(V.block);
    b.keys[at].indices.splice(1, 1);
    return b;
  };
  const named = tampered();
  named.lost = [{ key: p.key, indices: [lost] }];
  await rejectsWith(verifyCompleteness(named, V.verifier_key, [p.key]), FAIL_INCOMPLETE,
    new RegExp(`1 missing\\): the answer omits entry ${lost}, which carries the key$`));
  // A lost entry that does not give the signed list root names nothing.
  const wrong = tampered();
  wrong.lost = [{ key: p.key, indices: [lost + 1] }];
  await rejectsWith(verifyCompleteness(wrong, V.verifier_key, [p.key]), FAIL_INCOMPLETE, /1 missing\)$/);
  // Nor does one named for another key.
  const other = tampered();
  other.lost = [{ key: 'credential:someone-else', indices: [lost] }];
  await rejectsWith(verifyCompleteness(other, V.verifier_key, [p.key]), FAIL_INCOMPLETE, /1 missing\)$/);
});
