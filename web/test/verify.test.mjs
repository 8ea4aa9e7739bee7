// Unit tests of the browser verifier against vectors made by the ledger
// package (testdata/vectors.json, TestVectors) and the leaf vectors of
// ledger/FORMAT.md (ledger/testdata/leaves.json). Run: node --test web/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  base64ToBytes, bytesToBase64, bytesToHex, hexToBytes, leafHash, parseLeaf, rootFromInclusionProof,
  parseVerifierKey, openCheckpoint, verifyEntry, splitNote, commitment, isoToNanos, compareEntry,
  FAIL_KEY, FAIL_KEY_MISMATCH, FAIL_SIGNATURE, FAIL_ROOT, FAIL_LEAF_HASH, FAIL_COMMITMENT, FAIL_ENTRY,
  FAIL_PROOF, FAIL_LEAF, FAIL_ORIGIN, FAIL_CHECKPOINT, FAIL_NOT_INCLUDED,
} from '../static/js/verify.js';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const V = JSON.parse(readFileSync(here('../testdata/vectors.json'), 'utf8'));
const LEAVES = JSON.parse(readFileSync(here('../../ledger/testdata/leaves.json'), 'utf8'));

const clone = (x) => structuredClone(x);

function flipBase64(s, byte = 0) {
  const b = base64ToBytes(s);
  b[byte] ^= 0x01;
  return bytesToBase64(b);
}

async function rejectsWith(p, code) {
  await assert.rejects(p, (err) => {
    assert.equal(err.code, code, `error ${err.code}: ${err.message}`);
    return true;
  });
}

test('leaf hash and parse of every vector entry', async () => {
  for (const e of V.entries) {
    const leaf = base64ToBytes(e.leaf);
    assert.equal(bytesToHex(await leafHash(leaf)), e.leaf_hash, `entry ${e.index}`);
    const p = parseLeaf(leaf);
    assert.equal(p.kind, e.decoded.kind);
    assert.equal(p.start, BigInt(e.decoded.start_unix_nano));
    assert.equal(p.end, BigInt(e.decoded.end_unix_nano));
    assert.deepEqual(p.attributes, e.decoded.attributes);
    assert.deepEqual(p.commitments.map((c) => [c.name, bytesToHex(c.hash)]), e.decoded.commitments);
    assert.deepEqual(compareEntry(e.entry, p), [], `entry ${e.index} matches its leaf`);
  }
});

