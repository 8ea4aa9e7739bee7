// Verification of agentledger answers in the browser, trusting nothing the
// server says about hashes: the leaf hash is computed from the leaf bytes,
// the root from the inclusion proof, and the tree size and root are taken
// only from a checkpoint whose Ed25519 signature checks against the
// verifier key the user pinned. Content is checked against the salted
// commitments in the verified leaf.
//
// The formats are those of ledger/FORMAT.md: RFC 6962 / RFC 9162 hashing,
// C2SP tlog-checkpoint and signed-note, and the version 1 leaf encoding.
//
// This module uses only WebCrypto (globalThis.crypto.subtle) and standard
// JavaScript, so that it runs unchanged in browsers and in Node.js tests.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** VerifyError is a verification failure with a stable code. */
export class VerifyError extends Error {
  /**
   * @param {string} code one of the FAIL_* codes
   * @param {string} message what failed, for people
   */
  constructor(code, message) {
    super(message);
    this.name = 'VerifyError';
    this.code = code;
  }
}

// Failure codes, stable for tests and for styling.
export const FAIL_KEY = 'key_invalid'; // the pinned verifier key is malformed
export const FAIL_KEY_MISMATCH = 'key_mismatch'; // no signature by the pinned key
export const FAIL_SIGNATURE = 'signature'; // a signature by the pinned key does not verify
export const FAIL_CHECKPOINT = 'checkpoint_malformed';
export const FAIL_ORIGIN = 'origin_mismatch';
export const FAIL_LEAF = 'leaf_malformed';
export const FAIL_LEAF_HASH = 'leaf_hash_mismatch';
export const FAIL_ENTRY = 'entry_mismatch'; // the answer shows facts the leaf does not hold
export const FAIL_PROOF = 'proof_malformed';
export const FAIL_ROOT = 'root_mismatch';
export const FAIL_COMMITMENT = 'content_commitment_mismatch';
export const FAIL_NOT_INCLUDED = 'not_checkpointed';

/** Human labels of the failure codes. */
export const FAILURE_LABELS = {
  [FAIL_KEY]: 'Verifier key invalid',
  [FAIL_KEY_MISMATCH]: 'Key mismatch',
  [FAIL_SIGNATURE]: 'Signature invalid',
  [FAIL_CHECKPOINT]: 'Checkpoint malformed',
  [FAIL_ORIGIN]: 'Origin mismatch',
  [FAIL_LEAF]: 'Leaf malformed',
  [FAIL_LEAF_HASH]: 'Leaf hash mismatch',
  [FAIL_ENTRY]: 'Entry does not match its leaf',
  [FAIL_PROOF]: 'Inclusion proof malformed',
  [FAIL_ROOT]: 'Root mismatch',
  [FAIL_COMMITMENT]: 'Content commitment mismatch',
  [FAIL_NOT_INCLUDED]: 'Not yet checkpointed',
};

// ---------------------------------------------------------------------------
// Encodings.

