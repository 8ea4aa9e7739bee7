// Completeness: the browser's check of an answer's completeness block, the
// proof that the answer lists every entry of the index keys it used
// (ledger/FORMAT.md, "Verifiable index"). It recomputes each key's list
// root (RFC 6962 over 8-byte big-endian indices), the map value, the
// prefix-tree proof (torchwood's prefix, AKD's whatsapp_v1 hashing) and
// checks the index note's Ed25519 signature with the pinned key.
//
// Only WebCrypto (globalThis.crypto.subtle) is used.

import {
  VerifyError, sha256, equalBytes, base64ToBytes, bytesToHex, parseVerifierKey, verifyNote, openCheckpoint,
} from './verify.js';

export const FAIL_INDEX = 'index_proof'; // a proof of the block does not verify
export const FAIL_INCOMPLETE = 'incomplete'; // the answer omits entries the index lists

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/** listRoot returns the RFC 6962 root of a key's list of indices. */
export async function listRoot(indices) {
  const leaves = await Promise.all(indices.map((i) => sha256(concat(Uint8Array.of(0), u64(i)))));
  const mth = async (lo, hi) => {
    if (hi - lo === 1) return leaves[lo];
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    return sha256(concat(Uint8Array.of(1), await mth(lo, lo + k), await mth(lo + k, hi)));
  };
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  return mth(0, leaves.length);
}

/** mapValue returns the map's value of a key: H(uint64(count) ‖ list_root). */
export function mapValue(count, root) {
  return sha256(concat(u64(count), root));
}

// Prefix-tree labels: {bits, bytes} with bytes 32 long.
const EMPTY = { bits: 0, bytes: new Uint8Array(32).fill(1) };
const ROOT = { bits: 0, bytes: new Uint8Array(32) };

const isEmpty = (l) => l.bits === 0 && equalBytes(l.bytes, EMPTY.bytes);
const bit = (l, i) => (l.bytes[i >> 3] >> (7 - (i & 7))) & 1;

function hasPrefix(l, p) {
  if (isEmpty(p) || l.bits < p.bits) return false;
  for (let i = 0; i < p.bits; i++) if (bit(l, i) !== bit(p, i)) return false;
  return true;
}

function commonPrefix(a, b) {
  const bytes = new Uint8Array(32);
  let n = 0;
  while (n < a.bits && n < b.bits && bit(a, n) === bit(b, n)) {
    if (bit(a, n)) bytes[n >> 3] |= 0x80 >> (n & 7);
    n++;
  }
  return { bits: n, bytes };
}

async function prefixNodeHash(label, value) {
  return sha256(concat(value, await sha256(concat(u32(label.bits), label.bytes))));
}

async function parentNode(a, b) {
  const label = commonPrefix(b.label, a.label);
  if (label.bits === 256) throw new Error('two equal nodes');
  if (isEmpty(a.label)) [a, b] = [b, a];
  if (isEmpty(a.label)) throw new Error('two empty nodes');
  if (!hasPrefix(a.label, label) || a.label.bits === label.bits) throw new Error('a node on neither side');
  const [left, right] = bit(a.label, label.bits) === 0 ? [a, b] : [b, a];
  return { label, hash: await prefixNodeHash(label, await sha256(concat(left.hash, right.hash))) };
}

async function inclusion(node, proof, root) {
  for (const s of proof) node = await parentNode(node, s);
  if (node.label.bits !== 0 || isEmpty(node.label)) throw new Error('the proof does not lead to the root');
  if (!equalBytes(node.hash, root)) throw new Error('the proof does not give the signed map root');
}

/**
 * verifyMapProof checks a membership proof of label with value (or, with
 * value null, a non-membership proof) against the map root.
 */
export async function verifyMapProof(label, value, proofNodes, root) {
  const proof = proofNodes.map((n) => ({ label: { bits: n.bits, bytes: base64ToBytes(n.label) }, hash: base64ToBytes(n.hash) }));
  for (const n of proof) {
    if (n.label.bytes.length !== 32 || n.hash.length !== 32 || n.label.bits > 256) throw new Error('a malformed proof node');
  }
  const l = { bits: 256, bytes: label };
  if (value !== null) {
    return inclusion({ label: l, hash: await prefixNodeHash(l, value) }, proof, root);
  }
  if (proof.length === 1 && isEmpty(proof[0].label)) {
    const empty = await prefixNodeHash(EMPTY, await prefixNodeHash(EMPTY, await sha256(Uint8Array.of(0))));
    const emptyRoot = await prefixNodeHash(ROOT, await sha256(Uint8Array.of(0)));
    if (equalBytes(proof[0].hash, empty) && equalBytes(emptyRoot, root)) return undefined;
  }
  if (proof.length < 2) throw new Error('a non-membership proof of fewer than two nodes');
  if (hasPrefix(l, proof[0].label) || hasPrefix(l, proof[1].label)) throw new Error('the key is in the map');
  const parent = await parentNode(proof[0], proof[1]);
  if (!hasPrefix(l, parent.label)) throw new Error('the proof is for another part of the map');
  return inclusion(parent, proof.slice(2), root);
}

/** openIndexNote verifies an agentledger-index/v2 note and parses it. */
export async function openIndexNote(msg, vk) {
  const lines = (await verifyNote(msg, vk)).split('\n');
  if (lines.length !== 6 || lines[0] !== 'agentledger-index/v2' || lines[5] !== '' || !/^(0|[1-9][0-9]{0,19})$/.test(lines[2])) {
    throw new VerifyError(FAIL_INDEX, 'the index note is malformed');
  }
  if (lines[1] !== vk.name) throw new VerifyError(FAIL_INDEX, `the index note is for log "${lines[1]}", the pinned key for "${vk.name}"`);
  const treeRoot = base64ToBytes(lines[3]);
  const mapRoot = base64ToBytes(lines[4]);
  if (treeRoot.length !== 32 || mapRoot.length !== 32) throw new VerifyError(FAIL_INDEX, 'the index note has a root of the wrong size');
  return { size: BigInt(lines[2]), treeRoot, mapRoot };
}