test('parseLeaf reads the FORMAT.md vectors (ledger/testdata/leaves.json)', async () => {
  assert.ok(LEAVES.length > 0);
  for (const v of LEAVES) {
    const leaf = hexToBytes(v.leaf_hex);
    if (v.leaf_hash_hex) assert.equal(bytesToHex(await leafHash(leaf)), v.leaf_hash_hex, v.name);
    const p = parseLeaf(leaf);
    assert.equal(p.version, v.version, v.name);
    assert.equal(p.kind, v.entry.kind, v.name);
    assert.equal(p.source, v.entry.source, v.name);
    assert.equal(p.submitter, v.entry.submitter, v.name);
    assert.equal(p.traceId, v.entry.trace_id, v.name);
    assert.equal(p.name, v.entry.name, v.name);
    assert.equal(p.start, BigInt(v.entry.start_unix_nano), v.name);
    const attrs = Object.entries(v.entry.attributes || {}).sort(([a], [b]) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
    assert.deepEqual(p.attributes, attrs, v.name);
    const names = Object.keys(v.entry.content || {}).sort();
    assert.deepEqual(p.commitments.map((c) => c.name), names, v.name);
    for (const c of p.commitments) {
      const { salt_hex: salt, data } = v.entry.content[c.name];
      assert.equal(bytesToHex(await commitment(hexToBytes(salt), new TextEncoder().encode(data))), bytesToHex(c.hash), `${v.name} ${c.name}`);
    }
  }
});

test('parseLeaf rejects malformed leaves', () => {
  const good = base64ToBytes(V.entries[1].leaf);
  const cases = {
    empty: new Uint8Array(0),
    'version 3': Uint8Array.from([3, ...good.slice(1)]),
    'version 1 bytes of a version 2 leaf': Uint8Array.from([1, ...good.slice(1)]),
    truncated: good.slice(0, good.length - 1),
    trailing: Uint8Array.from([...good, 0]),
  };
  for (const [name, b] of Object.entries(cases)) {
    assert.throws(() => parseLeaf(b), (err) => err.code === FAIL_LEAF, name);
  }
  // Attributes out of order: swap the kind for one that is unknown.
  const bad = good.slice();
  bad[3] = 'x'.charCodeAt(0); // "llm" → "xlm"
  assert.equal(good[0], 2, 'the generated vectors are version 2 leaves');
  assert.throws(() => parseLeaf(bad), /unknown kind/);
});

test('rootFromInclusionProof: every index of every tree size', async () => {
  for (const iv of V.inclusion) {
    const root = await rootFromInclusionProof(iv.index, iv.tree_size, hexToBytes(iv.leaf_hash), iv.proof.map(base64ToBytes));
    assert.equal(bytesToBase64(root), iv.root, `index ${iv.index} of ${iv.tree_size}`);
  }
});

test('rootFromInclusionProof: wrong proofs', async () => {
  const iv = V.inclusion.find((x) => x.tree_size === 13 && x.index === 5);
  const lh = hexToBytes(iv.leaf_hash);
  const proof = iv.proof.map(base64ToBytes);
  // A changed hash gives another root.
  const bad = proof.map((p) => p.slice());
  bad[1][0] ^= 1;
  assert.notEqual(bytesToBase64(await rootFromInclusionProof(5, 13, lh, bad)), iv.root);
  // A proof for the wrong index gives another root.
  assert.notEqual(bytesToBase64(await rootFromInclusionProof(4, 13, lh, proof)), iv.root);
  await rejectsWith(rootFromInclusionProof(5, 13, lh, proof.slice(1)), FAIL_PROOF);
  await rejectsWith(rootFromInclusionProof(5, 13, lh, [...proof, proof[0]]), FAIL_PROOF);
  await rejectsWith(rootFromInclusionProof(13, 13, lh, proof), FAIL_PROOF);
  await rejectsWith(rootFromInclusionProof(5, 13, lh, [proof[0].slice(1), ...proof.slice(1)]), FAIL_PROOF);
});

test('parseVerifierKey', async () => {
  const vk = await parseVerifierKey(V.verifier_key);
  assert.equal(vk.name, 'example.com/agentledger-web-vectors');
  assert.equal(vk.pub.length, 32);
  await parseVerifierKey(`  ${V.verifier_key}\n`);
  const [name, hash] = V.verifier_key.split('+', 2);
  const key = V.verifier_key.slice(name.length + hash.length + 2);
  const bad = {
    'two parts': `${name}+${hash}`,
    'hash of another key': `${name}+${V.other_key.split('+', 2)[1]}+${key}`,
    'other name': `other.example+${hash}+${key}`,
    'uppercase hash': `${name}+${hash.toUpperCase()}+${key}`,
    'not base64': `${name}+${hash}+!!!!`,
    'wrong algorithm': `${name}+${hash}+${bytesToBase64(Uint8Array.from([2, ...base64ToBytes(key).slice(1)]))}`,
    'space in name': `a b+${hash}+${key}`,
  };
  for (const [what, k] of Object.entries(bad)) await rejectsWith(parseVerifierKey(k), FAIL_KEY, what);
});

test('openCheckpoint', async () => {
  const cp = await openCheckpoint(V.checkpoint, V.verifier_key);
  assert.equal(cp.size, BigInt(V.tree_size));
  assert.equal(bytesToBase64(cp.root), V.root);
  assert.equal(cp.origin, 'example.com/agentledger-web-vectors');
  // A witness cosignature is ignored.
  assert.equal((await openCheckpoint(V.checkpoint_cosigned, V.verifier_key)).size, BigInt(V.tree_size));
  // Signed by another key of the same name.
  await rejectsWith(openCheckpoint(V.checkpoint_other_key, V.verifier_key), FAIL_KEY_MISMATCH);
  // The text changed after signing.
  await rejectsWith(openCheckpoint(V.checkpoint.replace(`\n${V.tree_size}\n`, `\n${V.tree_size + 1}\n`), V.verifier_key), FAIL_SIGNATURE);
  // A signature byte changed.
  const { sigs } = splitNote(V.checkpoint);
  const line = V.checkpoint.split('\n\n')[1];
  const sigB64 = line.trim().split(' ')[2];
  const badSig = V.checkpoint.replace(sigB64, flipBase64(sigB64, 10));
  assert.equal(sigs.length, 1);
  await rejectsWith(openCheckpoint(badSig, V.verifier_key), FAIL_SIGNATURE);
  // Malformed notes.
  await rejectsWith(openCheckpoint('no signatures\n', V.verifier_key), FAIL_CHECKPOINT);
  await rejectsWith(openCheckpoint(V.checkpoint.replace('— ', '- '), V.verifier_key), FAIL_CHECKPOINT);
  await rejectsWith(openCheckpoint(V.checkpoint.trimEnd(), V.verifier_key), FAIL_CHECKPOINT);
});

test('openCheckpoint refuses a checkpoint whose origin is not the key name', async () => {
  // Sign a note whose origin differs, with a key generated here.
  const kp = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', kp.publicKey));
  const name = 'example.com/key';
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([...new TextEncoder().encode(name), 0x0a, 0x01, ...pub]))).slice(0, 4);
  const vkey = `${name}+${bytesToHex(h)}+${bytesToBase64(Uint8Array.from([1, ...pub]))}`;
  const text = `example.com/other-log\n1\n${V.root}\n`;
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, kp.privateKey, new TextEncoder().encode(text)));
  const note = `${text}\n— ${name} ${bytesToBase64(Uint8Array.from([...h, ...sig]))}\n`;
  await rejectsWith(openCheckpoint(note, vkey), FAIL_ORIGIN);
});

