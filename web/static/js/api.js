// The query API client. The bearer token lives in sessionStorage (this
// tab only, gone when it closes) and is sent only in the Authorization
// header, never in a URL.

const TOKEN_KEY = 'agentledger.token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  },
  set(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** signOut forgets the token and goes to the sign-in page. */
export function signOut() {
  session.clear();
  location.hash = '#/signin';
}

/** ApiError is an error answer of the API: its status and envelope. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};

/** setUnauthorizedHandler sets what happens when the token is refused. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

async function request(method, path, { body, text = false, signal } = {}) {
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', 'the server could not be reached');
  }
  if (!resp.ok) {
    let code = 'http_' + resp.status;
    let message = `${resp.status} ${resp.statusText}`;
    try {
      const env = await resp.json();
      if (env && env.error) ({ code, message } = env.error);
    } catch { /* not an envelope */ }
    const err = new ApiError(resp.status, code, message);
    if (resp.status === 401) onUnauthorized(err);
    throw err;
  }
  return text ? resp.text() : resp.json();
}

const enc = encodeURIComponent;

/** qs renders query parameters, skipping empty values. */
function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

// encodeCursor builds the cursor that continues /v1/checkpoints at tree
// size n: version byte 1 and n as a big-endian uint64, base64url without
// padding (query.encodeCursor).
function encodeCursor(n) {
  const b = new Uint8Array(9);
  b[0] = 1;
  new DataView(b.buffer).setBigUint64(1, BigInt(n));
  let bin = '';
  for (const x of b) bin += String.fromCharCode(x);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export const api = {
  log: (o) => request('GET', '/v1/log', o),
  checkpointNote: (o) => request('GET', '/v1/checkpoint', { ...o, text: true }),
  checkpoints: (cursor, limit, o) => request('GET', `/v1/checkpoints${qs({ cursor, limit })}`, o),
  entry: (index, o) => request('GET', `/v1/entries/${enc(index)}`, o),
  // leaf reads an entry's leaf bytes without its content, so that a
  // verification appends no access entry.
  leaf: (index, o) => request('GET', `/v1/entries/${enc(index)}?content=false`, o),
  inclusion: (index, treeSize, o) => request('GET', `/v1/proofs/inclusion${qs({ index, tree_size: treeSize })}`, o),
  credential: (id, cursor, o) => request('GET', `/v1/credentials/${enc(id)}${qs({ cursor })}`, o),
  blastRadius: (id, o) => request('GET', `/v1/credentials/${enc(id)}/blast-radius`, o),
  // federated asks every shard the server federates for its proved view.
  federated: (id, o) => request('GET', `/v1/federation/credentials/${enc(id)}`, o),
  // The raw token travels only in the body of a POST.
  lookup: (token, o) => request('POST', '/v1/credentials/lookup', { ...o, body: { token } }),
  run: (traceId, cursor, o) => request('GET', `/v1/runs/${enc(traceId)}${qs({ cursor })}`, o),
  // The probes ask for no content: finding out what an input names must
  // not count as reading content.
  probeCredential: (id, o) => request('GET', `/v1/credentials/${enc(id)}?content=false&limit=1`, o),
  probeRun: (traceId, o) => request('GET', `/v1/runs/${enc(traceId)}?content=false&limit=1`, o),
  agentRuns: (id, cursor, o) => request('GET', `/v1/agents/${enc(id)}/runs${qs({ cursor })}`, o),

  /**
   * recentCheckpoints returns up to n of the latest checkpoints, newest
   * first. /v1/checkpoints lists in ascending size from a cursor, so it
   * looks back from the latest size through growing windows.
   */
  async recentCheckpoints(n = 5, o) {
    const first = await api.checkpoints(undefined, 1, o);
    const latest = first.latest;
    if (!latest) return { latest: null, checkpoints: [] };
    let found = [];
    for (let back = 16n; ; back *= 16n) {
      const from = BigInt(latest.size) > back ? BigInt(latest.size) - back : 0n;
      let page = await api.checkpoints(from === 0n ? undefined : encodeCursor(from), 1000, o);
      found = page.checkpoints;
      // A window wider than a page: follow it to the end (bounded).
      for (let i = 0; page.next_cursor && i < 20; i++) {
        page = await api.checkpoints(page.next_cursor, 1000, o);
        found = found.concat(page.checkpoints).slice(-n);
      }
      if (found.length >= n || from === 0n) break;
    }
    return { latest, checkpoints: found.slice(-n).reverse() };
  },
};
