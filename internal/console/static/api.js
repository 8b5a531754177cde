// REST and WebSocket access with the session's token.

const TOKEN_KEY = 'sipphone-token';

export class AuthError extends Error {}

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
}

// request sends a REST request and returns the decoded JSON answer. A 401
// throws AuthError; other failures throw Error with the problem's detail.
export async function request(method, path, body, contentType) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers['Content-Type'] = contentType || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401) throw new AuthError((data && data.detail) || 'a valid API token is required');
  if (!res.ok) {
    const err = new Error((data && (data.detail || data.title)) || `${method} ${path}: HTTP ${res.status}`);
    err.status = res.status;
    err.problem = data;
    throw err;
  }
  return data;
}

// wsURL returns the WebSocket URL of path on this page's own origin, with
// the token as ?token= (browsers cannot set headers on WebSockets).
export function wsURL(path, params = {}) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const t = token();
  if (t) u.searchParams.set('token', t);
  return u.toString();
}