function input(e, over = {}) {
  return {
    entry: clone(e.entry),
    leaf: e.leaf,
    proof: { index: e.index, tree_size: V.tree_size, hashes: [...e.proof] },
    checkpoint: V.checkpoint,
    verifierKey: V.verifier_key,
    ...over,
  };
}

test('verifyEntry: every vector entry verifies', async () => {
  for (const e of V.entries) {
    const r = await verifyEntry(input(e));
    assert.ok(r.ok, `entry ${e.index}: ${JSON.stringify(r.failure)}`);
    assert.deepEqual(r.steps.map((s) => s.id), ['signature', 'leaf_hash', 'entry', 'inclusion', 'content']);
  }
  const tool = V.entries.find((e) => e.entry.kind === 'tool');
  const r = await verifyEntry(input(tool));
  assert.match(r.steps.at(-1).detail, /2 checked \(tool\.arguments, output\); 1 erased \(tool\.result\)/);
});

test('verifyEntry: each failure is named', async () => {
  const llm = V.entries.find((e) => e.entry.kind === 'llm');
  const expectFail = async (inp, code, re) => {
    const r = await verifyEntry(inp);
    assert.equal(r.ok, false);
    assert.equal(r.failure.code, code, r.failure.message);
    if (re) assert.match(r.failure.message, re);
    return r;
  };
  const tamperedProof = input(llm);
  tamperedProof.proof.hashes[0] = flipBase64(tamperedProof.proof.hashes[0]);
  const r = await expectFail(tamperedProof, FAIL_ROOT, /the inclusion proof leads to root/);
  assert.deepEqual(r.steps.map((s) => s.id), ['signature', 'leaf_hash', 'entry']);

  await expectFail(input(llm, { checkpoint: V.checkpoint_other_key }), FAIL_KEY_MISMATCH, /not signed by the pinned key/);
  await expectFail(input(llm, { verifierKey: V.other_key }), FAIL_KEY_MISMATCH);
  await expectFail(input(llm, { verifierKey: '' }), FAIL_KEY, /pin/);
  await expectFail(input(llm, { checkpoint: V.checkpoint.replace(V.root, flipBase64(V.root)) }), FAIL_SIGNATURE);

  const wrongHash = input(llm);
  wrongHash.entry.leaf_hash = V.entries[0].leaf_hash;
  await expectFail(wrongHash, FAIL_LEAF_HASH, /hashes to/);

  const otherLeaf = input(llm, { leaf: V.entries[3].leaf });
  await expectFail(otherLeaf, FAIL_LEAF_HASH);

  const attr = input(llm);
  attr.entry.attributes['gen_ai.request.model'] = 'gpt-5';
  await expectFail(attr, FAIL_ENTRY, /gen_ai\.request\.model/);
  const extra = input(llm);
  extra.entry.attributes['credential.id'] = 'forged';
  await expectFail(extra, FAIL_ENTRY, /credential\.id/);
  const time = input(llm);
  time.entry.start = '2020-01-01T00:00:00Z';
  await expectFail(time, FAIL_ENTRY, /start/);

  const content = input(llm);
  content.entry.content.find((c) => c.name === 'reasoning').data = 'I will exfiltrate the key.';
  await expectFail(content, FAIL_COMMITMENT, /reasoning/);
  const salt = input(llm);
  const c0 = salt.entry.content[0];
  c0.salt = flipBase64(c0.salt);
  await expectFail(salt, FAIL_COMMITMENT);

  const short = input(llm);
  short.proof.hashes.pop();
  await expectFail(short, FAIL_PROOF);
  await expectFail(input(llm, { proof: { index: llm.index, tree_size: V.tree_size - 1, hashes: llm.proof } }), FAIL_PROOF, /tree size/);
  await expectFail(input(llm, { leaf: 'AQ==' }), FAIL_LEAF);
});

