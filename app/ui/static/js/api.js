// The dashboard's only way to the coordinator: the public REST API, with the user's token.
// The token is kept in localStorage, as the CLI keeps it in its credentials file: it survives a reload and
// is sent as a bearer token; a 401 on any call forgets it and sends the page back to the login form.

const SESSION_KEY = "mito.session";
export const BASE = window.location.pathname.replace(/\/ui(\/.*)?$/, "");

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

export function saveSession(username, token) {
  localStorage.setItem(SESSION_KEY, JSON.stringify({ username, token }));
}

export function clearSession() {
  localStorage.removeItem(SESSION_KEY);
}

let unauthorized = () => {};

export function onUnauthorized(handler) {
  unauthorized = handler;
}

export async function call(method, path, { body, query, auth = true } = {}) {
  let url = BASE + path;
  if (query) url += `?${new URLSearchParams(query)}`;
  const headers = { Accept: "application/json" };
  const current = session();
  if (auth && current) headers.Authorization = `Bearer ${current.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `The coordinator cannot be reached (${err.message}).`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!resp.ok) {
    const message = (data && (data.msg || data.error)) || `${resp.status} ${resp.statusText}`;
    if (resp.status === 401 && auth) {
      clearSession();
      unauthorized(message);
    }
    throw new ApiError(resp.status, message, data);
  }
  return data;
}

export const get = (path, opts) => call("GET", path, opts);
export const post = (path, body, opts = {}) => call("POST", path, { ...opts, body });
export const put = (path, body, opts = {}) => call("PUT", path, { ...opts, body });
export const del = (path, opts) => call("DELETE", path, opts);

export function seg(value) {
  return encodeURIComponent(value);
}

export function keyPath(key) {
  return String(key).split("/").map(encodeURIComponent).join("/");
}

// The 16 MD5 bytes of a password, as the API wants them (md5 comes from the pinned vendor script).
export function md5Bytes(password) {
  const raw = window.md5(password, null, true);
  return Array.from(raw, (c) => c.charCodeAt(0));
}

export async function login(username, password, retain) {
  const body = { username, md5_password: md5Bytes(password), retain };
  const { token } = await call("POST", "/login", { body, auth: false });
  saveSession(username, token);
}

// A presigned URL may be relative to the coordinator (local store) or absolute (S3).
export function absolute(url) {
  return url.startsWith("/") ? BASE + url : url;
}

export async function putBytes(url, file) {
  let resp;
  try {
    resp = await fetch(absolute(url), {
      method: "PUT", body: file, headers: { "Content-Type": "application/octet-stream" },
    });
  } catch (err) {
    throw new ApiError(0, `Upload failed: ${err.message}`);
  }
  if (!resp.ok) throw new ApiError(resp.status, `Upload failed: ${(await resp.text()).slice(0, 200)}`);
}