/**
 * lostEntries returns the entries the block's lost list names for key
 * proof p, if, added to the answer's indices idx, they give exactly the
 * signed count and list root; otherwise none (an unchecked claim names
 * nothing).
 */
async function lostEntries(block, p, idx, size) {
  const lost = (block.lost || []).find((l) => l.key === p.key);
  const extra = (lost?.indices || []).filter((i) => Number.isSafeInteger(i) && i >= 0 && BigInt(i) < size && !idx.includes(i));
  if (extra.length === 0) return [];
  const merged = [...new Set([...idx, ...extra])].sort((a, b) => a - b);
  if (merged.length !== p.count || !equalBytes(await listRoot(merged), base64ToBytes(p.list_root || ''))) return [];
  return extra.sort((a, b) => a - b);
}

/**
 * verifyCompleteness checks an answer's completeness block with the pinned
 * verifier key: the checkpoint and index note signatures, that they are for
 * the same tree, and for each key the list root and the map proof. need
 * are the keys the answer must prove; reported, for each key whose entries
 * the answer shows in full, the indices it shows. It returns the size the
 * answer is complete to and, per key, the entries the index lists that the
 * answer does not show; it throws a VerifyError for a block that does not
 * verify or misses a needed key.
 *
 * @param {object} block the answer's completeness block
 * @param {string|object} verifierKey the pinned key
 * @param {string[]} need
 * @param {Map<string, Set<number>>} reported
 */
export async function verifyCompleteness(block, verifierKey, need = [], reported = new Map()) {
  if (!block) throw new VerifyError(FAIL_INDEX, 'the answer carries no completeness proof (the ledger has no index note yet)');
  const vk = typeof verifierKey === 'string' ? await parseVerifierKey(verifierKey) : verifierKey;
  const cp = await openCheckpoint(block.checkpoint, vk);
  if (cp.size !== BigInt(block.size)) throw new VerifyError(FAIL_INDEX, `the block is for tree size ${block.size}, its checkpoint for ${cp.size}`);
  const keys = block.keys || [];
  for (const k of need) {
    if (!keys.some((p) => p.key === k)) throw new VerifyError(FAIL_INCOMPLETE, `the answer used ${k} but does not prove it complete`);
  }
  const out = { size: Number(block.size), keys: [], missing: [], complete: true };
  for (const p of keys) {
    const where = `index key ${p.key}`;
    const note = await openIndexNote(p.note, vk);
    if (note.size !== cp.size || !equalBytes(note.treeRoot, cp.root)) {
      throw new VerifyError(FAIL_INDEX, `${where}: its index note is not for checkpoint ${cp.size}`);
    }
    if (p.since !== 0) throw new VerifyError(FAIL_INDEX, `${where}: a delta answer, the browser asks for whole lists`);
    const idx = p.indices || [];
    for (let i = 0; i < idx.length; i++) {
      if (BigInt(idx[i]) >= note.size || (i > 0 && idx[i] <= idx[i - 1])) {
        throw new VerifyError(FAIL_INDEX, `${where}: its indices are not ascending below ${note.size}`);
      }
    }
    const label = await sha256(new TextEncoder().encode(p.key));
    try {
      if (p.count === 0) {
        await verifyMapProof(label, null, p.map_proof || [], note.mapRoot);
      } else {
        await verifyMapProof(label, await mapValue(p.count, base64ToBytes(p.list_root || '')), p.map_proof || [], note.mapRoot);
      }
    } catch (err) {
      throw new VerifyError(FAIL_INDEX, `${where}: the signed map does not hold ${p.count} entries with list root ${bytesToHex(base64ToBytes(p.list_root || '')).slice(0, 12)}: ${err.message}`);
    }
    if (idx.length !== p.count || (p.count > 0 && !equalBytes(await listRoot(idx), base64ToBytes(p.list_root)))) {
      const missing = p.count - idx.length;
      const named = missing > 0 ? await lostEntries(block, p, idx, note.size) : [];
      throw new VerifyError(FAIL_INCOMPLETE, missing > 0
        ? `${where} is incomplete as of checkpoint ${note.size}: the signed index holds ${p.count} entries, the answer ${idx.length} (${missing} missing)${
          named.length ? `: the answer omits ${named.map((i) => `entry ${i}`).join(', ')}, which carr${named.length === 1 ? 'ies' : 'y'} the key` : ''}`
        : `${where} as of checkpoint ${note.size}: the answer's ${idx.length} entries are not those the signed index holds`);
    }
    const shown = reported.get(p.key);
    const missing = shown ? idx.filter((i) => !shown.has(i)) : [];
    out.keys.push({ key: p.key, count: p.count, missing });
    for (const i of missing) out.missing.push({ key: p.key, index: i });
  }
  out.complete = out.missing.length === 0;
  return out;
}

/** describeCompleteness says what verifyCompleteness found, in a sentence. */
export function describeCompleteness(res) {
  if (res.complete) return `complete as of checkpoint ${res.size}`;
  const parts = res.keys.filter((k) => k.missing.length > 0).map((k) => `${k.key}: entries ${k.missing.join(', ')}`);
  return `incomplete as of checkpoint ${res.size}: the answer omits ${parts.join('; ')}`;
}