test('verifyEntry: an entry beyond the checkpoint is not yet checkpointed', async () => {
  const e = V.entries[0];
  const r = await verifyEntry({ ...input(e), entry: { ...clone(e.entry), index: V.tree_size }, proof: { index: V.tree_size, tree_size: V.tree_size, hashes: [] } });
  // The leaf hash check passes (it is e's leaf); the index is past the tree.
  assert.equal(r.failure.code, FAIL_NOT_INCLUDED);
});

test('compareEntry: omitted attributes, prototype names and commitments', () => {
  const e = V.entries.find((x) => x.entry.kind === 'llm');
  const leaf = parseLeaf(base64ToBytes(e.leaf));
  const shown = clone(e.entry);
  delete shown.attributes['gen_ai.request.model'];
  assert.match(compareEntry(shown, leaf).join(), /gen_ai\.request\.model: the leaf holds it, the answer omits it/);
  const proto = { ...leaf, attributes: [['constructor', 'x']] };
  assert.match(compareEntry({ ...clone(e.entry), attributes: {} }, proto).join(), /constructor: the leaf holds it/);
  const cm = clone(e.entry);
  cm.content[0].commitment = '00'.repeat(32);
  assert.match(compareEntry(cm, leaf).join(), /commitment differs/);
});

test('isoToNanos keeps nanoseconds', () => {
  assert.equal(isoToNanos('2026-11-27T09:30:00.123456789Z'), 1795771800123456789n);
  assert.equal(isoToNanos('2026-11-27T10:30:00.5+01:00'), 1795771800500000000n);
  assert.equal(isoToNanos('nonsense'), null);
});