/** hexToBytes decodes lowercase or uppercase hex. */
export function hexToBytes(hex) {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError('not hex');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

/** bytesToHex encodes bytes as lowercase hex. */
export function bytesToHex(b) {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** base64ToBytes decodes standard base64 (with padding), strictly. */
export function base64ToBytes(s) {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
    throw new TypeError('not base64');
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** bytesToBase64 encodes bytes as standard base64. */
export function bytesToBase64(b) {
  let bin = '';
  for (const x of b) bin += String.fromCharCode(x);
  return btoa(bin);
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** equalBytes compares two byte arrays. */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// ---------------------------------------------------------------------------
// RFC 6962 hashing.

/** sha256 returns SHA-256(data). */
export async function sha256(data) {
  return new Uint8Array(await subtle.digest('SHA-256', data));
}

/** leafHash returns the RFC 6962 leaf hash SHA-256(0x00 ‖ leaf). */
export function leafHash(leaf) {
  return sha256(concat(Uint8Array.of(0), leaf));
}

/** nodeHash returns the RFC 6962 interior node hash SHA-256(0x01 ‖ l ‖ r). */
export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/**
 * rootFromInclusionProof computes the root of a tree of size treeSize from
 * the leaf hash at index and its inclusion proof, per RFC 9162 §2.1.3.2.
 * It throws a VerifyError(FAIL_PROOF) for a proof of the wrong shape.
 *
 * @param {bigint|number} index
 * @param {bigint|number} treeSize
 * @param {Uint8Array} leaf the leaf hash
 * @param {Uint8Array[]} proof
 */
export async function rootFromInclusionProof(index, treeSize, leaf, proof) {
  let fn = BigInt(index);
  let sn = BigInt(treeSize) - 1n;
  if (BigInt(index) >= BigInt(treeSize)) {
    throw new VerifyError(FAIL_PROOF, `index ${index} is not below tree size ${treeSize}`);
  }
  let r = leaf;
  for (const p of proof) {
    if (p.length !== 32) throw new VerifyError(FAIL_PROOF, `proof hash of ${p.length} bytes, want 32`);
    if (sn === 0n) throw new VerifyError(FAIL_PROOF, 'proof is longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerifyError(FAIL_PROOF, 'proof is shorter than the tree is deep');
  return r;
}

// ---------------------------------------------------------------------------
// Leaves (ledger/FORMAT.md, versions 1 and 2).

const KINDS = new Set(['agent', 'llm', 'tool', 'api_call', 'credential', 'approval', 'attestation', 'erasure', 'access', 'span']);

function leafError(msg) {
  return new VerifyError(FAIL_LEAF, `leaf: ${msg}`);
}

function isLowerHex(s, n) {
  return s.length === n && /^[0-9a-f]*$/.test(s);
}

/** compareBytes orders strings bytewise by their UTF-8 encoding. */
function compareBytes(a, b) {
  const x = enc.encode(a);
  const y = enc.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * parseLeaf decodes leaf bytes strictly, as ledger.DecodeLeaf does. Times
 * are BigInt nanoseconds since the Unix epoch (0n: unknown).
 *
 * @param {Uint8Array} b
 * @returns {{version:number, kind:string, source:string, submitter:string,
 *   traceId:string, spanId:string,
 *   parentSpanId:string, eventKey:string, name:string, start:bigint,
 *   end:bigint, attributes:Array<[string,string]>,
 *   commitments:Array<{name:string, hash:Uint8Array}>}}
 */
export function parseLeaf(b) {
  if (!(b instanceof Uint8Array)) throw leafError('not bytes');
  if (b.length > 65535) throw leafError(`${b.length} bytes exceeds 65535`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = 0;
  const need = (n) => {
    if (off + n > b.length) throw leafError('truncated');
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(off);
    off += 2;
    return v;
  };
  const str = () => {
    const n = u16();
    need(n);
    let s;
    try {
      s = dec.decode(b.subarray(off, off + n));
    } catch {
      throw leafError('invalid UTF-8');
    }
    if (s.includes('\0')) throw leafError('string contains NUL');
    off += n;
    return s;
  };
  const i64 = () => {
    need(8);
    const v = dv.getBigInt64(off);
    off += 8;
    return v;
  };
  need(1);
  const version = b[off++];
  if (version !== 1 && version !== 2) throw leafError(`version ${version}, want 1 or 2`);
  const kind = str();
  const source = version >= 2 ? str() : '';
  const submitter = version >= 2 ? str() : '';
  const traceId = str();
  const spanId = str();
  const parentSpanId = str();
  const eventKey = str();
  const name = str();
  const start = i64();
  const end = i64();
  const attributes = [];
  for (let i = 0, n = u16(); i < n; i++) {
    const k = str();
    const v = str();
    if (k === '') throw leafError('empty attribute name');
    if (i > 0 && compareBytes(k, attributes[i - 1][0]) <= 0) {
      throw leafError(`attributes not in strictly ascending order at "${k}"`);
    }
    attributes.push([k, v]);
  }
  const commitments = [];
  for (let i = 0, n = u16(); i < n; i++) {
    const cname = str();
    need(32);
    const hash = b.slice(off, off + 32);
    off += 32;
    if (cname === '') throw leafError('empty commitment name');
    if (i > 0 && compareBytes(cname, commitments[i - 1].name) <= 0) {
      throw leafError(`commitments not in strictly ascending order at "${cname}"`);
    }
    commitments.push({ name: cname, hash });
  }
  if (off !== b.length) throw leafError(`${b.length - off} trailing bytes`);
  if (!KINDS.has(kind)) throw leafError(`unknown kind "${kind}"`);
  if (source !== '' && !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(source)) throw leafError(`source "${source}" is not a valid source`);
  if (enc.encode(submitter).length > 1024) throw leafError('submitter exceeds 1024 bytes');
  if (traceId !== '' && !isLowerHex(traceId, 32)) throw leafError('trace_id: want 32 lowercase hex digits');
  if (spanId !== '' && !isLowerHex(spanId, 16)) throw leafError('span_id: want 16 lowercase hex digits');
  if (parentSpanId !== '' && !isLowerHex(parentSpanId, 16)) {
    throw leafError('parent_span_id: want 16 lowercase hex digits');
  }
  return { version, kind, source, submitter, traceId, spanId, parentSpanId, eventKey, name, start, end, attributes, commitments };
}

/**
 * commitment returns SHA-256(salt ‖ data), the content commitment a leaf
 * holds.
 */
export function commitment(salt, data) {
  return sha256(concat(salt, data));
}

// ---------------------------------------------------------------------------
// Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint).

/**
 * keyHash returns the 4-byte key hash of a signed-note Ed25519 key: the
 * first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ pubkey).
 */
export async function keyHash(name, pub) {
  const h = await sha256(concat(enc.encode(name), Uint8Array.of(0x0a, 0x01), pub));
  return h.slice(0, 4);
}

function validKeyName(name) {
  // A key name is non-empty UTF-8 without '+' or whitespace (Unicode
  // spaces included), as golang.org/x/mod/sumdb/note requires.
  return name !== '' && !/[+\s\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name);
}

/**
 * parseVerifierKey parses a verifier key "<name>+<hex8 key hash>+<base64(0x01 ‖
 * pubkey)>" and checks that its key hash matches its name and key.
 *
 * @returns {Promise<{name:string, hash:Uint8Array, pub:Uint8Array, key:string}>}
 */
export async function parseVerifierKey(key) {
  if (typeof key !== 'string') throw new VerifyError(FAIL_KEY, 'verifier key: not text');
  key = key.trim();
  // The name and hash end at the first two '+'; the base64 key may hold
  // '+' itself.
  const i = key.indexOf('+');
  const j = i < 0 ? -1 : key.indexOf('+', i + 1);
  if (j < 0) throw new VerifyError(FAIL_KEY, 'verifier key: want <name>+<hash>+<key>');
  const name = key.slice(0, i);
  const hashHex = key.slice(i + 1, j);
  const keyB64 = key.slice(j + 1);
  if (!validKeyName(name)) throw new VerifyError(FAIL_KEY, 'verifier key: invalid name');
  if (!/^[0-9a-f]{8}$/.test(hashHex)) throw new VerifyError(FAIL_KEY, 'verifier key: hash must be 8 lowercase hex digits');
  let raw;
  try {
    raw = base64ToBytes(keyB64);
  } catch {
    throw new VerifyError(FAIL_KEY, 'verifier key: key is not base64');
  }
  if (raw.length !== 33 || raw[0] !== 0x01) {
    throw new VerifyError(FAIL_KEY, 'verifier key: not an Ed25519 key (want 0x01 and 32 bytes)');
  }
  const pub = raw.slice(1);
  const hash = hexToBytes(hashHex);
  if (!equalBytes(hash, await keyHash(name, pub))) {
    throw new VerifyError(FAIL_KEY, 'verifier key: its hash does not match its name and key');
  }
  return { name, hash, pub, key };
}

/**
 * splitNote splits a signed note into its text (up to and including the
 * final newline before the blank line) and its signature lines, as
 * golang.org/x/mod/sumdb/note does.
 *
 * @param {string} msg
 * @returns {{text:string, sigs:Array<{name:string, hash:Uint8Array, sig:Uint8Array}>}}
 */
export function splitNote(msg) {
  if (typeof msg !== 'string') throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: not text');
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: no signature block (no blank line)');
  const text = msg.slice(0, split + 1);
  const block = msg.slice(split + 2);
  if (!block.endsWith('\n')) throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: signature block does not end in a newline');
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if ((c < 0x20 && c !== 0x0a) || c === 0x7f) {
      throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: text holds a control character');
    }
  }
  const sigs = [];
  for (const line of block.slice(0, -1).split('\n')) {
    const m = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!m) throw new VerifyError(FAIL_CHECKPOINT, `checkpoint: malformed signature line "${line.slice(0, 80)}"`);
    let raw;
    try {
      raw = base64ToBytes(m[2]);
    } catch {
      throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: signature is not base64');
    }
    if (raw.length < 5) throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: signature too short');
    sigs.push({ name: m[1], hash: raw.slice(0, 4), sig: raw.slice(4) });
  }
  if (sigs.length === 0) throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: no signatures');
  return { text, sigs };
}

/** ed25519Verify checks an Ed25519 signature with WebCrypto. */
export async function ed25519Verify(pub, sig, msg) {
  const key = await subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
  return subtle.verify({ name: 'Ed25519' }, key, sig, msg);
}

/**
 * verifyNote checks that a signed note carries a valid signature by the
 * pinned verifier key and returns its text. Signatures by other keys
 * (witness cosignatures) are ignored.
 *
 * @param {string} msg the signed note
 * @param {{name:string, hash:Uint8Array, pub:Uint8Array}} vk a parsed verifier key
 */
export async function verifyNote(msg, vk) {
  const { text, sigs } = splitNote(msg);
  const mine = sigs.filter((s) => s.name === vk.name && equalBytes(s.hash, vk.hash));
  if (mine.length === 0) {
    const by = [...new Set(sigs.map((s) => `${s.name}+${bytesToHex(s.hash)}`))].join(', ');
    throw new VerifyError(FAIL_KEY_MISMATCH,
      `the checkpoint is not signed by the pinned key ${vk.name}+${bytesToHex(vk.hash)}; it is signed by ${by}`);
  }
  for (const s of mine) {
    if (s.sig.length === 64 && (await ed25519Verify(vk.pub, s.sig, enc.encode(text)))) return text;
  }
  throw new VerifyError(FAIL_SIGNATURE,
    `the checkpoint's signature by ${vk.name}+${bytesToHex(vk.hash)} does not verify: the checkpoint was altered or forged`);
}

/**
 * parseCheckpoint parses a checkpoint note text: origin, decimal tree size
 * and base64 root hash lines, then any extension lines.
 *
 * @returns {{origin:string, size:bigint, root:Uint8Array}}
 */
export function parseCheckpoint(text) {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') {
    throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: want origin, size and root lines');
  }
  const [origin, sizeLine, rootLine] = lines;
  if (origin === '') throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: empty origin');
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeLine) || BigInt(sizeLine) >= 1n << 64n) {
    throw new VerifyError(FAIL_CHECKPOINT, `checkpoint: tree size "${sizeLine.slice(0, 40)}" is not a decimal number`);
  }
  let root;
  try {
    root = base64ToBytes(rootLine);
  } catch {
    throw new VerifyError(FAIL_CHECKPOINT, 'checkpoint: root hash is not base64');
  }
  if (root.length !== 32) throw new VerifyError(FAIL_CHECKPOINT, `checkpoint: root hash of ${root.length} bytes, want 32`);
  return { origin, size: BigInt(sizeLine), root };
}

/**
 * openCheckpoint verifies a signed checkpoint against a verifier key and
 * parses it. Its origin must be the key's name, as for agentledger's logs.
 *
 * @param {string} msg the signed note
 * @param {string|object} verifierKey the pinned key, as text or parsed
 */
export async function openCheckpoint(msg, verifierKey) {
  const vk = typeof verifierKey === 'string' ? await parseVerifierKey(verifierKey) : verifierKey;
  const text = await verifyNote(msg, vk);
  const cp = parseCheckpoint(text);
  if (cp.origin !== vk.name) {
    throw new VerifyError(FAIL_ORIGIN, `the checkpoint is for log "${cp.origin}", the pinned key for "${vk.name}"`);
  }
  return cp;
}

// ---------------------------------------------------------------------------
// Entries: an answer's entry against its leaf.

function nanosToISO(ns) {
  if (ns === 0n) return '';
  const ms = ns / 1000000n;
  const frac = (ns % 1000000000n).toString().padStart(9, '0').replace(/0+$/, '');
  const base = new Date(Number(ms)).toISOString().slice(0, 19);
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}

/** isoToNanos parses an RFC 3339 time to BigInt nanoseconds. */
export function isoToNanos(s) {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return null;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return null;
  return BigInt(ms) * 1000000n + BigInt((m[2] || '').padEnd(9, '0'));
}

/**
 * compareEntry lists the differences between an entry as an API answer
 * shows it (api.Entry JSON) and the parsed leaf. An empty list means the
 * answer shows exactly what the leaf holds.
 */
export function compareEntry(entry, leaf) {
  const diffs = [];
  const field = (name, got, want) => {
    if ((got ?? '') !== want) diffs.push(`${name}: the answer shows "${got ?? ''}", the leaf holds "${want}"`);
  };
  field('kind', entry.kind, leaf.kind);
  field('source', entry.source, leaf.source);
  field('submitter', entry.submitter, leaf.submitter);
  field('trace_id', entry.trace_id, leaf.traceId);
  field('span_id', entry.span_id, leaf.spanId);
  field('parent_span_id', entry.parent_span_id, leaf.parentSpanId);
  field('event_key', entry.event_key, leaf.eventKey);
  field('name', entry.name, leaf.name);
  for (const [key, ns] of [['start', leaf.start], ['end', leaf.end]]) {
    const shown = entry[key] ? isoToNanos(entry[key]) : 0n;
    if (shown !== ns) diffs.push(`${key}: the answer shows "${entry[key] ?? ''}", the leaf holds "${nanosToISO(ns)}"`);
  }
  const attrs = entry.attributes || {};
  const leafAttrs = new Map(leaf.attributes);
  for (const [k, v] of Object.entries(attrs)) {
    if (!leafAttrs.has(k)) diffs.push(`attribute ${k}: the answer shows it, the leaf does not hold it`);
    else if (leafAttrs.get(k) !== v) diffs.push(`attribute ${k}: the answer shows "${v}", the leaf holds "${leafAttrs.get(k)}"`);
  }
  for (const [k] of leaf.attributes) {
    if (!Object.hasOwn(attrs, k)) diffs.push(`attribute ${k}: the leaf holds it, the answer omits it`);
  }
  const leafCms = new Map(leaf.commitments.map((c) => [c.name, bytesToHex(c.hash)]));
  for (const c of entry.content || []) {
    if (!leafCms.has(c.name)) diffs.push(`content ${c.name}: the leaf holds no commitment of that name`);
    else if (c.commitment && c.commitment.toLowerCase() !== leafCms.get(c.name)) {
      diffs.push(`content ${c.name}: the answer's commitment differs from the leaf's`);
    }
  }
  return diffs;
}

/**
 * checkContent checks every piece of content an answer returns against the
 * leaf's commitments: SHA-256(salt ‖ data). It returns the names checked
 * and the names erased (commitment in the leaf, content gone).
 */
export async function checkContent(entry, leaf) {
  const leafCms = new Map(leaf.commitments.map((c) => [c.name, c.hash]));
  const checked = [];
  const erased = [];
  for (const c of entry.content || []) {
    if (c.erased || c.data == null) {
      if (c.erased) erased.push(c.name);
      continue;
    }
    const want = leafCms.get(c.name);
    if (!want) throw new VerifyError(FAIL_COMMITMENT, `content ${c.name}: the leaf holds no commitment for it`);
    let salt;
    let data;
    try {
      salt = base64ToBytes(c.salt || '');
      data = c.encoding === 'base64' ? base64ToBytes(c.data) : enc.encode(c.data);
    } catch {
      throw new VerifyError(FAIL_COMMITMENT, `content ${c.name}: salt or data is not well-formed`);
    }
    if (!equalBytes(await commitment(salt, data), want)) {
      throw new VerifyError(FAIL_COMMITMENT,
        `content ${c.name}: SHA-256(salt ‖ content) does not match the leaf's commitment: the content shown was altered`);
    }
    checked.push(c.name);
  }
  return { checked, erased };
}

/**
 * verifyEntry verifies an entry of an answer end to end:
 *
 *  1. the checkpoint's signature against the pinned verifier key;
 *  2. the leaf bytes parse, and their hash (computed here) is the one the
 *     answer claims;
 *  3. the answer's facts are the leaf's;
 *  4. the inclusion proof leads from the leaf hash to the checkpoint's root;
 *  5. every piece of content shown matches its commitment in the leaf.
 *
 * It never throws: it returns {ok, steps, failure}, where steps lists what
 * was checked and failure (when not ok) says exactly what failed.
 *
 * @param {object} a
 * @param {object} a.entry the entry as the answer shows it (api.Entry)
 * @param {string} a.leaf the leaf bytes, base64 (from /v1/entries/{index})
 * @param {object} a.proof the inclusion proof (api.InclusionProof)
 * @param {string} a.checkpoint the signed checkpoint note
 * @param {string} a.verifierKey the pinned verifier key
 */
export async function verifyEntry({ entry, leaf, proof, checkpoint, verifierKey }) {
  const steps = [];
  const step = (id, detail) => steps.push({ id, ok: true, detail });
  try {
    if (!verifierKey) throw new VerifyError(FAIL_KEY, 'no verifier key is pinned: pin the log\'s key in Settings');
    const vk = await parseVerifierKey(verifierKey);
    const cp = await openCheckpoint(checkpoint, vk);
    step('signature', `checkpoint of tree size ${cp.size} signed by ${vk.name}+${bytesToHex(vk.hash)}`);

    let leafBytes;
    try {
      leafBytes = base64ToBytes(leaf);
    } catch {
      throw new VerifyError(FAIL_LEAF, 'leaf: not base64');
    }
    const parsed = parseLeaf(leafBytes);
    const lh = await leafHash(leafBytes);
    if (entry.leaf_hash && entry.leaf_hash.toLowerCase() !== bytesToHex(lh)) {
      throw new VerifyError(FAIL_LEAF_HASH,
        `the answer names leaf hash ${entry.leaf_hash.slice(0, 16)}…, but the leaf at index ${entry.index} hashes to ${bytesToHex(lh).slice(0, 16)}…`);
    }
    step('leaf_hash', `leaf ${entry.index} hashes to ${bytesToHex(lh)}`);

    const diffs = compareEntry(entry, parsed);
    if (diffs.length > 0) throw new VerifyError(FAIL_ENTRY, diffs.join('; '));
    step('entry', 'every fact shown is in the leaf');

    if (!proof || !Array.isArray(proof.hashes)) throw new VerifyError(FAIL_PROOF, 'no inclusion proof');
    if (BigInt(proof.index) !== BigInt(entry.index)) {
      throw new VerifyError(FAIL_PROOF, `the proof is for index ${proof.index}, not ${entry.index}`);
    }
    if (BigInt(proof.tree_size) !== cp.size) {
      throw new VerifyError(FAIL_PROOF, `the proof is for tree size ${proof.tree_size}, the checkpoint's is ${cp.size}`);
    }
    if (BigInt(entry.index) >= cp.size) {
      throw new VerifyError(FAIL_NOT_INCLUDED, `entry ${entry.index} is not in the checkpoint of size ${cp.size} yet`);
    }
    let hashes;
    try {
      hashes = proof.hashes.map(base64ToBytes);
    } catch {
      throw new VerifyError(FAIL_PROOF, 'a proof hash is not base64');
    }
    const root = await rootFromInclusionProof(entry.index, cp.size, lh, hashes);
    if (!equalBytes(root, cp.root)) {
      throw new VerifyError(FAIL_ROOT,
        `the inclusion proof leads to root ${bytesToBase64(root)}, the signed checkpoint's root is ${bytesToBase64(cp.root)}`);
    }
    step('inclusion', `included at index ${entry.index} of ${cp.size} (${hashes.length} proof hashes)`);

    const { checked, erased } = await checkContent(entry, parsed);
    const parts = [];
    if (checked.length) parts.push(`${checked.length} checked (${checked.join(', ')})`);
    if (erased.length) parts.push(`${erased.length} erased (${erased.join(', ')}); commitment kept`);
    const hidden = parsed.commitments.length - checked.length - erased.length;
    if (hidden > 0) parts.push(`${hidden} not shown`);
    step('content', parts.length ? `content: ${parts.join('; ')}` : 'no content');
    return { ok: true, steps, failure: null, checkpoint: { size: cp.size, origin: cp.origin, root: bytesToBase64(cp.root) } };
  } catch (err) {
    const failure = err instanceof VerifyError
      ? { code: err.code, label: FAILURE_LABELS[err.code] || err.code, message: err.message }
      : { code: 'error', label: 'Verification error', message: String(err && err.message ? err.message : err) };
    return { ok: false, steps, failure };
  }
}
